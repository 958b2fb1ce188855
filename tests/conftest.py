"""Shared fixtures. One real vLLM engine and one real `vllm serve` serve the whole run."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dialoggen.config import EngineConfig
from dialoggen.models import prepare_embedded_model

DATA = Path(__file__).parent / "data"
# Small and quick: the embedded model, short context, 1 GiB of KV cache each.
TEST_ENGINE = EngineConfig(seed=0, max_model_len=2048, kv_cache_gib=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    return prepare_embedded_model()


@pytest.fixture(scope="session")
def vllm_engine(embedded_model: Path) -> Iterator:
    from dialoggen.engines import create_engine

    engine = create_engine(TEST_ENGINE)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def vllm_server(embedded_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenAI-compatible `vllm serve` of the embedded model on a loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vllm.entrypoints.openai.api_server",
                "--model",
                str(embedded_model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--max-model-len",
                "2048",
                "--enforce-eager",
                "--seed",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            pytest.fail(f"vllm serve exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"vllm serve not ready in 300 s:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    yield base_url
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
