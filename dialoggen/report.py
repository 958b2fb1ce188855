"""What a run made, for people: example dialogues and the counts behind them.

>>> record = {"id": "d-1", "status": "accepted", "scenario": {"persona": "p", "topic": "t",
...           "style": "s", "topic_category": "c", "edge_case": False},
...           "turns": [{"role": "user", "speaker": "Ana", "content": "hi"}]}
>>> print(format_dialogue(record))
d-1 · accepted · persona p · c / t · style s
  Ana: hi
"""

import json
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from dialoggen.errors import RunFolderError
from dialoggen.store import MANIFEST, RECORDS, read_records


def read_run(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(manifest, complete records) of a run folder, read-only."""
    if not (folder / MANIFEST).is_file():
        raise RunFolderError(f"{folder} is not a dialoggen run folder (no {MANIFEST})")
    manifest = json.loads((folder / MANIFEST).read_text())
    return manifest, read_records(folder / RECORDS)[0]


def format_dialogue(record: dict[str, Any], width: int = 100) -> str:
    s = record["scenario"]
    edge = " (edge case)" if s.get("edge_case") else ""
    lines = [
        f"{record['id']} · {record['status']} · persona {s['persona']} · {s['topic_category']} / "
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


FILTER_REASONS = ("structure", "length", "repetition", "role_leakage", "pii", "near_duplicate")


def funnel(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Where every drawn scenario ended. The counts add up exactly:
    drawn = generation failures + accepted + rejected, and
    rejected = filtered + critic_rejected + critic_unparseable.

    >>> f = funnel([{"status": "accepted", "revisions": 1, "stratum": "a/b", "reason": None}])
    >>> (f["drawn"], f["accepted"], f["accepted_after_revision"])
    (1, 1, 1)
    """
    by_status = Counter(r["status"] for r in records)
    rejected = [r for r in records if r["status"] == "rejected"]
    accepted = [r for r in records if r["status"] == "accepted"]
    strata: dict[str, Counter] = {}
    for r in records:
        strata.setdefault(r.get("stratum") or "?", Counter())[r["status"]] += 1
    return {
        "drawn": len(records),
        "generation_failed": dict(Counter(r["reason"] for r in records if r["status"] == "failed")),
        "generated": len(records) - by_status["failed"],
        "filtered": dict(Counter(r["reason"] for r in rejected if r["reason"] in FILTER_REASONS)),
        "critic_rejected": sum(r["reason"] == "critic_rejected" for r in rejected),
        "critic_unparseable": sum(r["reason"] == "critic_unparseable" for r in rejected),
        "rejected": len(rejected),
        "accepted_first_try": sum(r.get("revisions", 0) == 0 for r in accepted),
        "accepted_after_revision": sum(r.get("revisions", 0) > 0 for r in accepted),
        "accepted": len(accepted),
        "per_stratum": {k: dict(sorted(v.items())) for k, v in sorted(strata.items())},
    }


def funnel_lines(counts: dict[str, Any]) -> list[str]:
    """The funnel as short lines for the terminal."""
    failed = sum(counts["generation_failed"].values())
    filtered = ", ".join(f"{k} {v}" for k, v in sorted(counts["filtered"].items())) or "none"
    return [
        f"drawn {counts['drawn']} -> generated {counts['generated']} (failed {failed}) -> "
        f"accepted {counts['accepted']} ({counts['accepted_after_revision']} after revision)",
        f"rejected {counts['rejected']}: filtered ({filtered}), critic rejected "
        f"{counts['critic_rejected']}, critic unparseable {counts['critic_unparseable']}",
    ]
