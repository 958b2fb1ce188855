"""Export: rows read back identical in every format, shapes trainers accept, the card."""

import json
import zlib

import jsonschema
import pytest
import yaml

from dialoggen.engines.scripted import ScriptedEngine
from dialoggen.export import build_rows, export
from dialoggen.run import generate
from dialoggen.sampling import load_inputs
from tests.conftest import DATA
from tests.test_cli import dialoggen
from tests.test_critique import Script, critique

OK = DATA / "recipes" / "ok.yaml"
SHAREGPT = {
    "type": "object",
    "required": ["id", "conversations"],
    "properties": {
        "conversations": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "required": ["from", "value"],
                "additionalProperties": False,
                "properties": {
                    "from": {"enum": ["system", "human", "gpt"]},
                    "value": {"type": "string", "minLength": 1},
                },
            },
        }
    },
}
OPENAI = {
    "type": "object",
    "required": ["messages"],
    "additionalProperties": False,
    "properties": {
        "messages": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "additionalProperties": False,
                "properties": {
                    "role": {"enum": ["system", "user", "assistant"]},
                    "content": {"type": "string", "minLength": 1},
                },
            },
        }
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run with accepted and rejected records (scripted model, real files)."""
    folder = tmp_path_factory.mktemp("export") / "run"
    inputs = load_inputs(
        OK,
        count=16,
        output=str(folder),
        turns={"min": 4, "max": 4},
        critic={"max_revisions": 0},
        export={"test_size": 0.5, "system_prompt": "You are helpful."},
    )
    with ScriptedEngine(responder=ByPersona()) as engine:
        generate(inputs, engine=engine)
    return folder


class ByPersona(Script):
    """Accepts or rejects by the persona's name, whatever order the calls come in."""

    def __init__(self) -> None:
        super().__init__([])

    def __call__(self, messages) -> str:
        if messages[0]["content"].startswith("You review synthetic chat"):
            person = messages[1]["content"].splitlines()[0]
            return critique(4 if zlib.crc32(person.encode()) % 2 else 1, turn=None)
        return super().__call__(messages)


def alternates(messages):
    roles = [m["role"] for m in messages if m["role"] != "system"]
    return roles == ["user", "assistant"] * (len(roles) // 2) + ["user"] * (len(roles) % 2)


def test_hf_and_parquet_read_back_identical_rows(run, tmp_path):
    from datasets import load_dataset, load_from_disk

    _, _, splits = build_rows(run)
    assert set(splits) == {"train", "test"}
    export(run, "hf", tmp_path / "hf")
    saved = load_from_disk(str(tmp_path / "hf" / "dataset"))
    export(run, "parquet", tmp_path / "pq")
    files = {s: str(tmp_path / "pq" / "data" / f"{s}-00000-of-00001.parquet") for s in splits}
    parquet = load_dataset("parquet", data_files=files)
    for name, rows in splits.items():
        assert saved[name].to_list() == rows
        assert parquet[name].to_list() == rows
        for row in rows:
            assert row["messages"][0] == {"role": "system", "content": "You are helpful."}
            assert alternates(row["messages"]) and row["status"] == "accepted"
            assert row["source"] == "dialoggen-synthetic" and row["prompt_hash"]


def test_every_row_renders_through_the_embedded_models_chat_template(run, embedded_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model))
    _, _, splits = build_rows(run)
    for row in [r for rows in splits.values() for r in rows]:
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        assert row["messages"][-1]["content"] in text


@pytest.mark.parametrize(("fmt", "schema"), [("sharegpt", SHAREGPT), ("openai", OPENAI)])
def test_sharegpt_and_openai_jsonl_have_the_formats_shapes(run, tmp_path, fmt, schema):
    export(run, fmt, tmp_path)
    for split in ("train", "test"):
        for line in (tmp_path / f"{split}.jsonl").read_text().splitlines():
            row = json.loads(line)
            jsonschema.validate(row, schema)
            turns = row.get("conversations") or row["messages"]
            roles = [t.get("from") or t.get("role") for t in turns][1:]
            first, second = ("human", "gpt") if fmt == "sharegpt" else ("user", "assistant")
            assert roles[::2] == [first] * len(roles[::2])
            assert roles[1::2] == [second] * len(roles[1::2])


def test_rejected_rows_export_apart_and_never_mixed(run, tmp_path):
    export(run, "jsonl", tmp_path / "bad", rejected=True)
    export(run, "jsonl", tmp_path / "good")
    bad = [
        json.loads(x)
        for s in ("train", "test")
        if (tmp_path / "bad" / f"{s}.jsonl").exists()
        for x in (tmp_path / "bad" / f"{s}.jsonl").read_text().splitlines()
    ]
    good = [
        json.loads(x)
        for s in ("train", "test")
        for x in (tmp_path / "good" / f"{s}.jsonl").read_text().splitlines()
    ]
    assert bad and {r["status"] for r in bad} == {"rejected"}
    assert {r["reason"] for r in bad} == {"critic_rejected"}
    assert not {r["id"] for r in bad} & {r["id"] for r in good}


def test_the_card_has_hub_metadata_plot_and_recipe(run, tmp_path):
    export(run, "parquet", tmp_path)
    text = (tmp_path / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert "synthetic" in meta["tags"] and meta["license"] == "cc-by-4.0"
    assert meta["configs"][0]["config_name"] == "default"
    assert {f["split"] for f in meta["configs"][0]["data_files"]} == {"train", "test"}
    assert meta["size_categories"] == ["n<1K"]
    for section in (
        "## How it was made",
        "## Acceptance funnel",
        "critic_rejected",
        "## Coverage",
        "## Example",
        "## How to load",
        "## Known limits",
    ):
        assert section in text
    assert (tmp_path / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert yaml.safe_load((tmp_path / "recipe.yaml").read_text())["name"] == "ok"


def test_export_command_and_its_errors(run, tmp_path):
    result = dialoggen("export", str(run), "--format", "openai", "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "train.jsonl").exists()
    bad = dialoggen("export", str(run), "--format", "csv")
    assert bad.returncode == 2 and "unknown format 'csv'" in bad.stderr
    missing = dialoggen("export", str(tmp_path))
    assert missing.returncode == 6 and "not a dialoggen run folder" in missing.stderr


def test_pii_gate_blocks_a_push_and_names_the_rows(run, tmp_path):
    import shutil

    planted = tmp_path / "run"
    shutil.copytree(run, planted)
    lines = (planted / "records.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    target = next(r for r in rows if r["status"] == "accepted")
    target["turns"][0]["content"] = "mail me at jo.bloggs@example.com or call 415-555-0132"
    (planted / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = dialoggen("push", str(planted), "--repo", "org/x", env={"HF_TOKEN": "hf_x"})
    assert result.returncode == 7
    assert f"{target['id']} message 1: email, phone" in result.stderr
    assert "jo.bloggs@example.com" not in result.stderr + result.stdout
