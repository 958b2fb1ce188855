"""What a run made, for people: example dialogues and the counts behind them.

>>> record = {"id": "d-1", "status": "generated", "scenario": {"persona": "p", "topic": "t",
...           "style": "s", "topic_category": "c", "edge_case": False},
...           "turns": [{"role": "user", "speaker": "Ana", "content": "hi"}]}
>>> print(format_dialogue(record))
d-1 · persona p · c / t · style s
  Ana: hi
"""

import json
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from dialoggen.errors import RunFolderError
from dialoggen.store import MANIFEST, RECORDS


def read_run(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(manifest, complete records) of a run folder, read-only."""
    if not (folder / MANIFEST).is_file():
        raise RunFolderError(f"{folder} is not a dialoggen run folder (no {MANIFEST})")
    manifest = json.loads((folder / MANIFEST).read_text())
    data = (folder / RECORDS).read_bytes() if (folder / RECORDS).exists() else b""
    complete = data[: data.rfind(b"\n") + 1]
    return manifest, [json.loads(line) for line in complete.splitlines()]


def format_dialogue(record: dict[str, Any], width: int = 100) -> str:
    s = record["scenario"]
    edge = " (edge case)" if s.get("edge_case") else ""
    lines = [
        f"{record['id']} · persona {s['persona']} · {s['topic_category']} / "
        f"{s['topic']}{edge} · style {s['style']}"
    ]
    for turn in record["turns"]:
        body = textwrap.fill(
            " ".join(turn["content"].split()),
            width=width,
            initial_indent=f"  {turn['speaker']}: ",
            subsequent_indent="    ",
        )
        lines.append(body)
    return "\n".join(lines)


def run_stats(records: list[dict[str, Any]]) -> dict[str, Any]:
    generated = [r for r in records if r["status"] == "generated"]
    turns = [len(r["turns"]) for r in generated]
    return {
        "records": len(records),
        "generated": len(generated),
        "failed": Counter(r["reason"] for r in records if r["status"] == "failed"),
        "mean_turns": round(sum(turns) / len(turns), 2) if turns else 0,
        "strata": Counter(
            f"{r['scenario']['persona_group']}/{r['scenario']['topic_category']}" for r in generated
        ),
    }
