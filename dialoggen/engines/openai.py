"""Any OpenAI-compatible server (``vllm serve``, llama.cpp server, a hosted API) through
``langchain_openai.ChatOpenAI``: bounded concurrency, bounded tenacity retries on
transport errors, JSON-schema ``response_format``."""

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

import openai
from langchain_openai import ChatOpenAI
from pydantic import SecretStr
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from dialoggen.config import EngineConfig, SamplingConfig
from dialoggen.engines.base import ChatEngine, Message, Reply, check_reply, timed_reply
from dialoggen.errors import ConfigError, EngineError, EngineUnavailableError

TRANSIENT = (
    openai.APIConnectionError,
    openai.APITimeoutError,
    openai.InternalServerError,
    openai.RateLimitError,
)


def _start_hint(base_url: str) -> str:
    return (
        f"cannot reach the OpenAI-compatible server at {base_url}: start it (e.g. "
        "`python -m vllm.entrypoints.openai.api_server --model DIR --port 8000`) or fix base_url"
    )


class OpenAIEngine(ChatEngine):
    """Chat through an OpenAI-compatible HTTP server; the model defaults to the server's first."""

    name = "openai"

    def __init__(self, config: EngineConfig) -> None:
        if not config.base_url:
            raise ConfigError("the openai engine needs base_url (e.g. http://127.0.0.1:8000/v1)")
        self.config = config
        api_key = SecretStr(os.environ.get(config.api_key_env) or "EMPTY")
        probe = openai.OpenAI(
            base_url=config.base_url, api_key=api_key.get_secret_value(), max_retries=1, timeout=10
        )
        model = config.model or self._first_served_model(probe)
        self.model_label = f"{model} @ {config.base_url}"
        # Our own client: langchain's default one is cached per process and would outlive
        # (and be bound to) the event loop of an engine already closed.
        self._http = openai.DefaultAsyncHttpxClient(timeout=config.timeout_s)
        self._llm = ChatOpenAI(
            model=model,
            base_url=config.base_url,
            api_key=api_key,
            max_retries=0,  # tenacity owns retries
            timeout=config.timeout_s,
            seed=config.seed,
            http_async_client=self._http,
        )
        self._slots: asyncio.Semaphore | None = None
        super().__init__()

    def _first_served_model(self, client: openai.OpenAI) -> str:
        try:
            served = client.models.list().data
        except TRANSIENT:
            raise EngineUnavailableError(_start_hint(str(self.config.base_url))) from None
        except openai.APIStatusError as err:
            raise EngineUnavailableError(
                f"{self.config.base_url}/models answered HTTP {err.status_code}; "
                f"check base_url and the key in ${self.config.api_key_env}"
            ) from None
        if not served:
            raise EngineUnavailableError(f"the server at {self.config.base_url} serves no model")
        return served[0].id

    async def _shutdown(self) -> None:
        await self._http.aclose()

    def _request_kwargs(self, params: SamplingConfig, schema: dict | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.repetition_penalty != 1.0:
            kwargs["extra_body"] = {"repetition_penalty": params.repetition_penalty}
        if schema:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": schema},
            }
        return kwargs

    async def _achat(
        self, messages: Sequence[Message], params: SamplingConfig, schema: dict | None
    ) -> Reply:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.max_concurrency)
        started = time.perf_counter()
        kwargs = self._request_kwargs(params, schema)
        async with self._slots:
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.config.max_retries + 1),
                    wait=wait_exponential(multiplier=0.5, max=8),
                    retry=retry_if_exception_type(TRANSIENT),
                    reraise=True,
                ):
                    with attempt:
                        result = await self._llm.ainvoke([dict(m) for m in messages], **kwargs)
            except openai.LengthFinishReasonError as err:  # structured reply cut at max_tokens
                text = err.completion.choices[0].message.content or ""
                return timed_reply(
                    started,
                    text=text,
                    finish_reason="length",
                    invalid="truncated at max_tokens before the JSON closed",
                )
            except TRANSIENT:
                raise EngineUnavailableError(_start_hint(str(self.config.base_url))) from None
            except openai.APIStatusError as err:
                raise EngineError(
                    f"server answered HTTP {err.status_code}: {err.message}"
                ) from None
        text = result.content if isinstance(result.content, str) else str(result.content)
        usage: dict[str, Any] = dict(result.usage_metadata or {})
        parsed, invalid = check_reply(text, schema) if schema else (None, None)
        return timed_reply(
            started,
            text=text,
            finish_reason=result.response_metadata.get("finish_reason"),
            prompt_tokens=usage.get("input_tokens", 0),
            completion_tokens=usage.get("output_tokens", 0),
            parsed=parsed,
            invalid=invalid,
        )
