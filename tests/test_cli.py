"""The command line, run as a user runs it: a real process, real exit codes."""

import os
import subprocess
import sys

import pytest

from tests.conftest import DATA, free_port


def dialoggen(*args: str, env: dict | None = None, timeout: int = 300):
    return subprocess.run(
        [sys.executable, "-m", "dialoggen", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_help_teaches_the_commands():
    result = dialoggen("--help")
    assert result.returncode == 0
    for command in ("chat", "models", "doctor"):
        assert command in result.stdout
    assert "--schema" in dialoggen("chat", "--help").stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--model", "/no/such/model"], 3, "model folder /no/such/model does not exist"),
        (
            ["--schema", str(DATA / "invalid.schema.json")],
            2,
            "invalid JSON schema at properties/a/type",
        ),
        (["--temperature", "9"], 2, "--temperature: Input should be less than or equal to 2"),
        (["--engine", "openai"], 2, "the openai engine needs base_url"),
    ],
)
def test_bad_input_gives_one_clear_line(args, code, message):
    result = dialoggen("chat", "hello", *args)
    assert result.returncode == code, result.stderr
    assert len(error_lines(result)) == 1 and message in error_lines(result)[0]
    assert "Traceback" not in result.stderr


def test_missing_server_gives_one_clear_line():
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = dialoggen("chat", "hello", "--engine", "openai", "--base-url", url)
    assert result.returncode == 4
    assert error_lines(result) == [
        f"error: cannot reach the OpenAI-compatible server at {url}: start it (e.g. `python -m "
        "vllm.entrypoints.openai.api_server --model DIR --port 8000`) or fix base_url"
    ]


@pytest.mark.model
def test_chat_through_a_server(vllm_server):
    result = dialoggen(
        "chat",
        "Name a colour.",
        "--engine",
        "openai",
        "--base-url",
        vllm_server,
        "--max-tokens",
        "12",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


@pytest.mark.model
def test_chat_on_the_embedded_model_in_process():
    result = dialoggen(
        "chat", "Describe a cat.", "--schema", str(DATA / "reply.schema.json"), "--max-tokens", "80"
    )
    assert result.returncode == 0, result.stderr
    assert set(__import__("json").loads(result.stdout)) == {"name", "mood", "score"}
    assert "SmolLM2-135M-Instruct (embedded)" in result.stderr
    assert "Exception ignored" not in result.stderr


def test_models_lists_the_embedded_model(embedded_model):
    result = dialoggen("models")
    assert result.returncode == 0
    assert "SmolLM2-135M-Instruct" in result.stdout and "ready" in result.stdout


def test_doctor_reports_tokens_without_printing_them(embedded_model):
    secret = "hf_doNotPrintThisToken123"
    result = dialoggen("doctor", env={"HF_TOKEN": secret, "COLUMNS": "200"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "present (from $HF_TOKEN)" in result.stdout
    assert secret not in result.stdout + result.stderr
