"""Rows out of a run: a ``datasets.DatasetDict`` and the formats trainers take.

``messages`` is the shape TRL's SFTTrainer, Axolotl's ``chat_template`` type and OpenAI
fine-tuning all read: an optional leading ``system`` message, then strictly alternating
``user`` / ``assistant``. Persona-to-persona dialogues map the first speaker to ``user`` and
keep both real names in ``speakers``.
"""

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from dialoggen.errors import ConfigError, RunFolderError
from dialoggen.recipe import Recipe
from dialoggen.report import read_run
from dialoggen.store import RECIPE

FORMATS = ("hf", "parquet", "jsonl", "sharegpt", "openai")
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def load_run(folder: Path) -> tuple[Recipe, dict[str, Any], list[dict[str, Any]]]:
    """The run's resolved recipe, manifest and records."""
    manifest, records = read_run(folder)
    try:
        recipe = Recipe.model_validate(yaml.safe_load((folder / RECIPE).read_text()))
    except Exception as err:
        raise RunFolderError(f"{folder / RECIPE}: cannot read the run's recipe ({err})") from None
    return recipe, manifest, records


def to_row(record: dict[str, Any], recipe: Recipe, manifest: dict[str, Any]) -> dict[str, Any]:
    system = recipe.export.system_prompt
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": t["role"], "content": t["content"]} for t in record["turns"]
    ]
    scores = record.get("scores") or {}
    scenario, provenance = record["scenario"], record["provenance"]
    return {
        "id": record["id"],
        "messages": messages,
        "speakers": list(dict.fromkeys(t["speaker"] for t in record["turns"])),
        "persona": scenario["persona"],
        "persona_group": scenario["persona_group"],
        "partner": scenario["partner"] or "",
        "topic": scenario["topic"],
        "topic_category": scenario["topic_category"],
        "edge_case": bool(scenario["edge_case"]),
        "style": scenario["style"],
        "scores": json.dumps(scores, sort_keys=True),
        "mean_score": round(sum(scores.values()) / len(scores), 3) if scores else None,
        "revisions": int(record.get("revisions", 0)),
        "status": record["status"],
        "reason": record.get("reason") or "",
        "generator_model": provenance["model"],
        "critic_model": provenance.get("critic_model") or "",
        "seed": provenance["seed"],
        "prompt_hash": provenance["prompt_hash"],
        "recipe_hash": provenance["recipe_hash"],
        "run": manifest.get("run", ""),
        "source": "dialoggen-synthetic",
    }


def split_of(row_id: str, test_size: float) -> str:
    """Deterministic split: a hash of the id, independent of order and run length."""
    bucket = int(hashlib.sha256(row_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if bucket < test_size else "train"


def build_rows(folder: Path, rejected: bool = False) -> tuple[Recipe, dict, dict[str, list]]:
    """Rows per split: accepted records, or (``rejected``) the rejected ones, never mixed."""
    recipe, manifest, records = load_run(folder)
    wanted = "rejected" if rejected else "accepted"
    chosen = sorted((r for r in records if r["status"] == wanted), key=lambda r: r["index"])
    if not chosen:
        raise ConfigError(f"{folder}: no {wanted} records to export; run `dialoggen generate`")
    splits: dict[str, list] = {"train": [], "test": []}
    for record in chosen:
        splits[split_of(record["id"], recipe.export.test_size)].append(
            to_row(record, recipe, manifest)
        )
    return recipe, manifest, {k: v for k, v in splits.items() if v}


def to_dataset(splits: dict[str, list]) -> Any:
    from datasets import Dataset, DatasetDict

    return DatasetDict({name: Dataset.from_list(rows) for name, rows in splits.items()})


def sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "conversations": [
            {"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in row["messages"]
        ],
    }


def openai_chat(row: dict[str, Any]) -> dict[str, Any]:
    return {"messages": row["messages"]}


CONVERTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "jsonl": dict,
    "sharegpt": sharegpt,
    "openai": openai_chat,
}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def export(folder: Path, fmt: str, out: Path, rejected: bool = False) -> Path:
    """Write the run's rows in ``fmt`` to ``out`` with the dataset card and the recipe."""
    from dialoggen.card import write_card

    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    recipe, manifest, splits = build_rows(folder, rejected)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "hf":
        to_dataset(splits).save_to_disk(str(out / "dataset"))
    elif fmt == "parquet":
        (out / "data").mkdir(exist_ok=True)
        for name, table in to_dataset(splits).items():
            table.to_parquet(str(out / "data" / f"{name}-00000-of-00001.parquet"))
    else:
        convert = CONVERTERS[fmt]
        for name, rows in splits.items():
            write_jsonl(out / f"{name}.jsonl", [convert(r) for r in rows])
    shutil.copyfile(folder / RECIPE, out / "recipe.yaml")
    write_card(out, recipe, manifest, folder, splits, fmt)
    return out
