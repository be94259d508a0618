"""A small OpenAI-compatible chat server over the in-process backend (``vlm2vla-serve``).

For machines without vLLM: it serves ``/v1/chat/completions``, ``/v1/models`` and ``/health``
with one model loaded by this package, so the runtime's remote backend (and any OpenAI client)
can use it. Two model names are listed: the served name (base + LoRA adapter) and the base name
(adapter disabled, for on-board verification), the latter only when an unmerged adapter is loaded.

Safety: binds 127.0.0.1 unless told otherwise and then requires a bearer token (read from an
environment variable, never from the command line); bodies are JSON only (nothing is
unpickled), size-limited, images only as base64 data URLs (nothing is fetched); generation runs
on one worker thread off the accept loop, with a bounded queue (HTTP 503 when full).

Streaming: ``"stream": true`` answers with Server-Sent Events in OpenAI's chat.completion.chunk
format (a first chunk with the assistant role, one chunk per piece of text as the model writes it,
a last chunk with the finish reason, a usage chunk when ``stream_options.include_usage``, then
``data: [DONE]``), each event written and flushed as soon as the piece is decoded. The response
starts with the first piece, so a request that fails before any text still gets a JSON error
with its HTTP status; a failure after that ends the stream with an ``{"error": ...}`` event. A
client that disconnects stops its generation at the next piece, freeing the worker.

Guided decoding: a request's ``structured_outputs.regex`` (or ``guided_regex``) is honoured when
it is the regular expression of one of this package's stage grammars (exactly what the remote
backend sends); any other regex is refused with HTTP 400, since this server cannot constrain to it.

Requests are validated by :mod:`vlm2vla_policy.serving.openai_request` (every field honoured as
OpenAI documents it, or refused with HTTP 400 naming it; ``stop`` is cut by
:class:`~vlm2vla_policy.serving.stop_text.StopText`); this module only maps that onto HTTP. A body
not fully sent within ``socket_timeout_s`` gets HTTP 408.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hmac
import ipaddress
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vlm2vla_policy.language import AtTable, Grammar, LanguageConfig, Stage, grammar_for
from vlm2vla_policy.runtime.backends.base import Completion, GenerationRequest
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.backends.remote import DONE, TIMING_FIELD
from vlm2vla_policy.runtime.config import RemoteConfig, SamplingConfig
from vlm2vla_policy.runtime.errors import PolicyRuntimeError, RuntimeConfigError
from vlm2vla_policy.runtime.generation import StopGeneration
from vlm2vla_policy.runtime.timing import Timing
from vlm2vla_policy.serving.openai_request import (
    ChatRequest,
    RequestError,
    decode_body,
    parse_request,
)
from vlm2vla_policy.serving.stop_text import StopText
from vlm2vla_policy.settings import like, nonempty, setting, validate

logger = logging.getLogger("vlm2vla_serve")

DRAIN_FACTOR = 4
"""A refused body up to this many times the size limit is read and dropped before replying."""

CHUNK_OBJECT = "chat.completion.chunk"
"""The ``object`` of each event of a streamed answer."""


@dataclass(frozen=True)
class ServeConfig:
    """How the server listens and what it accepts."""

    host: str = setting(
        "127.0.0.1",
        "address to bind; anything but a loopback address needs a bearer token",
        check=nonempty,
    )
    port: int = setting(
        8000, "TCP port; 0 picks a free one (named in the ready log line)", low=0, high=65535
    )
    served_model_name: str = setting(
        "vlm2vla", "model name of the base model + adapter in /v1/models and requests",
        check=nonempty,
    )  # fmt: skip
    base_model_name: str = setting(
        "base", "model name of the base model with the adapter disabled (listed if switchable)",
        check=nonempty,
    )  # fmt: skip
    api_key_env: str = like(RemoteConfig, "api_key_env")  # the client's default is the server's
    max_request_bytes: int = setting(
        16 * 1024 * 1024,
        "largest request body (two 896x896 PNG images are about 5 MB in base64)",
        unit="bytes",
        low=1,
    )
    max_tokens_limit: int = setting(1024, "largest max_tokens a request may ask for", low=1)
    max_pending: int = setting(8, "requests waiting or running at once; more get HTTP 503", low=1)
    request_timeout_s: float = setting(
        300.0,
        "longest wait of a request for its generation before HTTP 504 (a started stream ends "
        "with an error event instead)",
        unit="s",
        above=0.0,
    )
    socket_timeout_s: float = setting(
        30.0,
        "longest time a client may take to send its request body (then HTTP 408), and each "
        "header line",
        unit="s",
        above=0.0,
    )

    def __post_init__(self) -> None:
        validate(self, RuntimeConfigError)


class _HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.kind = kind


class ChatServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection, one generation worker."""

    daemon_threads = True

    def __init__(
        self,
        backend: HFBackend,
        config: ServeConfig,
        language: LanguageConfig | None = None,
        at_table: AtTable | None = None,
    ) -> None:
        token = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
        if not token and not _is_loopback(config.host):
            raise RuntimeConfigError(
                f"binding {config.host} exposes the model beyond this machine; set a bearer "
                f"token in ${config.api_key_env} (or bind 127.0.0.1)"
            )
        self.backend = backend
        self.config = config
        self.token = token
        self.grammars = _known_grammars(language or LanguageConfig(), at_table)
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="generate")
        self.slots = threading.BoundedSemaphore(config.max_pending)
        self.created = int(time.time())
        super().__init__((config.host, config.port), _Handler)

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:8000/v1``."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def model_names(self) -> list[str]:
        """Names listed at /v1/models."""
        names = [self.config.served_model_name]
        if self.backend.loaded.adapter_switchable:
            names.append(self.config.base_model_name)
        return names

    def server_close(self) -> None:
        """Stop the worker and close the socket."""
        self.worker.shutdown(wait=False, cancel_futures=True)
        super().server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.config.socket_timeout_s
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class name)
        logger.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._respond(self._get)

    def do_POST(self) -> None:
        self._respond(self._post)

    def _get(self) -> dict[str, Any]:
        path = self.path.rstrip("/")
        if path == "/health":
            return {"status": "ok"}
        self._authorize()
        if path == "/v1/models":
            data = [
                {
                    "id": name,
                    "object": "model",
                    "created": self.server.created,
                    "owned_by": "vlm2vla",
                }
                for name in self.server.model_names()
            ]
            return {"object": "list", "data": data}
        raise _HttpError(HTTPStatus.NOT_FOUND, f"no such path {self.path}", "not_found_error")

    def _post(self) -> dict[str, Any] | None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            raise _HttpError(HTTPStatus.NOT_FOUND, f"no such path {self.path}", "not_found_error")
        self._authorize()
        chat = parse_request(decode_body(self._read_body()))
        request, model = self._generation_request(chat)
        if not self.server.slots.acquire(blocking=False):
            raise _HttpError(
                HTTPStatus.SERVICE_UNAVAILABLE, "too many requests queued; retry later", "busy"
            )
        try:
            if chat.stream:
                _ChunkStream(self, model, chat.include_usage, StopText(chat.stop)).run(request)
                return None
            completion = self._generate(request, StopText(chat.stop))
        finally:
            self.server.slots.release()
        timing = completion.timing
        return {
            **_header(f"chatcmpl-{uuid.uuid4().hex}", model, "chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": completion.text},
                    "finish_reason": _finish_reason(completion),
                }
            ],
            "usage": _usage(timing),
            TIMING_FIELD: timing.to_dict(),
        }

    def _generate(self, request: GenerationRequest, stop: StopText) -> Completion:
        """Generate ``request`` on the worker; its text cut before the first stop string."""

        def sink(piece: str) -> None:
            if not stop.stopped:
                stop.feed(piece)
                if stop.stopped:
                    raise StopGeneration

        sink_or_none = sink if stop.stops else None
        future = self.server.worker.submit(self.server.backend.complete, request, sink_or_none)
        try:
            completion = future.result(timeout=self.server.config.request_timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise _HttpError(
                HTTPStatus.GATEWAY_TIMEOUT, "generation took too long", "timeout"
            ) from None
        if not stop.stops:
            return completion
        return dataclasses.replace(completion, text=stop.text + stop.flush())

    def _authorize(self) -> None:
        if not self.server.token:
            return
        header = self.headers.get("Authorization", "")
        expected = f"Bearer {self.server.token}"
        if not hmac.compare_digest(header.encode(), expected.encode()):
            raise _HttpError(
                HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token", "authentication_error"
            )

    def _read_body(self) -> bytes:
        """The request body: JSON, within the size limit, fully sent within the socket timeout."""
        if "json" not in self.headers.get("Content-Type", ""):
            raise _HttpError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json"
            )
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise _HttpError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header") from None
        if length < 0:
            raise _HttpError(HTTPStatus.BAD_REQUEST, "Content-Length must not be negative")
        if length > self.server.config.max_request_bytes:
            self._discard(length)
            raise _HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body of {length} bytes exceeds the limit of "
                f"{self.server.config.max_request_bytes}; send smaller images",
            )
        return self._read_exactly(length)

    def _read_exactly(self, length: int) -> bytes:
        """``length`` body bytes, all within ``socket_timeout_s``; HTTP 408 when they stop."""
        deadline = time.monotonic() + self.server.config.socket_timeout_s
        parts: list[bytes] = []
        remaining = length
        try:
            while remaining > 0:
                self.connection.settimeout(max(1e-3, deadline - time.monotonic()))
                chunk = self.rfile.read1(min(remaining, 1 << 16))
                if not chunk:
                    break
                parts.append(chunk)
                remaining -= len(chunk)
        except TimeoutError:
            pass
        finally:
            self.connection.settimeout(self.server.config.socket_timeout_s)
        if remaining > 0:
            raise _HttpError(
                HTTPStatus.REQUEST_TIMEOUT,
                f"the body ended {remaining} bytes short of its Content-Length of {length} "
                f"(nothing more within {self.server.config.socket_timeout_s} s)",
            )
        return b"".join(parts)

    def _discard(self, length: int) -> None:
        """Read and drop a refused body (up to 4x the limit) so the client sees the 413 reply.

        A client still sending when the connection closes gets a broken pipe instead of the
        reason; anything larger than the drain bound is cut off regardless.
        """
        remaining = min(length, DRAIN_FACTOR * self.server.config.max_request_bytes)
        try:
            while remaining > 0:
                chunk = self.rfile.read1(min(remaining, 1 << 16))
                if not chunk:
                    break
                remaining -= len(chunk)
        except TimeoutError:
            pass  # the client stopped sending: reply now

    def _generation_request(self, chat: ChatRequest) -> tuple[GenerationRequest, str]:
        model = chat.model or self.server.config.served_model_name
        if model not in self.server.model_names():
            raise _HttpError(
                HTTPStatus.NOT_FOUND,
                f"model {model!r} is not served; choose one of {self.server.model_names()}",
                "not_found_error",
            )
        limit = self.server.config.max_tokens_limit
        sampling = SamplingConfig(
            temperature=chat.temperature,
            top_p=chat.top_p,
            max_new_tokens=min(chat.max_tokens or limit, limit),
        )
        use_adapter = model == self.server.config.served_model_name
        return GenerationRequest(chat.prompt, sampling, self._grammar(chat), use_adapter), model

    def _grammar(self, chat: ChatRequest) -> Grammar | None:
        if chat.regex is None:
            return None
        grammar = self.server.grammars.get(chat.regex)
        if grammar is None:
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                chat.regex_field,
                f"{chat.regex_field}: this server constrains only to the vlm2vla stage grammars "
                "(vlm2vla_policy.language.grammar_for(stage).regex); got another regex",
            )
        return grammar

    def _respond(self, handler: Callable[[], dict[str, Any] | None]) -> None:
        """Run ``handler`` and send its JSON payload (None: it answered itself)."""
        try:
            status, payload = HTTPStatus.OK, handler()
        except _HttpError as exc:
            # The body may be unread: do not parse it as the next request.
            self.close_connection = True
            status = exc.status
            payload = {"error": {"message": str(exc), "type": exc.kind, "code": int(exc.status)}}
        except RequestError as exc:
            status = exc.status
            payload = {
                "error": {
                    "message": str(exc),
                    "type": "invalid_request_error",
                    "param": exc.field,
                    "code": int(exc.status),
                }
            }
        except PolicyRuntimeError as exc:
            status = HTTPStatus.BAD_REQUEST
            payload = {"error": {"message": str(exc), "type": "invalid_request_error"}}
        except Exception:
            logger.exception("request failed")
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            payload = _server_error()
        if payload is None:
            return
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


class _ClientGoneError(Exception):
    """Raised by a stream's text sink when its client went away (ends the generation)."""


class _ChunkStream:
    """One streamed answer: generation on the server's worker, events written by the handler.

    The worker's text sink queues each piece; the handler thread writes it as an event at once,
    so a slow client never stalls the worker. The response (status 200, chunked
    ``text/event-stream``) starts with the first piece.
    """

    def __init__(self, handler: _Handler, model: str, include_usage: bool, stop: StopText) -> None:
        self.handler = handler
        self.model = model
        self.include_usage = include_usage
        self.stop = stop
        self.pieces: queue.Queue[str | None] = queue.Queue()
        self.gone = threading.Event()
        self.started = False
        self.id = f"chatcmpl-{uuid.uuid4().hex}"

    def run(self, request: GenerationRequest) -> None:
        """Generate ``request`` and stream it; raise (before the response started) to refuse."""
        server = self.handler.server
        future = server.worker.submit(server.backend.complete, request, self._sink)
        future.add_done_callback(lambda _: self.pieces.put(None))
        try:
            self._relay(time.monotonic() + server.config.request_timeout_s)
            completion = future.result()
            self._finish(completion)
        except _ClientGoneError as exc:
            logger.info("%s: %s; generation stopped", self.handler.address_string(), exc)
            self.handler.close_connection = True
        except Exception as exc:
            if not self.started:
                raise
            self._fail(exc)
        finally:
            self.gone.set()
            future.cancel()

    def _sink(self, piece: str) -> None:
        """The backend's on_text: queue ``piece`` up to a stop string; raise once the client left.

        Raises :class:`StopGeneration` when a stop string appears (the pieces after it are not
        queued).
        """
        if self.gone.is_set():
            raise _ClientGoneError("the client closed the stream")
        if self.stop.stopped:
            return
        text = self.stop.feed(piece)
        if text:
            self.pieces.put(text)
        if self.stop.stopped:
            raise StopGeneration

    def _relay(self, deadline: float) -> None:
        """Write each queued piece as a content event until the generation ends."""
        while True:
            try:
                piece = self.pieces.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise _HttpError(
                    HTTPStatus.GATEWAY_TIMEOUT, "generation took too long", "timeout"
                ) from None
            if piece is None:
                return
            self._send(self._chunk({"content": piece}))

    def _finish(self, completion: Completion) -> None:
        held = self.stop.flush()
        if held:
            self._send(self._chunk({"content": held}))
        self._send(self._chunk({}, _finish_reason(completion)))
        if self.include_usage:
            timing = completion.timing
            usage = {"usage": _usage(timing), TIMING_FIELD: timing.to_dict()}
            self._send({**_header(self.id, self.model, CHUNK_OBJECT), "choices": [], **usage})
        self._send(DONE)
        self._write(b"")  # the last, empty chunk of the chunked body

    def _fail(self, exc: Exception) -> None:
        """End a started stream with an error event (the status line is already sent)."""
        if isinstance(exc, _HttpError | PolicyRuntimeError):
            error = {"message": str(exc), "type": getattr(exc, "kind", "invalid_request_error")}
        else:
            logger.error("streamed request failed", exc_info=exc)
            error = _server_error()["error"]
        self.handler.close_connection = True
        try:
            self._send({"error": error})
            self._send(DONE)
            self._write(b"")
        except _ClientGoneError:
            pass  # the client went away as well

    def _chunk(self, delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {**_header(self.id, self.model, CHUNK_OBJECT), "choices": [choice]}

    def _send(self, event: dict[str, Any] | str) -> None:
        """Write one Server-Sent Event (a JSON object or the DONE marker) and flush it."""
        if not self.started:
            self._start()
        data = event if isinstance(event, str) else json.dumps(event)
        self._write(f"data: {data}\n\n".encode())

    def _start(self) -> None:
        self.started = True
        handler = self.handler
        handler.send_response(HTTPStatus.OK)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        self._send(self._chunk({"role": "assistant", "content": ""}))

    def _write(self, data: bytes) -> None:
        """One chunk of the chunked body (b"": the terminating chunk)."""
        try:
            self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.handler.wfile.flush()
        except OSError as exc:
            raise _ClientGoneError(f"the client closed the stream ({exc})") from None


def _header(completion_id: str, model: str, kind: str) -> dict[str, Any]:
    """The fields every completion object and chunk starts with."""
    return {
        "id": completion_id,
        "object": kind,
        "created": int(time.time()),
        "model": model,
    }


def _finish_reason(completion: Completion) -> str:
    return "stop" if completion.finished else "length"


def _usage(timing: Timing) -> dict[str, int]:
    """The OpenAI usage object of ``timing`` (prompt tokens count the reused ones)."""
    prompt_tokens = timing.prefill_tokens + timing.reused_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": timing.decoded_tokens,
        "total_tokens": prompt_tokens + timing.decoded_tokens,
    }


def _server_error() -> dict[str, Any]:
    return {"error": {"message": "internal error; see the server log", "type": "server_error"}}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _known_grammars(language: LanguageConfig, at_table: AtTable | None) -> dict[str, Grammar]:
    grammars = {}
    for stage in Stage:
        if stage is Stage.CHUNK and language.chunk.encoding == "at" and at_table is None:
            continue
        grammar = grammar_for(stage, language, at_table)
        grammars[grammar.regex] = grammar
    return grammars
