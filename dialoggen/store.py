"""The run folder: resolved recipe, manifest, append-only records, resume.

    runs/<name>/
      recipe.yaml      the resolved recipe (every default filled in)
      manifest.json    identity, models, hashes and counts; rewritten atomically
      records.jsonl    one JSON line per finished scenario, appended and fsynced

A record, once written, is never rewritten. A line cut short by a crash (``kill -9``
mid-write) is not a record: resume trims it and regenerates that scenario.
"""

import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from dialoggen.errors import RunFolderError

RECORDS = "records.jsonl"
MANIFEST = "manifest.json"
RECIPE = "recipe.yaml"


class RunStore:
    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest
        self.records_path = folder / RECORDS

    @classmethod
    def open(cls, folder: Path, identity: str, recipe: dict[str, Any]) -> "RunStore":
        """Create the run folder, or reopen it to resume the same recipe."""
        manifest_path = folder / MANIFEST
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("identity") != identity:
                raise RunFolderError(
                    f"{folder} holds a run of a different recipe (identity "
                    f"{manifest.get('identity')} vs {identity}); use another --out, or the "
                    "recipe and seed that made it"
                )
            store = cls(folder, manifest)
        elif folder.exists() and any(folder.iterdir()):
            raise RunFolderError(f"{folder} exists and is not a dialoggen run; pick another --out")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            store = cls(folder, {"identity": identity, "created": _now()})
            store.write_manifest()  # first, so a run killed at once still resumes
        (folder / RECIPE).write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True))
        store.records_path.touch()
        return store

    def records(self) -> list[dict[str, Any]]:
        """Every complete record; a torn last line is trimmed off the file first."""
        records, size = read_records(self.records_path)
        if size != self.records_path.stat().st_size:
            with self.records_path.open("r+b") as f:
                f.truncate(size)
        return records

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        with self.records_path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def write_manifest(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the manifest and write it atomically."""
        self.manifest.update(fields, updated=_now())
        tmp = self.folder / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(self.manifest, indent=2, sort_keys=True))
        os.replace(tmp, self.folder / MANIFEST)
        return self.manifest


def read_records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The complete records of a records file and the bytes they fill; a torn last line
    (a crash mid-write) is not a record. Read-only."""
    data = path.read_bytes() if path.exists() else b""
    complete = data[: data.rfind(b"\n") + 1]
    records = []
    for number, line in enumerate(complete.splitlines(), 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise RunFolderError(
                f"{path}: line {number} is not JSON; move the file aside to start over"
            ) from None
    return records, len(complete)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
