"""Generation control flow on the scripted engine: alternation, endings, failures, the store."""

import asyncio
import dataclasses
import json

import pytest

from dialoggen.config import SamplingConfig
from dialoggen.engines.scripted import ScriptedEngine
from dialoggen.errors import RunFolderError
from dialoggen.generation import GenerationFailure
from dialoggen.generation.agents import simulate, view
from dialoggen.generation.oneshot import write_whole
from dialoggen.run import generate
from dialoggen.sampling import ScenarioSampler, load_inputs
from tests.conftest import DATA

OK = DATA / "recipes" / "ok.yaml"
PARAMS = SamplingConfig(max_tokens=16)


@pytest.fixture
def inputs(tmp_path):
    return load_inputs(OK, count=3, output=str(tmp_path / "run"), critic={"enabled": False})


def scenario(inputs, turns=4):
    return dataclasses.replace(ScenarioSampler(inputs).scenario(0), turns=turns)


def test_agents_alternate_and_see_their_own_side(inputs):
    engine = ScriptedEngine([f"turn {i}" for i in range(4)])
    dialogue, usage = asyncio.run(simulate(engine, scenario(inputs), inputs.prompts, PARAMS, 4))
    assert [t.role for t in dialogue.turns] == ["user", "assistant", "user", "assistant"]
    assert [t.content for t in dialogue.turns] == ["turn 0", "turn 1", "turn 2", "turn 3"]
    assert dialogue.stop_reason == "max_turns" and usage["calls"] == 4
    persona_view = engine.calls[2].messages  # the persona's third call sees its own turns
    assert [m["role"] for m in persona_view] == ["system", "user", "assistant", "user"]
    assistant_view = engine.calls[3].messages
    assert [m["role"] for m in assistant_view] == ["system", "user", "assistant", "user"]
    assert engine.calls[1].messages[0]["content"] != persona_view[0]["content"]
    engine.close()


def test_views_only_grow_at_the_end():
    from dialoggen.types import Turn

    turns = [Turn("user", "a", "x"), Turn("assistant", "b", "y"), Turn("user", "a", "z")]
    for side in (0, 1):
        short, long = view(side, "sys", "go", turns[:1]), view(side, "sys", "go", turns)
        assert long[: len(short)] == short


def test_end_marker_stops_only_after_min_turns(inputs):
    engine = ScriptedEngine(["hi [END]", "hello", "thanks, bye [END]", "never used"])
    dialogue, _ = asyncio.run(simulate(engine, scenario(inputs, 6), inputs.prompts, PARAMS, 3))
    assert [t.content for t in dialogue.turns] == ["hi", "hello", "thanks, bye"]
    assert dialogue.stop_reason == "goal_reached"
    engine.close()


def test_empty_turns_are_retried_then_fail_with_a_reason(inputs):
    engine = ScriptedEngine(["ok", " ", "[END]", "  "])
    with pytest.raises(GenerationFailure) as caught:
        asyncio.run(simulate(engine, scenario(inputs), inputs.prompts, PARAMS, 4))
    assert caught.value.reason == "empty_turn" and len(engine.calls) == 4
    engine.close()


def test_oneshot_parses_structured_output_and_records_malformed(tmp_path):
    inputs = load_inputs(OK, count=2, mode="oneshot", output=str(tmp_path / "r"))
    pairs = [{"first": f"q{i}", "second": f"a{i}"} for i in range(2)]
    engine = ScriptedEngine([json.dumps({"exchanges": pairs}), '{"exchanges": "nope"}'])
    dialogue, _ = asyncio.run(
        write_whole(engine, scenario(inputs, 3), inputs.prompts, PARAMS, inputs.dialogue_schema)
    )
    assert [t.content for t in dialogue.turns] == ["q0", "a0", "q1"]
    sized = engine.calls[0].schema["properties"]["exchanges"]
    assert sized["minItems"] == sized["maxItems"] == 2
    with pytest.raises(GenerationFailure, match="malformed_output"):
        asyncio.run(
            write_whole(engine, scenario(inputs), inputs.prompts, PARAMS, inputs.dialogue_schema)
        )
    engine.close()


def _replies(n):
    return [f"line {i}" for i in range(n)]


def test_every_scenario_becomes_one_record_and_resume_skips_done(inputs):
    engine = ScriptedEngine(_replies(200))
    first = generate(inputs, engine=engine)
    assert (first.accepted, first.failed, first.skipped) == (3, 0, 0)
    records = (inputs.output / "records.jsonl").read_text().splitlines()
    more = load_inputs(OK, count=5, output=str(inputs.output), critic={"enabled": False})
    second = generate(more, engine=engine)
    assert second.skipped == 3 and second.accepted == 5
    after = (inputs.output / "records.jsonl").read_text().splitlines()
    assert after[:3] == records
    ids = [json.loads(line)["id"] for line in after]
    assert sorted(ids) == [f"ok-{i:05d}" for i in range(5)]
    row = json.loads(after[0])
    assert set(row["provenance"]) == {
        "seed",
        "mode",
        "engine",
        "model",
        "critic_model",
        "prompt_hash",
        "recipe_hash",
    }
    engine.close()


def test_failures_are_recorded_with_reasons(inputs):
    engine = ScriptedEngine([" "] * 50)
    summary = generate(inputs, engine=engine)
    assert summary.failed == 3 and summary.funnel["generation_failed"] == {"empty_turn": 3}
    manifest = json.loads((inputs.output / "manifest.json").read_text())
    assert manifest["funnel"]["generation_failed"] == {"empty_turn": 3}
    assert manifest["funnel"]["drawn"] == 3
    engine.close()


def test_a_torn_last_line_is_trimmed_and_regenerated(inputs):
    engine = ScriptedEngine(_replies(200))
    generate(inputs, engine=engine)
    path = inputs.output / "records.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]) + lines[2][:40])  # as if killed mid-write
    summary = generate(inputs, engine=engine)
    assert summary.skipped == 2
    assert path.read_bytes().startswith(b"".join(lines[:2]))
    assert len(path.read_bytes().splitlines()) == 3
    engine.close()


def test_a_run_folder_of_another_recipe_is_refused(inputs):
    engine = ScriptedEngine(_replies(200))
    generate(inputs, engine=engine)
    other = load_inputs(OK, count=3, seed=99, output=str(inputs.output), critic={"enabled": False})
    with pytest.raises(RunFolderError, match="different recipe"):
        generate(other, engine=engine)
    engine.close()
