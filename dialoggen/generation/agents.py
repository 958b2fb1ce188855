"""Turn-by-turn simulation: each side is an agent with its own persona and instructions.

Each agent sees the conversation from its side (its own turns as ``assistant``), so its
prompt only ever grows at the end and vLLM's prefix cache reuses the history. A
conversation submits its next turn as soon as its last one returns.
"""

import re
from collections.abc import Sequence

from dialoggen.config import SamplingConfig
from dialoggen.engines.base import ChatEngine
from dialoggen.generation import GenerationFailure
from dialoggen.prompts import PromptSet
from dialoggen.types import Dialogue, Scenario, Turn

END = re.compile(r"\s*\[\s*END\s*\]\s*", re.IGNORECASE)
ROLES = ("user", "assistant")
EMPTY_RETRIES = 2


def system_prompts(scenario: Scenario, prompts: PromptSet, note: str = "") -> tuple[str, str, str]:
    """(first side's system prompt, second side's, the first side's opening cue); a
    reviewer's ``note`` (revision feedback) is appended to both system prompts."""
    first, second = scenario.speakers()
    shared = {"topic": scenario.topic, "style": scenario.style}
    a = prompts.render("persona.system", persona=scenario.persona, partner_name=second, **shared)
    if scenario.partner is not None:
        b = prompts.render("persona.system", persona=scenario.partner, partner_name=first, **shared)
    else:
        b = prompts.render("assistant.system", partner_name=first, **shared)
    if note:
        a, b = f"{a}\n\n{note}", f"{b}\n\n{note}"
    return a, b, prompts.render("opening.user", partner_name=second, topic=scenario.topic)


def view(side: int, system: str, opening: str, turns: Sequence[Turn]) -> list[dict[str, str]]:
    """The conversation as side ``side`` (0 or 1) sees it."""
    messages = [{"role": "system", "content": system}]
    if side == 0:
        messages.append({"role": "user", "content": opening})
    for k, turn in enumerate(turns):
        messages.append({"role": "assistant" if k % 2 == side else "user", "content": turn.content})
    return messages


def clean(text: str) -> tuple[str, bool]:
    """(the turn without the end marker, whether the agent ended the conversation)."""
    ended = bool(END.search(text))
    return END.sub(" ", text).strip(), ended


async def simulate(
    engine: ChatEngine,
    scenario: Scenario,
    prompts: PromptSet,
    params: SamplingConfig,
    min_turns: int,
    history: Sequence[Turn] = (),
    note: str = "",
) -> tuple[Dialogue, dict[str, int]]:
    """Run one conversation to ``scenario.turns`` turns, or to a natural end after
    ``min_turns``; a revision continues from ``history`` with the reviewer's ``note``.
    Returns the dialogue and token usage."""
    systems = system_prompts(scenario, prompts, note)
    names = scenario.speakers()
    turns: list[Turn] = list(history)
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0}
    stop = "max_turns"
    while len(turns) < scenario.turns:
        side = len(turns) % 2
        for _ in range(1 + EMPTY_RETRIES):
            reply = await engine.achat(view(side, systems[side], systems[2], turns), params)
            usage["calls"] += 1
            usage["prompt_tokens"] += reply.prompt_tokens
            usage["completion_tokens"] += reply.completion_tokens
            text, ended = clean(reply.text)
            if text:
                break
        else:
            raise GenerationFailure(
                "empty_turn",
                f"turn {len(turns)} empty after retries",
                raw=reply.text,
                turns=len(turns),
                **usage,
            )
        turns.append(Turn(ROLES[side], names[side], text))
        if ended and len(turns) >= min_turns:
            stop = "goal_reached" if side == 0 else "natural_end"
            break
    return Dialogue(scenario.id, tuple(turns), stop), usage
