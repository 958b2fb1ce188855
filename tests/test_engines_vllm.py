"""The real in-process vLLM engine on the embedded model."""

import asyncio
import json

import jsonschema
import pytest

from dialoggen.config import SamplingConfig
from tests.conftest import DATA

pytestmark = pytest.mark.model
SHORT = SamplingConfig(max_tokens=24, temperature=0.8)


def test_batched_chat_answers_every_conversation(vllm_engine):
    batch = [
        [{"role": "user", "content": f"Name a fruit that starts with {c}."}] for c in "ABCDEFGH"
    ]
    replies = vllm_engine.chat(batch, SHORT)
    assert len(replies) == 8
    assert all(r.text.strip() for r in replies)
    assert all(r.completion_tokens > 0 and r.prompt_tokens > 0 for r in replies)


def test_structured_output_validates_against_schema(vllm_engine):
    schema = json.loads((DATA / "reply.schema.json").read_text())
    prompt = [{"role": "user", "content": "Describe a cat as JSON with name, mood and score."}]
    replies = vllm_engine.chat([prompt] * 4, SamplingConfig(max_tokens=80, temperature=0.7), schema)
    for reply in replies:
        assert reply.ok, reply.invalid
        jsonschema.validate(reply.parsed, schema)
        assert reply.parsed == json.loads(reply.text)


def test_async_single_requests_from_another_loop(vllm_engine):
    async def conversation(i: int):
        return await vllm_engine.achat([{"role": "user", "content": f"Count to {i}."}], SHORT)

    async def all_at_once():
        return await asyncio.gather(*(conversation(i) for i in range(3, 9)))

    replies = asyncio.run(all_at_once())
    assert len(replies) == 6 and all(r.text for r in replies)


def test_greedy_is_repeatable_and_uses_the_chat_template(vllm_engine):
    messages = [{"role": "user", "content": "Say the word blue."}]
    greedy = SamplingConfig(max_tokens=12, temperature=0)
    first, second = vllm_engine.chat([messages, messages], greedy)
    assert first.text == second.text
    assert "<|im_start|>assistant" in vllm_engine.render(messages)


def test_max_tokens_caps_the_reply(vllm_engine):
    reply = vllm_engine.chat(
        [[{"role": "user", "content": "Tell a very long story about a ship."}]],
        SamplingConfig(max_tokens=5, temperature=0.7),
    )[0]
    assert reply.completion_tokens <= 5
    assert reply.finish_reason in ("length", "stop")
