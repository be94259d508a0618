"""An OpenAI-compatible chat server over the in-process model, batched (``vlm2vla-serve``).

For machines without vLLM: it serves ``/v1/chat/completions``, ``/v1/models`` and ``/health``
with one model loaded by this package, so the runtime's remote backend (and any OpenAI client)
can use it. Two model names are listed: the served name (base + LoRA adapter) and the base name
(adapter disabled, for on-board verification), the latter only when an unmerged adapter is loaded.

HTTP: Starlette on uvicorn, the stack vLLM's own OpenAI server runs on (FastAPI is Starlette plus
pydantic validation, whose 422 replies are not OpenAI's 400 naming the field; the request is
validated by :mod:`vlm2vla_policy.serving.openai_request` instead). Connections are coroutines,
not threads, so slow clients cost no worker: a body not fully sent within ``socket_timeout_s``
gets HTTP 408, and at most ``max_connections`` connections are served at once (more get 503).

Batching: requests are decoded together by a
:class:`~vlm2vla_policy.runtime.batch_scheduler.BatchScheduler` (continuous batching: each
answer joins the running batch at the next step and leaves when done, each with its own
grammar, sampling settings and stop strings; each robot's prompt prefix is reused from the
prefix cache). A request waits at most ``request_timeout_s`` in all (HTTP 504 past it); at most
``max_pending`` wait for a batch slot (more get 503).

Safety: binds 127.0.0.1 unless told otherwise and then requires a bearer token (read from an
environment variable, never from the command line); bodies are JSON only (nothing is
unpickled), size-limited, images only as base64 data URLs (nothing is fetched).

Streaming: ``"stream": true`` answers with Server-Sent Events in OpenAI's chat.completion.chunk
format (a first chunk with the assistant role, one chunk per piece of text as the model writes it,
a last chunk with the finish reason, a usage chunk when ``stream_options.include_usage``, then
``data: [DONE]``). The response starts with the first piece, so a request that fails before any
text still gets a JSON error with its HTTP status; a failure after that ends the stream with an
``{"error": ...}`` event. A client that disconnects leaves the batch at the next step.

Guided decoding: a request's ``structured_outputs.regex`` (or ``guided_regex``) is honoured when
it is the regular expression of one of this package's stage grammars (exactly what the remote
backend sends); any other regex is refused with HTTP 400, since this server cannot constrain to it.
Every field is honoured as OpenAI documents it or refused with HTTP 400 naming it; ``stop`` is
cut by :class:`~vlm2vla_policy.serving.stop_text.StopText`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from vlm2vla_policy.language import AtTable, Grammar, LanguageConfig, Stage, grammar_for
from vlm2vla_policy.runtime.backends.base import Backend, Completion, GenerationRequest
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.backends.remote import DONE, TIMING_FIELD
from vlm2vla_policy.runtime.batch_scheduler import (
    BatchScheduler,
    GenerationTimeoutError,
    QueueFullError,
    SerialScheduler,
    Submission,
)
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
    max_batch: int = setting(8, "most answers decoded together in one batch", low=1)
    batch_window_s: float = setting(
        0.005,
        "how long an idle server waits after a request for others to batch with it (only "
        "while as many requests as were last served together have not arrived)",
        unit="s",
        low=0.0,
    )
    max_pending: int = setting(
        32, "requests waiting for a place in the batch; more get HTTP 503", low=1
    )
    max_connections: int = setting(
        128, "connections served at once (slow clients included); more get HTTP 503", low=1
    )
    request_timeout_s: float = setting(
        300.0,
        "longest time a request may take from its arrival to its answer's end (then HTTP 504; "
        "a started stream ends with an error event instead)",
        unit="s",
        above=0.0,
    )
    socket_timeout_s: float = setting(
        30.0,
        "longest time a client may take to send its request body (then HTTP 408)",
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


class ChatServer:
    """The HTTP server: Starlette on uvicorn, generation on a batch scheduler.

    An :class:`HFBackend` is batched; any other backend is answered one request at a time.
    ``serve_forever`` blocks (on the main thread it stops on SIGINT and SIGTERM); ``shutdown``
    stops it from another thread; ``server_close`` stops the scheduler and closes the socket.
    """

    def __init__(
        self,
        backend: HFBackend | Backend,
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
        if isinstance(backend, HFBackend):
            self.scheduler: BatchScheduler | SerialScheduler = BatchScheduler(
                backend, config.max_batch, config.max_pending, config.batch_window_s
            )
        else:
            self.scheduler = SerialScheduler(backend, config.max_pending)
        self.created = int(time.time())
        self.socket = socket.create_server((config.host, config.port), backlog=1024)
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                _app(self),
                http=_HalfCloseProtocol,
                lifespan="off",
                log_config=None,
                access_log=False,
                limit_concurrency=config.max_connections,
                timeout_graceful_shutdown=2,
            )
        )
        self._stopped = threading.Event()

    @property
    def server_address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        host, port = self.socket.getsockname()[:2]
        return host, port

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:8000/v1``."""
        host, port = self.server_address
        return f"http://{host}:{port}/v1"

    def model_names(self) -> list[str]:
        """Names listed at /v1/models."""
        names = [self.config.served_model_name]
        if self.backend.loaded.adapter_switchable:
            names.append(self.config.base_model_name)
        return names

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (or SIGINT/SIGTERM on the main thread)."""
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait until it returned."""
        self._uvicorn.should_exit = True
        self._stopped.wait(timeout=10)

    def server_close(self) -> None:
        """Stop the scheduler and close the socket."""
        self.scheduler.close()
        self.socket.close()

    def generation_request(self, chat: ChatRequest) -> tuple[GenerationRequest, str]:
        """What to generate for ``chat`` and the model name it asked for."""
        model = chat.model or self.config.served_model_name
        if model not in self.model_names():
            raise _HttpError(
                HTTPStatus.NOT_FOUND,
                f"model {model!r} is not served; choose one of {self.model_names()}",
                "not_found_error",
            )
        limit = self.config.max_tokens_limit
        sampling = SamplingConfig(
            temperature=chat.temperature,
            top_p=chat.top_p,
            max_new_tokens=min(chat.max_tokens or limit, limit),
        )
        use_adapter = model == self.config.served_model_name
        return GenerationRequest(chat.prompt, sampling, self._grammar(chat), use_adapter), model

    def _grammar(self, chat: ChatRequest) -> Grammar | None:
        if chat.regex is None:
            return None
        grammar = self.grammars.get(chat.regex)
        if grammar is None:
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                chat.regex_field,
                f"{chat.regex_field}: this server constrains only to the vlm2vla stage grammars "
                "(vlm2vla_policy.language.grammar_for(stage).regex); got another regex",
            )
        return grammar


class _HalfCloseProtocol(H11Protocol):
    """uvicorn's h11 protocol, answering a client that closed its sending side.

    uvicorn closes the connection when the client shuts down writing, so a client that sent a
    short body (or a whole request, then ``shutdown(SHUT_WR)``) never hears why; kept open, the
    first gets HTTP 408 at the body deadline and the second its answer.
    """

    def eof_received(self) -> bool:
        return True


def _app(server: ChatServer) -> Starlette:
    """The ASGI application of ``server``."""
    routes = _Routes(server)
    return Starlette(
        routes=[
            Route("/health", routes.health, methods=["GET"]),
            Route("/v1/models", routes.models, methods=["GET"]),
            Route("/v1/chat/completions", routes.chat, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_exception},
    )


class _Routes:
    """The endpoints; every error is an OpenAI error object with its HTTP status."""

    def __init__(self, server: ChatServer) -> None:
        self.server = server
        self.config = server.config

    async def health(self, _: Request) -> Response:
        stats = self.server.scheduler.stats()
        return JSONResponse({"status": "ok", "waiting": stats.waiting, "running": stats.running})

    async def models(self, request: Request) -> Response:
        return await _answer(lambda: self._models(request))

    async def chat(self, request: Request) -> Response:
        return await _answer(lambda: self._chat(request))

    async def _models(self, request: Request) -> Response:
        self._authorize(request)
        data = [
            {"id": name, "object": "model", "created": self.server.created, "owned_by": "vlm2vla"}
            for name in self.server.model_names()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _chat(self, request: Request) -> Response:
        arrived = time.monotonic()
        self._authorize(request)
        body = await self._read_body(request)
        chat = await asyncio.to_thread(lambda: parse_request(decode_body(body)))
        generation, model = self.server.generation_request(chat)
        deadline = arrived + self.config.request_timeout_s
        stop = StopText(chat.stop)
        if chat.stream:
            return await _Stream(self.server, model, chat.include_usage, stop).start(
                generation, deadline
            )
        sink = _stop_sink(stop) if stop.stops else None
        submission = _submit(self.server, generation, sink, deadline)
        completion = await _wait(submission, deadline)
        text = stop.text + stop.flush() if stop.stops else completion.text
        return JSONResponse(
            {
                **_header(f"chatcmpl-{uuid.uuid4().hex}", model, "chat.completion"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": _finish_reason(completion),
                    }
                ],
                "usage": _usage(completion.timing),
                TIMING_FIELD: completion.timing.to_dict(),
            }
        )

    def _authorize(self, request: Request) -> None:
        if not self.server.token:
            return
        header = request.headers.get("authorization", "")
        expected = f"Bearer {self.server.token}"
        if not hmac.compare_digest(header.encode(), expected.encode()):
            raise _HttpError(
                HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token", "authentication_error"
            )

    async def _read_body(self, request: Request) -> bytes:
        """The request body: JSON, within the size limit, fully sent within the socket timeout."""
        if "json" not in request.headers.get("content-type", ""):
            raise _HttpError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json"
            )
        try:
            length = int(request.headers.get("content-length", ""))
        except ValueError:
            raise _HttpError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header") from None
        limit = self.config.max_request_bytes
        timeout = self.config.socket_timeout_s
        if length > limit:
            await _read(request, min(length, DRAIN_FACTOR * limit), timeout)
            raise _HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body of {length} bytes exceeds the limit of {limit}; send smaller images",
            )
        body = await _read(request, length, timeout)
        if len(body) < length:
            raise _HttpError(
                HTTPStatus.REQUEST_TIMEOUT,
                f"the body ended {length - len(body)} bytes short of its Content-Length of "
                f"{length} (nothing more within {timeout} s)",
            )
        return body


def _submit(
    server: ChatServer,
    generation: GenerationRequest,
    sink: Callable[[str], None] | None,
    deadline: float,
) -> Submission:
    """Hand ``generation`` to the scheduler; HTTP 503 when its queue is full."""
    try:
        return server.scheduler.submit(generation, sink, deadline)
    except QueueFullError as exc:
        raise _HttpError(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), "busy") from None


async def _read(request: Request, length: int, timeout_s: float) -> bytes:
    """Up to ``length`` body bytes: what arrived within ``timeout_s`` or before the client left."""
    parts: list[bytes] = []
    received = 0

    async def collect() -> None:
        nonlocal received
        async for chunk in request.stream():
            parts.append(chunk)
            received += len(chunk)
            if received >= length:
                return

    with contextlib.suppress(TimeoutError, ClientDisconnect):
        await asyncio.wait_for(collect(), timeout_s)
    return b"".join(parts)[:length]


async def _answer(handler: Callable[[], Any]) -> Response:
    """Run ``handler``; turn the errors it raises into OpenAI error objects."""
    try:
        return await handler()
    except _HttpError as exc:
        return _error(exc.status, str(exc), exc.kind)
    except RequestError as exc:
        return _error(exc.status, str(exc), "invalid_request_error", exc.field)
    except GenerationTimeoutError as exc:
        return _error(HTTPStatus.GATEWAY_TIMEOUT, str(exc), "timeout")
    except PolicyRuntimeError as exc:
        return _error(HTTPStatus.BAD_REQUEST, str(exc), "invalid_request_error")
    except Exception:
        logger.exception("request failed")
        return JSONResponse(_server_error(), status_code=HTTPStatus.INTERNAL_SERVER_ERROR)


def _error(status: HTTPStatus, message: str, kind: str, param: str | None = None) -> Response:
    error: dict[str, Any] = {"message": message, "type": kind}
    if param is not None:
        error["param"] = param
    error["code"] = int(status)
    headers = {"Connection": "close"} if status in _CLOSING else None
    return JSONResponse({"error": error}, status_code=status, headers=headers)


_CLOSING = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.REQUEST_ENTITY_TOO_LARGE})
"""Replies after which the connection closes (the body may be unread)."""


async def _http_exception(_: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such path, wrong method) as OpenAI error objects."""
    status = HTTPStatus(getattr(exc, "status_code", 500))
    kind = "not_found_error" if status == HTTPStatus.NOT_FOUND else "invalid_request_error"
    return _error(status, str(getattr(exc, "detail", status.phrase)), kind)


async def _wait(submission: Submission, deadline: float) -> Completion:
    """The completion of ``submission``; HTTP 504 once ``deadline`` passed (it is cancelled)."""
    try:
        return await asyncio.wait_for(
            asyncio.wrap_future(submission.future), max(0.0, deadline - time.monotonic()) + 0.5
        )
    except TimeoutError:
        raise GenerationTimeoutError("generation took too long (request deadline)") from None
    finally:
        submission.cancel()


def _stop_sink(stop: StopText) -> Callable[[str], None]:
    """A text sink that feeds ``stop`` and ends the generation at its first stop string."""

    def sink(piece: str) -> None:
        if not stop.stopped:
            stop.feed(piece)
            if stop.stopped:
                raise StopGeneration

    return sink


class _Stream:
    """One streamed answer: the scheduler's text sink queues pieces; the response relays them."""

    def __init__(self, server: ChatServer, model: str, include_usage: bool, stop: StopText) -> None:
        self.server = server
        self.model = model
        self.include_usage = include_usage
        self.stop = stop
        self.loop = asyncio.get_running_loop()
        self.pieces: asyncio.Queue[str | None] = asyncio.Queue()
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.submission: Submission | None = None

    async def start(self, generation: GenerationRequest, deadline: float) -> Response:
        """Submit the request; the event stream once its first piece is there (else the error)."""
        self.submission = _submit(self.server, generation, self._sink, deadline)
        self.submission.future.add_done_callback(lambda _: self._put(None))
        try:
            first = await self._next(deadline)
            if first is None:
                self.submission.future.result()  # raises the request's error, if any
        except BaseException:
            self.submission.cancel()
            raise
        return StreamingResponse(
            self._events(first, deadline),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    def _sink(self, piece: str) -> None:
        """The scheduler's on_text (its thread): queue the text up to a stop string."""
        if self.stop.stopped:
            return
        text = self.stop.feed(piece)
        if text:
            self._put(text)
        if self.stop.stopped:
            raise StopGeneration

    def _put(self, item: str | None) -> None:
        self.loop.call_soon_threadsafe(self.pieces.put_nowait, item)

    async def _next(self, deadline: float) -> str | None:
        """The next queued piece (None: the generation ended); a timeout past ``deadline``."""
        try:
            return await asyncio.wait_for(self.pieces.get(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise GenerationTimeoutError("generation took too long (request deadline)") from None

    async def _events(self, first: str | None, deadline: float) -> AsyncIterator[str]:
        submission = self.submission
        try:
            yield self._event(self._chunk({"role": "assistant", "content": ""}))
            piece = first
            while piece is not None:
                yield self._event(self._chunk({"content": piece}))
                piece = await self._next(deadline)
            completion = submission.future.result()
            held = self.stop.flush()
            if held:
                yield self._event(self._chunk({"content": held}))
            yield self._event(self._chunk({}, _finish_reason(completion)))
            if self.include_usage:
                timing = completion.timing
                usage = {"usage": _usage(timing), TIMING_FIELD: timing.to_dict()}
                header = _header(self.id, self.model, CHUNK_OBJECT)
                yield self._event({**header, "choices": [], **usage})
        except Exception as exc:
            yield self._event({"error": _stream_error(exc)})
        finally:
            submission.cancel()
        yield self._event(DONE)

    def _chunk(self, delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {**_header(self.id, self.model, CHUNK_OBJECT), "choices": [choice]}

    @staticmethod
    def _event(event: dict[str, Any] | str) -> str:
        data = event if isinstance(event, str) else json.dumps(event)
        return f"data: {data}\n\n"


def _stream_error(exc: Exception) -> dict[str, Any]:
    """The error event of a started stream that failed."""
    if isinstance(exc, GenerationTimeoutError):
        return {"message": str(exc), "type": "timeout"}
    if isinstance(exc, PolicyRuntimeError):
        return {"message": str(exc), "type": "invalid_request_error"}
    logger.error("streamed request failed", exc_info=exc)
    return _server_error()["error"]


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
