"""`dialoggen generate` for real: the embedded model, a real server, a real SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from dialoggen.run import generate
from dialoggen.sampling import load_inputs
from tests.conftest import DATA

pytestmark = pytest.mark.model
ROOT = DATA.parent.parent
OK = DATA / "recipes" / "ok.yaml"
PERMISSIVE = {"max_ngram_repeats": 50, "role_leakage": False, "near_duplicate": None}
GENERATION_ONLY = {  # short turns, no critic, lenient filters: tests of generation itself
    "critic": {"enabled": False},
    "sampling": {"max_tokens": 24, "temperature": 0.8},
    "filters": PERMISSIVE,
}


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]


def test_agents_mode_on_the_embedded_model(vllm_engine, tmp_path):
    inputs = load_inputs(
        OK,
        count=6,
        output=str(tmp_path / "run"),
        **GENERATION_ONLY,
    )
    summary = generate(inputs, engine=vllm_engine)
    rows = records(tmp_path / "run")
    assert summary.funnel["drawn"] == 6 == len(rows)
    assert summary.accepted >= 3  # the rest may fail a filter (length, PII look-alikes)
    for row in rows:
        assert row["status"] in ("accepted", "rejected"), row.get("failure")
        roles = [t["role"] for t in row["turns"]]
        assert len(roles) >= 4 and roles == ["user", "assistant"] * (len(roles) // 2) + (
            ["user"] if len(roles) % 2 else []
        )
        assert row["persona"]["name"] and row["topic"]["name"]
        assert row["provenance"]["model"] == "SmolLM2-135M-Instruct (embedded)"
        assert row["usage"]["completion_tokens"] > 0


def test_oneshot_mode_on_the_embedded_model_never_crashes(vllm_engine, tmp_path):
    inputs = load_inputs(
        OK,
        count=4,
        mode="oneshot",
        output=str(tmp_path / "run"),
        sampling={"max_tokens": 24, "temperature": 0.8},
    )
    summary = generate(inputs, engine=vllm_engine)
    rows = records(tmp_path / "run")
    assert len(rows) == 4 == summary.funnel["drawn"]
    for row in rows:
        if row["status"] == "failed":
            assert row["reason"] in ("malformed_output", "empty_turn") and row["failure"]["raw"]
        else:
            assert row["attempts"] and row["attempts"][0]["turns"]
            assert row["status"] == "accepted" or row["reason"]


def _server_recipe(tmp_path: Path, base_url: str) -> Path:
    recipe = yaml.safe_load(OK.read_text())
    recipe.update(
        name="killed",
        count=10,
        max_concurrency=2,
        engine={"name": "openai", "base_url": base_url},
        sampling={"max_tokens": 24, "temperature": 0.8},
        turns={"min": 4, "max": 4},
        personas={"dir": str(ROOT / "personas")},
        topics=[str(ROOT / "personas/_topics_support.yaml")],
        styles={"file": str(ROOT / "personas/_styles.yaml")},
        prompts=str(ROOT / "prompts"),
    )
    path = tmp_path / "killed.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _start(recipe: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dialoggen", "generate", str(recipe), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(vllm_server, tmp_path):
    recipe, out = _server_recipe(tmp_path, vllm_server), tmp_path / "run"
    proc = _start(recipe, out)
    path = out / "records.jsonl"
    deadline = time.monotonic() + 240
    while not (path.exists() and path.read_bytes().count(b"\n") >= 3):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no records appeared"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = path.read_bytes()
    complete = before[: before.rfind(b"\n") + 1]
    assert 3 <= complete.count(b"\n") < 10, "the kill must land part-way"

    resumed = _start(recipe, out)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-2000:]
    after = path.read_bytes()
    assert after.startswith(complete)  # records written before the kill are byte-identical
    ids = Counter(row["id"] for row in records(out))
    assert sorted(ids) == [f"killed-{i:05d}" for i in range(10)]
    assert set(ids.values()) == {1}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["funnel"]["drawn"] == 10


def test_export_of_a_real_run_reads_back_and_renders(vllm_engine, embedded_model, tmp_path):
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    from dialoggen.export import build_rows, export

    inputs = load_inputs(
        OK,
        count=6,
        output=str(tmp_path / "run"),
        export={"test_size": 0.3},
        **GENERATION_ONLY,
    )
    generate(inputs, engine=vllm_engine)
    _, _, splits = build_rows(tmp_path / "run")
    saved = load_from_disk(str(export(tmp_path / "run", "hf", tmp_path / "out") / "dataset"))
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model))
    for name, rows in splits.items():
        assert saved[name].to_list() == rows
        for row in rows:
            assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
                row["messages"], tokenize=False
            )
