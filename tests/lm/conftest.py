"""Fixtures for LM tests: a local fake OpenAI chat-completions server."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

OK_REPLY = "hello from the fake server"


@dataclass
class FakeOpenAIServer:
    """State of the fake server: a script of failure modes, then success."""

    url: str = ""
    script: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hang_seconds: float = 5.0
    reply: str = OK_REPLY

    def next_mode(self, body: dict[str, Any]) -> str:
        with self.lock:
            self.requests.append(body)
            return self.script.pop(0) if self.script else "ok"

    @property
    def calls(self) -> int:
        with self.lock:
            return len(self.requests)


def _completion(body: dict[str, Any], *, content: Any = OK_REPLY, choices: bool = True) -> bytes:
    payload: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ]
        if choices
        else [],
        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16},
    }
    return json.dumps(payload).encode()


def _make_handler(state: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            body["_authorization"] = self.headers.get("Authorization")
            mode = state.next_mode(body)
            error = json.dumps({"error": {"message": f"mode {mode}", "type": "test"}}).encode()
            if mode == "ok":
                self._send(200, _completion(body, content=state.reply))
            elif mode == "500":
                self._send(500, error)
            elif mode == "429":
                self._send(429, error, {"Retry-After": "1"})
            elif mode == "429bare":
                self._send(429, error)
            elif mode == "429long":
                self._send(429, error, {"Retry-After": "120"})
            elif mode == "503":
                self._send(503, error)
            elif mode == "truncated":  # a body cut short, then the connection closes
                whole = _completion(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(whole)))
                self.end_headers()
                self.wfile.write(whole[: len(whole) // 2])
                self.wfile.flush()
                self.close_connection = True
            elif mode == "surrogate":  # an emoji cut in half by max_tokens: a lone surrogate
                self._send(200, _completion(body, content="caf\udce9 \ud83d"))
            elif mode == "400":
                self._send(400, error)
            elif mode == "401":
                self._send(401, error)
            elif mode == "malformed":
                self._send(200, b'{"choices": [ this is not json')
            elif mode == "nochoices":
                self._send(200, _completion(body, choices=False))
            elif mode == "nocontent":
                self._send(200, _completion(body, content=None))
            elif mode == "hang":
                state.release.wait(state.hang_seconds)
                with contextlib.suppress(OSError):  # the client gave up already
                    self._send(200, _completion(body))
            else:
                raise AssertionError(f"unknown mode {mode}")

    return Handler


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server on 127.0.0.1 (random port), reset per test."""
    state = FakeOpenAIServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5.0)


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a real key or endpoint."""
    for name in ("OPENAI_API_KEY", "GEPAKIT_TEST_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
