"""One scenario through every stage: generate -> filters -> critic -> revise -> record.

Every scenario ends as exactly one record: ``accepted``, ``rejected`` (with the reason
and every attempt), or ``failed`` (generation produced nothing usable).
"""

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from dialoggen.critique import Critic, Review, review
from dialoggen.engines.base import ChatEngine
from dialoggen.errors import EngineError
from dialoggen.filters import NearDuplicates, dialogue_text
from dialoggen.generation import GenerationFailure
from dialoggen.generation.agents import simulate
from dialoggen.generation.oneshot import write_whole
from dialoggen.sampling import RunInputs
from dialoggen.types import Dialogue, Scenario, Turn


async def write_dialogue(
    engine: ChatEngine,
    scenario: Scenario,
    inputs: RunInputs,
    history: Sequence[Turn] = (),
    note: str = "",
) -> tuple[Dialogue, dict[str, int]]:
    recipe = inputs.recipe
    if recipe.mode == "oneshot":
        return await write_whole(
            engine, scenario, inputs.prompts, recipe.sampling, inputs.dialogue_schema, note
        )
    return await simulate(
        engine, scenario, inputs.prompts, recipe.sampling, recipe.turns.min, history, note
    )


def as_failure(err: Exception) -> GenerationFailure:
    return (
        err if isinstance(err, GenerationFailure) else GenerationFailure("engine_error", str(err))
    )


@dataclass
class Pipeline:
    """What every scenario of a run shares: inputs, engines, the near-duplicate index."""

    inputs: RunInputs
    engine: ChatEngine
    critic: Critic | None
    duplicates: NearDuplicates | None

    def __post_init__(self) -> None:
        self.recipe_hash = self.inputs.recipe.identity_hash()  # once per run, not per record

    async def process(self, scenario: Scenario) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            dialogue, usage = await write_dialogue(self.engine, scenario, self.inputs)
        except (GenerationFailure, EngineError) as err:
            failure = (
                err
                if isinstance(err, GenerationFailure)
                else GenerationFailure("engine_error", str(err))
            )
            return self.record(scenario, started, failure=failure)
        recipe = self.inputs.recipe

        async def rewrite(history: Sequence[Turn], note: str) -> tuple[Dialogue, dict[str, int]]:
            return await write_dialogue(self.engine, scenario, self.inputs, history, note)

        try:
            result = await review(
                dialogue,
                scenario,
                self.critic,
                recipe.filters,
                (recipe.turns.min, recipe.turns.max),
                self.duplicates,
                rewrite,
                recipe.critic.max_revisions,
                recipe.critic.revise,
                self.inputs.prompts,
            )
        except (GenerationFailure, EngineError) as err:  # a revision that broke
            failure = (
                err
                if isinstance(err, GenerationFailure)
                else GenerationFailure("engine_error", str(err))
            )
            return self.record(scenario, started, failure=failure)
        self._final_duplicate_gate(scenario, result)
        for key, value in result.usage.items():
            usage[key] = usage.get(key, 0) + value
        return self.record(
            scenario, started, result=result, usage=usage, stop_reason=dialogue.stop_reason
        )

    def _final_duplicate_gate(self, scenario: Scenario, result: Review) -> None:
        """Check-and-add with no await in between, so concurrent twins cannot both pass."""
        if not (self.duplicates and result.verdict.accepted):
            return
        text = dialogue_text(result.turns)
        check = self.duplicates.check(text)
        if check.ok:
            self.duplicates.add(scenario.id, text)
        else:
            result.verdict = dataclasses.replace(
                result.verdict, accepted=False, reason=check.reason, detail=check.detail
            )

    def record(
        self,
        scenario: Scenario,
        started: float,
        result: Review | None = None,
        usage: dict[str, Any] | None = None,
        stop_reason: str | None = None,
        failure: GenerationFailure | None = None,
    ) -> dict[str, Any]:
        recipe, inputs = self.inputs.recipe, self.inputs
        verdict = result.verdict if result else None
        status = (
            "failed" if failure else ("accepted" if verdict and verdict.accepted else "rejected")
        )
        last_critique = (
            next((a["critique"] for a in reversed(result.attempts) if a["critique"]), None)
            if result
            else None
        )
        record: dict[str, Any] = {
            "id": scenario.id,
            "index": scenario.index,
            "status": status,
            "reason": failure.reason if failure else (verdict.reason if verdict else None),
            "detail": failure.detail if failure else (verdict.detail if verdict else ""),
            "scenario": scenario.summary(),
            "stratum": scenario.stratum,
            "persona": asdict(scenario.persona),
            "partner": asdict(scenario.partner) if scenario.partner else None,
            "topic": asdict(scenario.topic),
            "style": scenario.style.name,
            "turns": [asdict(t) for t in result.turns] if result else [],
            "stop_reason": stop_reason,
            "revisions": verdict.revisions if verdict else 0,
            "scores": last_critique["scores"] if last_critique else None,
            "attempts": result.attempts if result else [],
            "provenance": {
                "seed": recipe.seed,
                "mode": recipe.mode,
                "engine": recipe.engine.name,
                "model": self.engine.model_label,
                "critic_model": self.critic.engine.model_label if self.critic else None,
                "prompt_hash": inputs.prompts.hash,
                "recipe_hash": self.recipe_hash,
            },
            "usage": usage or (failure.usage if failure else {}),
            "seconds": round(time.perf_counter() - started, 3),
        }
        if failure:
            record["failure"] = {"detail": failure.detail, "raw": failure.raw}
        return record
