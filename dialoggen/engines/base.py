"""The one small interface every engine implements, plus what engines share.

An engine owns an asyncio loop on a background thread, so the same object serves
synchronous batch calls (``chat``) and async single requests (``achat``) from any loop.

>>> from dialoggen.engines.scripted import ScriptedEngine
>>> with ScriptedEngine(["hi there"]) as engine:
...     engine.chat([[{"role": "user", "content": "hello"}]])[0].text
'hi there'
"""

import asyncio
import gc
import json
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jsonschema

from dialoggen.config import SamplingConfig
from dialoggen.errors import SchemaError

Message = Mapping[str, str]
T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    """One model reply. With a schema, ``parsed`` holds the validated JSON or
    ``invalid`` says why the text did not validate (the raw text is always kept)."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    parsed: Any = None
    invalid: str | None = None

    @property
    def ok(self) -> bool:
        return self.invalid is None


class EngineLoop:
    """An event loop on a daemon thread; coroutines from any thread or loop run on it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the engine loop and block until it finishes."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def submit(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the engine loop from whatever loop the caller is on."""
        try:
            if asyncio.get_running_loop() is self.loop:
                return await coro
        except RuntimeError:
            pass
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        """Cancel what is still pending (so engines are freed now), then end the thread."""
        if not self.loop.is_running():
            return
        self.run(_cancel_pending())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
        gc.collect()


async def _cancel_pending() -> None:
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


class ChatEngine(ABC):
    """Chat completion over many conversations at once.

    Subclasses implement ``_achat`` (runs on the engine loop) and ``_shutdown``.
    """

    name: str = "engine"
    model_label: str = ""

    def __init__(self) -> None:
        self._loop = EngineLoop(f"dialoggen-{self.name}")

    @abstractmethod
    async def _achat(
        self, messages: Sequence[Message], params: SamplingConfig, schema: dict | None
    ) -> Reply: ...

    async def _shutdown(self) -> None:
        return None

    async def achat(
        self,
        messages: Sequence[Message],
        params: SamplingConfig | None = None,
        schema: dict | None = None,
    ) -> Reply:
        """One conversation's next reply; await many at once to keep the engine full."""
        return await self._loop.submit(self._achat(messages, params or SamplingConfig(), schema))

    def chat(
        self,
        batch: Sequence[Sequence[Message]],
        params: SamplingConfig | None = None,
        schema: dict | None = None,
    ) -> list[Reply]:
        """Replies for every conversation in ``batch``, in order, generated concurrently."""
        params = params or SamplingConfig()

        async def gather() -> list[Reply]:
            return list(await asyncio.gather(*(self._achat(m, params, schema) for m in batch)))

        return self._loop.run(gather())

    def close(self) -> None:
        self._loop.run(self._shutdown())
        self._loop.stop()

    def __enter__(self) -> "ChatEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def timed_reply(started: float, **fields: Any) -> Reply:
    """A Reply stamped with the seconds since ``started`` (``time.perf_counter``)."""
    return Reply(latency_s=time.perf_counter() - started, **fields)


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def check_reply(text: str, schema: dict) -> tuple[Any, str | None]:
    """Parse ``text`` as JSON and validate it: ``(parsed, None)`` or ``(None, reason)``.

    >>> check_reply('{"a": 1}', {"type": "object", "required": ["a"]})
    ({'a': 1}, None)
    >>> check_reply('{"b": 1}', {"type": "object", "required": ["a"]})[1]
    "schema: 'a' is a required property"
    """
    fenced = _FENCE.match(text)
    try:
        parsed = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError as err:
        return None, f"not JSON: {err.msg} at line {err.lineno} column {err.colno}"
    error = jsonschema.exceptions.best_match(
        jsonschema.validators.validator_for(schema)(schema).iter_errors(parsed)
    )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        return None, f"schema: {error.message}" + (f" at {where}" if where else "")
    return parsed, None


def check_schema(schema: Any, source: str) -> dict:
    """Raise ``SchemaError`` unless ``schema`` is a valid JSON schema object."""
    if not isinstance(schema, dict):
        raise SchemaError(f"{source}: a JSON schema must be an object, got {type(schema).__name__}")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise SchemaError(
            f"{source}: invalid JSON schema at {where}: {err.message}; fix that field"
        ) from None
    return schema


def load_schema(path: str | Path) -> dict:
    """Read and check a ``*.schema.json`` file; errors name the file and the field."""
    path = Path(path)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{path}: schema file not found; check the path") from None
    except json.JSONDecodeError as err:
        raise SchemaError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    return check_schema(schema, str(path))
