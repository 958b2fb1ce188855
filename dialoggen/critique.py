"""The critic (rubric scores as schema-constrained JSON) and the revise loop.

A critic reply is re-validated with jsonschema; invalid replies are re-asked a bounded
number of times (tenacity), and one that never validates is kept as ``critic_unparseable``
with its raw text. A failing dialogue gets up to ``max_revisions`` repair rounds; every
attempt, check and critique is kept for the record.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt

from dialoggen.engines.base import ChatEngine
from dialoggen.filters import Check, NearDuplicates, screen
from dialoggen.prompts import PromptSet
from dialoggen.recipe import CriticConfig, FilterConfig
from dialoggen.types import Critique, Dialogue, Scenario, Turn, Verdict

Rewrite = Callable[[Sequence[Turn], str], Awaitable[tuple[Dialogue, dict[str, int]]]]


def _last_result(state: RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()


class Critic:
    def __init__(
        self, engine: ChatEngine, prompts: PromptSet, schema: dict, config: CriticConfig
    ) -> None:
        self.engine, self.prompts, self.schema, self.config = engine, prompts, schema, config

    async def _ask(self, messages: list[dict[str, str]], attempt: int) -> Critique:
        reply = await self.engine.achat(messages, self.config.sampling, self.schema)
        if not reply.ok:
            return Critique({}, (), "", reply.text, False, attempt, reply.invalid)
        data = reply.parsed
        return Critique(
            data["scores"], tuple(data["problems"]), data["feedback"], reply.text, True, attempt
        )

    def messages(self, scenario: Scenario, turns: Sequence[Turn]) -> list[dict[str, str]]:
        """The rubric and the numbered dialogue, as the critic model sees them."""
        return self.prompts.messages(
            ("system", "critic.system"),
            ("human", "critic.user"),
            persona=scenario.persona,
            topic=scenario.topic,
            style=scenario.style,
            turns=turns,
        )

    async def critique(self, scenario: Scenario, turns: Sequence[Turn]) -> Critique:
        """Score ``turns``; re-ask up to ``retries`` times while the reply is invalid."""
        messages = self.messages(scenario, turns)
        calls = 0

        async def ask() -> Critique:
            nonlocal calls
            calls += 1
            return await self._ask(messages, calls)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.retries + 1),
            retry=retry_if_result(lambda critique: not critique.valid),
            retry_error_callback=_last_result,  # keep the last (invalid) reply
        )
        critique: Critique = await retrying(ask)
        return critique

    def judge(self, critique: Critique) -> Verdict:
        if not critique.valid:
            return Verdict(False, "critic_unparseable", critique.error or "")
        low = [
            f"{c} {critique.scores.get(c, 0)} < {m}"
            for c, m in sorted(self.config.min_scores.items())
            if critique.scores.get(c, 0) < m
        ]
        if low:
            return Verdict(False, "critic_rejected", "; ".join(low))
        if critique.mean < self.config.threshold:
            return Verdict(
                False, "critic_rejected", f"mean {critique.mean:.2f} < {self.config.threshold}"
            )
        return Verdict(True, None)


@dataclass
class Review:
    """Every round of one dialogue's review, and where it ended."""

    verdict: Verdict
    turns: tuple[Turn, ...]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)


async def review(
    dialogue: Dialogue,
    scenario: Scenario,
    critic: Critic | None,
    filters: FilterConfig,
    turn_range: tuple[int, int],
    duplicates: NearDuplicates | None,
    rewrite: Rewrite,
    max_revisions: int,
    mode: str,
    prompts: PromptSet,
) -> Review:
    """Filters, then the critic, then repair; up to ``max_revisions`` more rounds."""
    turns, attempts, usage = dialogue.turns, [], {"prompt_tokens": 0, "completion_tokens": 0}
    for round_number in range(max_revisions + 1):
        check, turns = screen(turns, scenario.speakers(), filters, turn_range, duplicates)
        critique = await critic.critique(scenario, turns) if check.ok and critic else None
        verdict = (
            Verdict(False, check.reason, check.detail)
            if not check.ok
            else critic.judge(critique)
            if critic and critique
            else Verdict(True, None)
        )
        attempts.append(
            {
                "round": round_number,
                "turns": [asdict(t) for t in turns],
                "filter": None if check.ok else asdict(check),
                "critique": asdict(critique) if critique else None,
            }
        )
        if verdict.accepted or verdict.reason == "critic_unparseable":
            break
        if round_number == max_revisions:
            break
        keep = repair_point(check, critique, mode)
        attempts[-1]["kept_turns"] = keep
        feedback = critique.feedback if critique else f"{check.reason}: {check.detail}"
        note = prompts.render("revise.note", feedback=feedback)
        revised, used = await rewrite(turns[:keep], note)
        for key in usage:
            usage[key] += used.get(key, 0)
        turns = revised.turns
    revisions = len(attempts) - 1
    return Review(
        Verdict(verdict.accepted, verdict.reason, verdict.detail, revisions),
        tuple(turns),
        attempts,
        usage,
    )


def repair_point(check: Check, critique: Critique | None, mode: str) -> int:
    """How many turns a targeted repair keeps: those before the first flagged turn."""
    if mode == "whole" or (not check.ok and check.reason in ("near_duplicate", "structure")):
        return 0
    flagged = check.turn if not check.ok else (critique.first_flagged_turn if critique else None)
    return flagged or 0
