"""The critic, filters and quotas on the real embedded model."""

import json

import jsonschema
import pytest

from dialoggen.critique import Critic
from dialoggen.recipe import CRITERIA
from dialoggen.run import generate
from dialoggen.sampling import ScenarioSampler, load_inputs
from dialoggen.types import Turn
from tests.conftest import DATA

pytestmark = pytest.mark.model
OK = DATA / "recipes" / "ok.yaml"
LINES = [
    "hi, my order never arrived",
    "sorry to hear that, what is the order number?",
    "it is 48213577",
    "thanks, I can see it is delayed, it will arrive tomorrow",
    "can I get a refund instead?",
    "yes, I have started the refund for you",
]


def records(folder):
    return [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]


def test_every_critic_reply_validates_or_is_recorded_unparseable(vllm_engine):
    import asyncio

    inputs = load_inputs(OK, count=16)
    critic = Critic(vllm_engine, inputs.prompts, inputs.critique_schema, inputs.recipe.critic)
    scenarios = list(ScenarioSampler(inputs))
    dialogues = [
        [
            Turn(("user", "assistant")[k % 2], s.speakers()[k % 2], LINES[(k + i) % 6])
            for k in range(4)
        ]
        for i, s in enumerate(scenarios)
    ]

    async def score_all():
        return await asyncio.gather(
            *(critic.critique(s, d) for s, d in zip(scenarios, dialogues, strict=True))
        )

    critiques = asyncio.run(score_all())
    assert len(critiques) == 16
    for critique in critiques:
        if critique.valid:
            jsonschema.validate(json.loads(critique.raw), inputs.critique_schema)
            assert set(critique.scores) == set(CRITERIA)
        else:
            assert critique.raw and critique.error and critique.attempts == 3
            assert critic.judge(critique).reason == "critic_unparseable"


def test_generate_filters_critiques_revises_and_the_funnel_adds_up(vllm_engine, tmp_path):
    inputs = load_inputs(
        OK, count=6, output=str(tmp_path / "run"), sampling={"max_tokens": 32, "temperature": 0.8}
    )
    summary = generate(inputs, engine=vllm_engine)
    rows = records(tmp_path / "run")
    assert len(rows) == 6
    for row in rows:
        assert row["status"] in ("accepted", "rejected", "failed")
        if row["status"] != "accepted":
            assert row["reason"], row
        for attempt in row["attempts"]:
            assert attempt["filter"] or attempt["critique"]
    f = summary.funnel
    assert f["drawn"] == 6 == sum(f["generation_failed"].values()) + f["accepted"] + f["rejected"]
    assert (
        f["rejected"]
        == sum(f["filtered"].values()) + f["critic_rejected"] + f["critic_unparseable"]
    )
    assert f["accepted"] == f["accepted_first_try"] + f["accepted_after_revision"]
    assert sum(sum(cell.values()) for cell in f["per_stratum"].values()) == 6
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["funnel"] == json.loads(json.dumps(f))


def test_a_quota_recipe_ends_with_the_quota_or_a_reported_shortfall(vllm_engine, tmp_path):
    inputs = load_inputs(DATA / "recipes" / "quota.yaml", output=str(tmp_path / "run"))
    summary = generate(inputs, engine=vllm_engine)
    rows = records(tmp_path / "run")
    cells = {f"{g}/{c}" for g in ("senior", "teen") for c in ("account", "billing", "delivery")}
    accepted = {
        cell: sum(r["stratum"] == cell and r["status"] == "accepted" for r in rows)
        for cell in cells
    }
    drawn = {cell: sum(r["stratum"] == cell for r in rows) for cell in cells}
    for cell in cells:
        if cell in summary.shortfalls:
            assert accepted[cell] < 2 and drawn[cell] == 5
            assert summary.shortfalls[cell] == {
                "wanted": 2,
                "accepted": accepted[cell],
                "attempts": 5,
            }
        else:
            assert accepted[cell] == 2, (cell, accepted, drawn)
    assert set(r["stratum"] for r in rows) <= cells
