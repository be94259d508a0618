"""A small OpenAI-compatible chat server over the in-process backend (``vlm2vla-serve``).

For machines without vLLM: it serves ``/v1/chat/completions``, ``/v1/models`` and ``/health``
with one model loaded by this package, so the runtime's remote backend (and any OpenAI client)
can use it. Two model names are listed: the served name (base + LoRA adapter) and the base name
(adapter disabled, for on-board verification), the latter only when an unmerged adapter is loaded.

Safety: binds 127.0.0.1 unless told otherwise and then requires a bearer token (read from an
environment variable, never from the command line); bodies are JSON only (nothing is
unpickled), size-limited, images only as base64 data URLs (nothing is fetched); generation runs
on one worker thread off the accept loop, with a bounded queue (HTTP 503 when full).

Guided decoding: a request's ``structured_outputs.regex`` (or ``guided_regex``) is honoured when
it is the regular expression of one of this package's stage grammars (exactly what the remote
backend sends); any other regex is refused with HTTP 400, since this server cannot constrain to it.
"""

from __future__ import annotations

import concurrent.futures
import hmac
import ipaddress
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vlm2vla_policy.language import AtTable, Grammar, LanguageConfig, Stage, grammar_for
from vlm2vla_policy.runtime.backends.base import GenerationRequest
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.backends.remote import TIMING_FIELD
from vlm2vla_policy.runtime.chat import ChatFormatError, from_openai_messages
from vlm2vla_policy.runtime.config import SamplingConfig
from vlm2vla_policy.runtime.errors import PolicyRuntimeError, RuntimeConfigError

logger = logging.getLogger("vlm2vla_serve")

DRAIN_FACTOR = 4
"""A refused body up to this many times the size limit is read and dropped before replying."""


@dataclass(frozen=True)
class ServeConfig:
    """How the server listens and what it accepts."""

    # Address to bind; anything but a loopback address requires a bearer token.
    host: str = "127.0.0.1"
    # TCP port; 0 lets the OS choose (the chosen port is in the ready log line).
    port: int = 8000
    # Model name of the base model + adapter in /v1/models and requests.
    served_model_name: str = "vlm2vla"
    # Model name of the base model with the adapter disabled (listed only if switchable).
    base_model_name: str = "base"
    # Environment variable holding the bearer token; empty/unset means no token.
    api_key_env: str = "VLM2VLA_API_KEY"
    # Largest request body in bytes (two 896x896 PNG images are about 5 MB in base64).
    max_request_bytes: int = 16 * 1024 * 1024
    # Largest max_tokens a request may ask for.
    max_tokens_limit: int = 1024
    # Requests waiting or running at once; more get HTTP 503.
    max_pending: int = 8
    # Seconds a request may wait for its generation before HTTP 504.
    request_timeout_s: float = 300.0
    # Seconds a client may take to send its request before the connection is closed.
    socket_timeout_s: float = 30.0


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

    def _post(self) -> dict[str, Any]:
        if self.path.rstrip("/") != "/v1/chat/completions":
            raise _HttpError(HTTPStatus.NOT_FOUND, f"no such path {self.path}", "not_found_error")
        self._authorize()
        body = self._read_json()
        request, model = self._generation_request(body)
        if not self.server.slots.acquire(blocking=False):
            raise _HttpError(
                HTTPStatus.SERVICE_UNAVAILABLE, "too many requests queued; retry later", "busy"
            )
        try:
            future = self.server.worker.submit(self.server.backend.complete, request)
            try:
                completion = future.result(timeout=self.server.config.request_timeout_s)
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise _HttpError(
                    HTTPStatus.GATEWAY_TIMEOUT, "generation took too long", "timeout"
                ) from None
        finally:
            self.server.slots.release()
        timing = completion.timing
        prompt_tokens = timing.prefill_tokens + timing.reused_tokens
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": completion.text},
                    "finish_reason": "stop" if completion.finished else "length",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": timing.decoded_tokens,
                "total_tokens": prompt_tokens + timing.decoded_tokens,
            },
            TIMING_FIELD: timing.to_dict(),
        }

    def _authorize(self) -> None:
        if not self.server.token:
            return
        header = self.headers.get("Authorization", "")
        expected = f"Bearer {self.server.token}"
        if not hmac.compare_digest(header.encode(), expected.encode()):
            raise _HttpError(
                HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token", "authentication_error"
            )

    def _read_json(self) -> dict[str, Any]:
        if "json" not in self.headers.get("Content-Type", ""):
            raise _HttpError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json"
            )
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise _HttpError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header") from None
        if length < 0 or length > self.server.config.max_request_bytes:
            self._discard(length)
            raise _HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body of {length} bytes exceeds the limit of "
                f"{self.server.config.max_request_bytes}; send smaller images",
            )
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _HttpError(HTTPStatus.BAD_REQUEST, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _HttpError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def _discard(self, length: int) -> None:
        """Read and drop a refused body (up to 4x the limit) so the client sees the 413 reply.

        A client still sending when the connection closes gets a broken pipe instead of the
        reason; anything larger than the drain bound is cut off regardless.
        """
        remaining = min(length, DRAIN_FACTOR * self.server.config.max_request_bytes)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)

    def _generation_request(self, body: dict[str, Any]) -> tuple[GenerationRequest, str]:
        model = body.get("model", self.server.config.served_model_name)
        if model not in self.server.model_names():
            raise _HttpError(
                HTTPStatus.NOT_FOUND,
                f"model {model!r} is not served; choose one of {self.server.model_names()}",
                "not_found_error",
            )
        if body.get("stream"):
            raise _HttpError(HTTPStatus.BAD_REQUEST, "streaming is not supported; omit 'stream'")
        if body.get("n", 1) != 1:
            raise _HttpError(HTTPStatus.BAD_REQUEST, "only n=1 is supported")
        limit = self.server.config.max_tokens_limit
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or limit
        try:
            sampling = SamplingConfig(
                temperature=float(body.get("temperature", 1.0)),
                top_p=float(body.get("top_p", 1.0)),
                max_new_tokens=min(int(max_tokens), limit),
            )
            prompt = from_openai_messages(body.get("messages"))
        except (RuntimeConfigError, ChatFormatError, TypeError, ValueError) as exc:
            raise _HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        grammar = self._grammar(body)
        use_adapter = model == self.server.config.served_model_name
        return GenerationRequest(prompt, sampling, grammar, use_adapter), model

    def _grammar(self, body: dict[str, Any]) -> Grammar | None:
        structured = body.get("structured_outputs")
        regex = structured.get("regex") if isinstance(structured, dict) else None
        regex = regex or body.get("guided_regex")
        if regex is None:
            return None
        grammar = self.server.grammars.get(regex)
        if grammar is None:
            raise _HttpError(
                HTTPStatus.BAD_REQUEST,
                "this server constrains only to the vlm2vla stage grammars "
                "(vlm2vla_policy.language.grammar_for(stage).regex); got another regex",
            )
        return grammar

    def _respond(self, handler: Any) -> None:
        try:
            status, payload = HTTPStatus.OK, handler()
        except _HttpError as exc:
            # The body may be unread: do not parse it as the next request.
            self.close_connection = True
            status = exc.status
            payload = {"error": {"message": str(exc), "type": exc.kind, "code": int(exc.status)}}
        except PolicyRuntimeError as exc:
            status = HTTPStatus.BAD_REQUEST
            payload = {"error": {"message": str(exc), "type": "invalid_request_error"}}
        except Exception:
            logger.exception("request failed")
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            payload = {
                "error": {"message": "internal error; see the server log", "type": "server_error"}
            }
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


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
