"""Engine and sampling settings, validated up front (pydantic, unknown keys rejected).

The recipe embeds these; the CLI builds them from flags.

>>> EngineConfig(name="openai", base_url="http://127.0.0.1:8000/v1").name
'openai'
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SamplingConfig(BaseModel):
    """How the model samples one reply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.7, ge=0, le=2, description="0 is greedy; higher is more varied.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(256, ge=1, le=32768, description="Cap on tokens in one reply.")
    repetition_penalty: float = Field(1.0, gt=0, le=2, description="1.0 disables it.")
    stop: tuple[str, ...] = Field((), description="Strings that end the reply early.")


class EngineConfig(BaseModel):
    """Which engine runs which model, and the engine's own knobs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["vllm", "openai", "scripted"] = Field(
        "vllm", description="vllm: in-process vLLM; openai: any OpenAI-compatible server."
    )
    model: str | None = Field(
        None,
        description="Hugging Face model id or local folder; empty means the embedded model "
        "(vllm) or the server's first model (openai).",
    )
    seed: int = Field(0, description="Engine-level seed (vLLM seeds the engine, not requests).")
    download: bool = Field(
        False, description="Allow downloading a Hub model id that is not in the local cache."
    )
    # vllm
    max_model_len: int = Field(4096, ge=256, description="Context length the engine reserves.")
    kv_cache_gib: float = Field(2.0, gt=0, description="KV cache size on CPU (GiB).")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="Share of GPU memory.")
    enforce_eager: bool | None = Field(
        None, description="Skip graph compilation; default: on for CPU, off for GPU."
    )
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = Field(
        "auto", description="Weights dtype."
    )
    compact_json: bool = Field(
        True,
        description="Structured output without free whitespace (small models otherwise "
        "pad JSON with newlines until max_tokens).",
    )
    # openai
    base_url: str | None = Field(None, description="Server URL ending in /v1 (openai engine).")
    api_key_env: str = Field("OPENAI_API_KEY", description="Env var holding the server's key.")
    max_concurrency: int = Field(64, ge=1, description="Requests in flight at once (openai).")
    max_retries: int = Field(3, ge=0, le=20, description="Retries on transport errors (openai).")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout (openai).")
