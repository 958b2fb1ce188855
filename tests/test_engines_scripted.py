"""The scripted engine and the helpers every engine shares."""

import asyncio

import pytest

from dialoggen.config import EngineConfig, SamplingConfig
from dialoggen.engines import create_engine
from dialoggen.engines.base import check_reply, check_schema, load_schema
from dialoggen.engines.scripted import ScriptedEngine
from dialoggen.errors import EngineError, SchemaError
from tests.conftest import DATA

SCHEMA = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}


def test_replies_come_in_order_and_calls_are_recorded():
    with ScriptedEngine(["one", lambda messages: messages[-1]["content"].upper()]) as engine:
        replies = engine.chat(
            [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]
        )
        assert [r.text for r in replies] == ["one", "B"]
        assert [c.messages[-1]["content"] for c in engine.calls] == ["a", "b"]


def test_schema_replies_are_validated_and_raw_text_kept():
    with ScriptedEngine(['{"score": 4}', '{"score": "high"}', "not json"]) as engine:
        good, wrong, garbage = engine.chat([[{"role": "user", "content": "x"}]] * 3, schema=SCHEMA)
    assert good.ok and good.parsed == {"score": 4}
    assert not wrong.ok and "'high' is not of type 'integer'" in wrong.invalid
    assert not garbage.ok and garbage.invalid.startswith("not JSON") and garbage.text == "not json"


def test_an_empty_queue_and_queued_errors_raise():
    engine = create_engine(EngineConfig(name="scripted"))
    assert isinstance(engine, ScriptedEngine)
    engine.enqueue(EngineError("boom"))
    with pytest.raises(EngineError, match="boom"):
        engine.chat([[{"role": "user", "content": "x"}]])
    with pytest.raises(EngineError, match="no reply queued"):
        engine.chat([[{"role": "user", "content": "x"}]])
    engine.close()


def test_achat_works_from_any_event_loop():
    with ScriptedEngine(["a", "b"]) as engine:

        async def two():
            return await asyncio.gather(
                engine.achat([{"role": "user", "content": "1"}], SamplingConfig()),
                engine.achat([{"role": "user", "content": "2"}]),
            )

        assert sorted(r.text for r in asyncio.run(two())) == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"score": 3}', ({"score": 3}, None)),
        ('```json\n{"score": 3}\n```', ({"score": 3}, None)),
        ("{}", (None, "schema: 'score' is a required property")),
        ('{"score": 3', (None, "not JSON: Expecting ',' delimiter at line 1 column 12")),
    ],
)
def test_check_reply(text, expected):
    assert check_reply(text, SCHEMA) == expected


def test_invalid_schemas_name_file_and_field(tmp_path):
    with pytest.raises(
        SchemaError, match=r"invalid.schema.json: invalid JSON schema at properties/a/type"
    ):
        load_schema(DATA / "invalid.schema.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SchemaError, match=r"broken.json: not valid JSON \(line 1, column 2"):
        load_schema(broken)
    with pytest.raises(SchemaError, match="not found"):
        load_schema(tmp_path / "missing.json")
    with pytest.raises(SchemaError, match="must be an object"):
        check_schema([1], "inline")
