"""The critic and the revise loop on the scripted engine: control flow, exactly."""

import json

import pytest

from dialoggen.engines.scripted import ScriptedEngine
from dialoggen.recipe import CRITERIA
from dialoggen.run import generate
from dialoggen.sampling import load_inputs
from tests.conftest import DATA

OK = DATA / "recipes" / "ok.yaml"


def critique(score: int, turn: int | None = 2, feedback: str = "be concrete") -> str:
    names = CRITERIA
    problems = [] if turn is None else [{"turn": turn, "criterion": "coherence", "issue": "vague"}]
    return json.dumps(
        {"scores": dict.fromkeys(names, score), "problems": problems, "feedback": feedback}
    )


class Script:
    """Answers generation calls with numbered messages and critic calls from a list."""

    def __init__(self, critiques: list[str]) -> None:
        self.critiques, self.said = list(critiques), 0

    def __call__(self, messages) -> str:
        if messages[0]["content"].startswith("You review synthetic chat"):
            return self.critiques.pop(0) if len(self.critiques) > 1 else self.critiques[0]
        self.said += 1
        return f"message number {self.said} about the refund"


def run(tmp_path, critiques, **critic):
    inputs = load_inputs(
        OK,
        count=1,
        output=str(tmp_path / "run"),
        turns={"min": 4, "max": 4},
        critic={"max_revisions": 1, "threshold": 3, "retries": 2, **critic},
    )
    engine = ScriptedEngine(responder=Script(critiques))
    summary = generate(inputs, engine=engine)
    engine.close()
    rows = [json.loads(x) for x in (tmp_path / "run" / "records.jsonl").read_text().splitlines()]
    return summary, rows[0], engine.calls


def test_fail_then_pass_is_accepted_with_both_critiques_and_kept_prefix(tmp_path):
    summary, row, calls = run(tmp_path, [critique(2, turn=2), critique(5, turn=None)])
    assert row["status"] == "accepted" and row["revisions"] == 1
    first, second = row["attempts"]
    assert first["critique"]["scores"]["coherence"] == 2 and first["kept_turns"] == 2
    assert second["critique"]["scores"]["coherence"] == 5
    assert second["turns"][:2] == first["turns"][:2]  # turns before the flag are unchanged
    assert second["turns"][2:] != first["turns"][2:]
    assert row["turns"] == second["turns"] and row["scores"]["safety"] == 5
    revised = [c for c in calls if "A reviewer read an earlier draft" in c.messages[0]["content"]]
    assert len(revised) == 2 and "be concrete" in revised[0].messages[0]["content"]
    assert summary.funnel["accepted_after_revision"] == 1


def test_failing_every_round_is_rejected_with_a_reason(tmp_path):
    summary, row, _ = run(tmp_path, [critique(2)], max_revisions=2)
    assert row["status"] == "rejected" and row["reason"] == "critic_rejected"
    assert row["detail"] == "mean 2.00 < 3.0"
    assert len(row["attempts"]) == 3 and row["revisions"] == 2
    assert summary.funnel["critic_rejected"] == 1 and summary.funnel["accepted"] == 0


def test_per_criterion_minimum_rejects_even_with_a_good_mean(tmp_path):
    good_but_unsafe = json.loads(critique(5, turn=None))
    good_but_unsafe["scores"]["safety"] = 2
    _, row, _ = run(
        tmp_path, [json.dumps(good_but_unsafe)], max_revisions=0, min_scores={"safety": 4}
    )
    assert row["status"] == "rejected" and row["detail"] == "safety 2 < 4"


@pytest.mark.parametrize("garbage", ["not json at all", '{"scores": {"coherence": 9}}'])
def test_garbage_critic_replies_are_retried_a_bounded_number_of_times(tmp_path, garbage):
    _, row, calls = run(tmp_path, [garbage], retries=2)
    critic_calls = [c for c in calls if c.messages[0]["content"].startswith("You review")]
    assert len(critic_calls) == 3  # one ask and two retries
    assert row["status"] == "rejected" and row["reason"] == "critic_unparseable"
    kept = row["attempts"][-1]["critique"]
    assert kept["raw"] == garbage and kept["attempts"] == 3 and not kept["valid"]


def test_a_filter_failure_is_repaired_from_the_flagged_turn(tmp_path):
    inputs = load_inputs(
        OK,
        count=1,
        output=str(tmp_path / "run"),
        turns={"min": 4, "max": 4},
        critic={"enabled": False, "max_revisions": 1},
    )
    replies = ["hello there", "how can I help", "hello there", "sorry?"]  # turn 2 repeats 0
    engine = ScriptedEngine(replies, responder=Script([]))
    generate(inputs, engine=engine)
    engine.close()
    row = json.loads((tmp_path / "run" / "records.jsonl").read_text())
    first, second = row["attempts"]
    assert first["filter"]["reason"] == "repetition" and first["kept_turns"] == 2
    assert [t["content"] for t in second["turns"]][:2] == ["hello there", "how can I help"]
    assert row["status"] == "accepted" and row["revisions"] == 1
