"""The openai engine: against a real `vllm serve` of the embedded model, and against a
flaky loopback server for the retry bounds."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import pytest

from dialoggen.config import EngineConfig, SamplingConfig
from dialoggen.engines import create_engine
from dialoggen.errors import ConfigError, EngineUnavailableError
from tests.conftest import DATA, free_port


@pytest.mark.model
def test_plain_chat_through_vllm_serve(vllm_server):
    with create_engine(EngineConfig(name="openai", base_url=vllm_server)) as engine:
        assert "SmolLM2" in engine.model_label  # the server's first model, found by itself
        batch = [[{"role": "user", "content": f"Say hello to {n}."}] for n in ("Ana", "Bo", "Cy")]
        replies = engine.chat(batch, SamplingConfig(max_tokens=20))
    assert [bool(r.text.strip()) for r in replies] == [True, True, True]
    assert all(r.completion_tokens > 0 for r in replies)


@pytest.mark.model
def test_schema_constrained_chat_through_vllm_serve(vllm_server):
    schema = json.loads((DATA / "reply.schema.json").read_text())
    prompt = [{"role": "user", "content": "Describe a dog as JSON with name, mood and score."}]
    with create_engine(EngineConfig(name="openai", base_url=vllm_server)) as engine:
        replies = engine.chat([prompt] * 3, SamplingConfig(max_tokens=80), schema)
    for reply in replies:
        assert reply.ok, reply.invalid
        jsonschema.validate(reply.parsed, schema)


def test_missing_server_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EngineUnavailableError, match="cannot reach .* at " + url):
        create_engine(EngineConfig(name="openai", base_url=url))  # asks /models first
    config = EngineConfig(name="openai", base_url=url, model="m", max_retries=1)
    with create_engine(config) as engine, pytest.raises(EngineUnavailableError, match=url):
        engine.chat([[{"role": "user", "content": "ping"}]])


def test_openai_engine_needs_a_base_url():
    with pytest.raises(ConfigError, match="base_url"):
        create_engine(EngineConfig(name="openai"))


class FlakyServer(ThreadingHTTPServer):
    """Answers the first ``failures`` chat requests with HTTP 503, then a real completion."""

    def __init__(self, failures: int) -> None:
        super().__init__(("127.0.0.1", 0), FlakyHandler)
        self.failures = failures
        self.posts = 0


class FlakyHandler(BaseHTTPRequestHandler):
    server: FlakyServer

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts += 1
        if self.server.posts <= self.server.failures:
            self.send_response(503)
            body = b'{"error": {"message": "busy"}}'
        else:
            self.send_response(200)
            body = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "pong"},
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                }
            ).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def flaky():
    servers = []

    def start(failures: int) -> FlakyServer:
        server = FlakyServer(failures)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()


def _engine(server: FlakyServer, retries: int):
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    return create_engine(EngineConfig(name="openai", base_url=url, model="m", max_retries=retries))


def test_transient_errors_are_retried(flaky):
    server = flaky(failures=2)
    with _engine(server, retries=3) as engine:
        reply = engine.chat([[{"role": "user", "content": "ping"}]])[0]
    assert reply.text == "pong" and reply.completion_tokens == 1
    assert server.posts == 3


def test_retries_are_bounded(flaky):
    server = flaky(failures=100)
    with _engine(server, retries=2) as engine, pytest.raises(EngineUnavailableError):
        engine.chat([[{"role": "user", "content": "ping"}]])
    assert server.posts == 3  # one try and two retries, then a clear error
