"""One call writes the whole dialogue as JSON (schema-constrained), parsed robustly."""

import math

from dialoggen.config import SamplingConfig
from dialoggen.engines.base import ChatEngine
from dialoggen.generation import GenerationFailure
from dialoggen.prompts import PromptSet
from dialoggen.types import Dialogue, Scenario, Turn

JSON_OVERHEAD_TOKENS = 16


async def write_whole(
    engine: ChatEngine,
    scenario: Scenario,
    prompts: PromptSet,
    params: SamplingConfig,
    schema: dict,
    note: str = "",
) -> tuple[Dialogue, dict[str, int]]:
    """The whole dialogue from one structured call; malformed output is a GenerationFailure."""
    exchanges = math.ceil(scenario.turns / 2)
    first, second = scenario.speakers()
    messages = prompts.messages(
        ("system", "oneshot.system"),
        ("human", "oneshot.user"),
        exchanges=exchanges,
        first_name=first,
        second_name=second,
        persona=scenario.persona,
        partner=scenario.partner,
        topic=scenario.topic,
        style=scenario.style,
    )
    if note:
        messages[-1]["content"] += f"\n\n{note}"
    items = dict(schema["properties"]["exchanges"], minItems=exchanges, maxItems=exchanges)
    sized = {**schema, "properties": {**schema["properties"], "exchanges": items}}
    budget = params.model_copy(
        update={"max_tokens": (params.max_tokens + JSON_OVERHEAD_TOKENS) * scenario.turns}
    )
    reply = await engine.achat(messages, budget, sized)
    usage = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "calls": 1,
    }
    if not reply.ok:
        raise GenerationFailure("malformed_output", str(reply.invalid), raw=reply.text, **usage)
    turns: list[Turn] = []
    for exchange in reply.parsed["exchanges"]:
        turns.append(Turn("user", first, exchange["first"].strip()))
        turns.append(Turn("assistant", second, exchange["second"].strip()))
    turns = turns[: scenario.turns]
    if any(not t.content for t in turns):
        raise GenerationFailure("empty_turn", "a turn is blank", raw=reply.text, **usage)
    return Dialogue(scenario.id, tuple(turns), "written"), usage
