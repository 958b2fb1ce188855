"""A scripted engine for control-flow tests: queued replies, recorded calls.

>>> engine = ScriptedEngine(['{"score": 5}'])
>>> engine.chat([[{"role": "user", "content": "rate"}]], schema={"type": "object"})[0].parsed
{'score': 5}
>>> engine.calls[0].messages[0]["content"]
'rate'
>>> engine.close()
"""

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from dialoggen.config import EngineConfig, SamplingConfig
from dialoggen.engines.base import ChatEngine, Message, Reply, check_reply, timed_reply
from dialoggen.errors import EngineError

Script = str | Exception | Callable[[Sequence[Message]], str]


@dataclass(frozen=True)
class Call:
    messages: tuple[dict[str, str], ...]
    params: SamplingConfig
    schema: dict | None


class ScriptedEngine(ChatEngine):
    """Replies come from a queue: a string, an exception to raise, or a function of the
    messages; when the queue is empty, ``responder`` (if given) answers. Every call is
    recorded in ``calls``."""

    name = "scripted"
    model_label = "scripted"

    def __init__(
        self,
        replies: Iterable[Script] = (),
        config: EngineConfig | None = None,
        responder: Callable[[Sequence[Message]], str] | None = None,
    ) -> None:
        self.queue: deque[Script] = deque(replies)
        self.responder = responder
        self.calls: list[Call] = []
        super().__init__()

    def enqueue(self, *replies: Script) -> None:
        self.queue.extend(replies)

    async def _achat(
        self, messages: Sequence[Message], params: SamplingConfig, schema: dict | None
    ) -> Reply:
        started = time.perf_counter()
        self.calls.append(Call(tuple(dict(m) for m in messages), params, schema))
        if not self.queue and self.responder is None:
            raise EngineError(f"scripted engine has no reply queued for call {len(self.calls)}")
        script = self.queue.popleft() if self.queue else self.responder
        assert script is not None
        if isinstance(script, Exception):
            raise script
        text = script(messages) if callable(script) else script
        parsed, invalid = check_reply(text, schema) if schema else (None, None)
        return timed_reply(
            started,
            text=text,
            finish_reason="stop",
            completion_tokens=len(text.split()),
            parsed=parsed,
            invalid=invalid,
        )
