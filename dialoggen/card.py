"""The dataset card: Hub YAML metadata plus how the data was made, the funnel, score
distributions (a PNG), coverage, an example, how to load it, and known limits."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from dialoggen.recipe import CRITERIA, Recipe
from dialoggen.report import funnel, read_run

PLOT = "scores.png"


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def metadata(
    recipe: Recipe, splits: dict[str, list], fmt: str, configs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    rows = sum(len(v) for v in splits.values())
    pattern = {"parquet": "data/{s}-*.parquet"}.get(fmt, "{s}.jsonl")
    return {
        "license": recipe.export.license,
        "language": list(recipe.export.language),
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "dialoggen", "conversational", "sft"],
        "size_categories": [size_category(rows)],
        "pretty_name": f"dialoggen {recipe.name}",
        "configs": configs
        or [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": pattern.format(s=s)} for s in splits],
            }
        ],
    }


def plot_scores(records: list[dict[str, Any]], path: Path) -> bool:
    """Histogram of each criterion's scores over accepted and rejected dialogues."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r["scores"] for r in records if r.get("scores")]
    if not scored:
        return False
    fig, axes = plt.subplots(1, len(CRITERIA), figsize=(3 * len(CRITERIA), 2.6), sharey=True)
    for ax, criterion in zip(axes, CRITERIA, strict=True):
        counts = Counter(s.get(criterion) for s in scored)
        ax.bar(range(1, 6), [counts.get(v, 0) for v in range(1, 6)], color="#4c72b0")
        ax.set_title(criterion.replace("_", " "), fontsize=9)
        ax.set_xticks(range(1, 6))
    axes[0].set_ylabel("dialogues")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def _table(counter: Counter, header: str) -> str:
    lines = [f"| {header} | dialogues |", "|---|---|"]
    lines += [f"| {key} | {n} |" for key, n in counter.most_common()]
    return "\n".join(lines)


def _how_made(recipe: Recipe, manifest: dict) -> str:
    critic = recipe.critic
    return "\n".join(
        [
            f"- generator model: {manifest.get('model')}",
            f"- mode: {recipe.mode}, conversation: {recipe.conversation}, "
            f"turns {recipe.turns.min}-{recipe.turns.max}",
            f"- seed {recipe.seed}; prompt hash {manifest.get('prompt_hash')}; "
            f"recipe hash {manifest.get('recipe_hash')}",
            f"- critic: threshold {critic.threshold}, minimums {critic.min_scores or 'none'}, "
            f"up to {critic.max_revisions} revisions",
            "- the resolved recipe is `recipe.yaml` beside the data; rerun it with "
            "`dialoggen generate recipe.yaml`",
        ]
    )


def body(
    recipe: Recipe, manifest: dict, records: list[dict], splits: dict[str, list], plotted: bool
) -> str:
    rows = [r for v in splits.values() for r in v]
    f = funnel(records)
    example = json.dumps(rows[0]["messages"], indent=2, ensure_ascii=False) if rows else "[]"
    reasons = Counter(r["reason"] for r in records if r["status"] != "accepted")
    sizes = ", ".join(f"{k}: {len(v)}" for k, v in splits.items())
    return "\n\n".join(
        filter(
            None,
            [
                f"# dialoggen {recipe.name}",
                f"Synthetic multi-turn chat conversations made with dialoggen. "
                f"{recipe.description} Splits: {sizes}. No real people or customer data: "
                "every persona is fictional.",
                "## How it was made",
                _how_made(recipe, manifest),
                "## Acceptance funnel",
                f"drawn {f['drawn']} -> generated {f['generated']} -> accepted {f['accepted']} "
                f"({f['accepted_after_revision']} after revision); rejected {f['rejected']}.",
                _table(reasons, "rejection or failure reason") if reasons else "",
                "## Scores" if plotted else "",
                f"![critic scores per criterion]({PLOT})" if plotted else "",
                "## Coverage",
                _table(Counter(r["persona_group"] for r in rows), "persona group"),
                _table(Counter(r["topic_category"] for r in rows), "topic category"),
                "## Example",
                f"```json\n{example}\n```",
                "## How to load",
                '```python\nfrom datasets import load_dataset\nds = load_dataset("REPO")\n'
                'ds["train"][0]["messages"]\n```',
                "## Known limits",
                "Written by a language model and judged by one: dialogues can be bland, repetitive "
                "or wrong, and scores are the critic's opinion. Check before training. Edge cases "
                "follow the recipe's share, not the real world's frequency.",
            ],
        )
    )


def write_card(
    out: Path,
    recipe: Recipe,
    manifest: dict,
    run: Path,
    splits: dict[str, list],
    fmt: str,
    configs: list[dict[str, Any]] | None = None,
) -> Path:
    _, records = read_run(run)
    plotted = plot_scores(records, out / PLOT)
    header = yaml.safe_dump(metadata(recipe, splits, fmt, configs), sort_keys=False)
    path = out / "README.md"
    path.write_text(f"---\n{header}---\n\n{body(recipe, manifest, records, splits, plotted)}\n")
    return path
