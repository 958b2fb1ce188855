"""``dialoggen push``: a run's accepted dialogues, card and recipe to a Hub dataset repo.

Private by default. The token comes from ``HF_TOKEN`` or the standard Hugging Face login
and is never printed, logged or written. A PII gate checks every row first. The first run
pushed to a repo is its ``default`` config (``load_dataset(repo)`` loads it); every later
run goes to its own config, named after the run. A run already in the repo, or an existing
config, is never replaced unless asked (``replace``). ``dialoggen/<run>.json`` in the repo
records which config holds which run.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from dialoggen.card import PLOT, write_card
from dialoggen.errors import PushError
from dialoggen.export import build_rows, to_dataset
from dialoggen.filters import find_pii
from dialoggen.store import RECIPE


def pii_findings(splits: dict[str, list]) -> list[str]:
    """One line per row that holds PII: its id, the turn, the kinds (never the values)."""
    lines = []
    for rows in splits.values():
        for row in rows:
            for k, message in enumerate(row["messages"]):
                kinds = sorted({kind for kind, _ in find_pii(message["content"])})
                if kinds:
                    lines.append(f"{row['id']} message {k}: {', '.join(kinds)}")
    return lines


def resolve_token() -> str:
    from huggingface_hub import get_token

    token = os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise PushError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    return token


def _download(api: Any, repo: str, path: str) -> str:
    from huggingface_hub import hf_hub_download

    local = hf_hub_download(repo, path, repo_type="dataset", token=api.token)
    return Path(local).read_text(encoding="utf-8")


def _hub_configs(api: Any, repo: str) -> list[dict[str, Any]]:
    """The ``configs`` list of the repo's README (datasets keeps it up to date)."""
    if "README.md" not in api.list_repo_files(repo, repo_type="dataset"):
        return []
    text = _download(api, repo, "README.md")
    header = text.split("---")[1] if text.startswith("---") else ""
    return list((yaml.safe_load(header) or {}).get("configs", []))


def choose_config(api: Any, repo: str, run_name: str, config: str | None, replace: bool) -> str:
    """``default`` for a repo's first run, the run's name after that; refuse to replace."""
    marker = f"dialoggen/{run_name}.json"
    if marker in api.list_repo_files(repo, repo_type="dataset") and not replace:
        held = json.loads(_download(api, repo, marker))["config"]
        raise PushError(
            f"{repo} already holds run {run_name!r} as config {held!r}; pass "
            f"--replace --config {held} to overwrite it"
        )
    existing = {c.get("config_name") for c in _hub_configs(api, repo)}
    chosen = config or ("default" if not existing else run_name)
    if chosen in existing and not replace:
        raise PushError(
            f"{repo} already has config {chosen!r}; pass --config NEW_NAME, "
            "or --replace to overwrite it"
        )
    return chosen


def push(
    run: Path,
    repo: str,
    private: bool = True,
    config: str | None = None,
    allow_pii: bool = False,
    replace: bool = False,
) -> str:
    """Push; returns the dataset URL. Errors never contain the token."""
    recipe, manifest, splits = build_rows(run)
    findings = pii_findings(splits)
    if findings and not allow_pii:
        raise PushError(
            f"push refused: {len(findings)} row messages contain PII ("
            + "; ".join(findings)
            + "); remove them or pass --allow-pii"
        )
    token = resolve_token()
    try:
        return _upload(run, repo, private, config, replace, token, recipe, manifest, splits)
    except PushError:
        raise
    except Exception as err:
        message = str(err).replace(token, "***").splitlines()[0] if str(err) else ""
        raise PushError(f"push to {repo} failed: {type(err).__name__}: {message}") from None


def _upload(
    run: Path,
    repo: str,
    private: bool,
    config: str | None,
    replace: bool,
    token: str,
    recipe: Any,
    manifest: dict,
    splits: dict[str, list],
) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
    run_name = manifest.get("run") or recipe.name
    config = choose_config(api, repo, run_name, config, replace)
    to_dataset(splits).push_to_hub(
        repo,
        config_name=config,
        private=private,
        token=token,
        commit_message=f"dialoggen: add config {config}",
    )
    with tempfile.TemporaryDirectory() as tmp:
        card = write_card(
            Path(tmp), recipe, manifest, run, splits, "parquet", configs=_hub_configs(api, repo)
        )
        marker = {
            "run": run_name,
            "config": config,
            "recipe_hash": manifest.get("recipe_hash"),
            "rows": {k: len(v) for k, v in splits.items()},
        }
        operations = [
            CommitOperationAdd("README.md", str(card)),
            CommitOperationAdd(f"{config}/recipe.yaml", str(run / RECIPE)),
            CommitOperationAdd(f"dialoggen/{run_name}.json", json.dumps(marker).encode()),
        ]
        if (Path(tmp) / PLOT).exists():
            operations.append(CommitOperationAdd(PLOT, str(Path(tmp) / PLOT)))
        api.create_commit(
            repo,
            operations,
            repo_type="dataset",
            commit_message=f"dialoggen: card and recipe for {config}",
        )
    return str(url)
