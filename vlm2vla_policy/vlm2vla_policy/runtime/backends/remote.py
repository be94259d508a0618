"""The remote backend: an OpenAI-compatible chat-completions server (vLLM, ``vlm2vla-serve``).

Images travel as base64 data URLs. A request with a grammar carries its regular expression as the
server's guided-decoding parameter (:attr:`RemoteConfig.guided_decoding`); a server that honours
it constrains the answer, one that does not is covered by the policy's bounded retry. Whether it
honoured it is checked: a finished answer outside the grammar is reported as unconstrained, with
the field the server ignored (:attr:`Completion.ignored`). Requests
that must run without the LoRA adapter (on-board verification) name :attr:`RemoteConfig.base_model`
(vLLM serves the base model under its own name beside each adapter).

Streaming: with an ``on_text`` sink, the request asks for server streaming (``"stream": true``,
usage included) and reads the Server-Sent Events line by line as they arrive, handing each content
delta to the sink at once. :attr:`RemoteConfig.timeout_s` bounds the whole streamed answer, not
just each read: after connecting, every socket operation waits at most the time left until the
deadline, ``timeout_s`` after the request began. Streamed requests
connect directly with :mod:`http.client` (no HTTP proxy from the environment), so that the
deadline can be applied to the socket.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vlm2vla_policy.runtime.backends.base import Completion, GenerationRequest, TextSink
from vlm2vla_policy.runtime.chat import to_openai_messages
from vlm2vla_policy.runtime.config import RemoteConfig
from vlm2vla_policy.runtime.errors import RemoteBackendError, RuntimeConfigError
from vlm2vla_policy.runtime.timing import Timing

TIMING_FIELD = "vlm2vla_timing"
"""Response field where ``vlm2vla-serve`` reports its prefill/decode split (milliseconds).

In a stream it travels in the usage chunk.
"""

MAX_READ_BYTES = 1 << 20
"""Most bytes one line of a stream, or a JSON answer to a streamed request, may have."""

DONE = "[DONE]"
"""Data of the Server-Sent Event that ends an OpenAI stream."""

_T = TypeVar("_T")


@dataclass
class _Answer:
    """What a server answered, streamed or not."""

    # The answer's text.
    text: str = ""
    # "stop", "length", ... or None when the server gave none.
    finish_reason: str | None = None
    # The OpenAI usage object (token counts), empty when absent.
    usage: dict[str, Any] = field(default_factory=dict)
    # The server's TIMING_FIELD, None when absent.
    reported: Any = None


class RemoteBackend:
    """Answers prompts by POSTing them to ``{base_url}/chat/completions``."""

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config

    def complete(self, request: GenerationRequest, on_text: TextSink | None = None) -> Completion:
        """Send ``request``; raise :class:`RemoteBackendError` when the server fails.

        With ``on_text`` the answer is streamed to it (see the module docstring); an exception it
        raises closes the connection and propagates unchanged.
        """
        guided = request.grammar is not None and self.config.guided_decoding != "none"
        body = self._body(request, guided)
        start = time.perf_counter()
        if on_text is None:
            answer = _answer_from_reply(self._post("/chat/completions", body), self.config.base_url)
        else:
            answer = self._stream("/chat/completions", body, on_text)
        wall_s = time.perf_counter() - start
        finished = answer.finish_reason != "length"
        # A finished answer outside the grammar shows the server ignored it (a cut one may not).
        ignored = guided and finished and not request.grammar.accepts(answer.text)
        return Completion(
            text=answer.text,
            timing=_timing(answer.usage, answer.reported, wall_s),
            constrained=guided and not ignored,
            finished=finished,
            ignored=self._guided_field() if ignored else "",
        )

    def models(self) -> list[str]:
        """Model names the server lists at ``/models``."""
        reply = self._get("/models")
        return [str(entry.get("id")) for entry in reply.get("data", [])]

    def reset(self) -> None:
        """Nothing to forget: the server keeps its own caches."""

    def _body(self, request: GenerationRequest, guided: bool) -> dict[str, Any]:
        """The chat-completions request body of ``request`` (without streaming fields).

        ``guided`` adds the grammar's regex as the configured guided-decoding parameter.
        """
        body: dict[str, Any] = {
            "model": self._model(request),
            "messages": to_openai_messages(request.prompt, self.config.image_format),
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "max_tokens": request.sampling.max_new_tokens,
        }
        if guided and self.config.guided_decoding == "structured_outputs":
            body["structured_outputs"] = {"regex": request.grammar.regex}
        elif guided:
            body["guided_regex"] = request.grammar.regex
        return body

    def _guided_field(self) -> str:
        """The request field that carries the grammar (as an error message names it)."""
        if self.config.guided_decoding == "structured_outputs":
            return "structured_outputs.regex"
        return "guided_regex"

    def _model(self, request: GenerationRequest) -> str:
        if request.use_adapter:
            return self.config.model
        if not self.config.base_model:
            raise RuntimeConfigError(
                "the base model without the adapter was asked for over the remote backend, "
                "but RemoteConfig.base_model is empty; set it to the name the server lists "
                "for the base model (GET /v1/models), or use verifier kind 'remote'"
            )
        return self.config.base_model

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": accept}
        token = os.environ.get(self.config.api_key_env, "") if self.config.api_key_env else ""
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self._url(path), data, self._headers())  # noqa: S310
        return self._send(request)

    def _get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(self._url(path), headers=self._headers())  # noqa: S310
        return self._send(request)

    def _url(self, path: str) -> str:
        # RemoteConfig admits only http:// and https:// base URLs (no file: or custom schemes).
        return self.config.base_url.rstrip("/") + path

    def _send(self, request: urllib.request.Request) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:  # noqa: S310
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise self._status_error(request.full_url, exc.code, detail) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise _unreachable(request.full_url, exc) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RemoteBackendError(f"{request.full_url} did not answer with JSON") from None

    def _status_error(self, url: str, code: int, detail: str) -> RemoteBackendError:
        hint = " (set the token in $" + self.config.api_key_env + ")" if code == 401 else ""
        return RemoteBackendError(f"{url} answered HTTP {code}{hint}: {detail[:500]}")

    def _stream(self, path: str, body: dict[str, Any], on_text: TextSink) -> _Answer:
        """POST ``body`` asking for a stream; hand each content delta to ``on_text`` at once."""
        streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
        data = json.dumps(streamed).encode("utf-8")
        with _StreamedCall(self._url(path), self.config.timeout_s) as call:
            response = call.send(data, self._headers("text/event-stream"))
            if response.status != 200:
                detail = call.body().decode("utf-8", "replace")
                raise self._status_error(call.url, response.status, detail)
            return _read_answer(call, response.getheader("Content-Type", ""), on_text)


class _StreamedCall:
    """One POST on its own connection, answered before a deadline ``timeout_s`` seconds away.

    Connecting waits at most ``timeout_s``; every later socket operation (sending, each read)
    waits at most the time left until the deadline, so the whole answer is bounded.
    """

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        target = urllib.parse.urlsplit(url)
        self.path = target.path + (f"?{target.query}" if target.query else "")
        kind = (
            http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        )
        self.connection = kind(target.hostname, target.port, timeout=timeout_s)
        self.sock: socket.socket | None = None
        self.response: http.client.HTTPResponse | None = None

    def __enter__(self) -> _StreamedCall:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.response is not None:
            self.response.close()
        self.connection.close()

    def send(self, data: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
        """Connect, send the request and read the response's status line and headers."""
        try:
            self.connection.connect()
        except OSError as exc:
            raise _unreachable(self.url, exc) from None
        # Taken now: a response that closes the connection detaches the socket from it.
        self.sock = self.connection.sock
        self._io(lambda: self.connection.request("POST", self.path, data, headers))
        self.response = self._io(self.connection.getresponse)
        return self.response

    def line(self) -> bytes:
        """The next line of the body with its line break (b"" at its end)."""
        line = self._io(lambda: self.response.readline(MAX_READ_BYTES + 1))
        if len(line) > MAX_READ_BYTES:
            raise RemoteBackendError(
                f"{self.url} sent a stream line over {MAX_READ_BYTES} bytes; is it an "
                "OpenAI-compatible server?"
            )
        return line

    def body(self) -> bytes:
        """The rest of the body (at most MAX_READ_BYTES)."""
        parts: list[bytes] = []
        size = 0
        while piece := self._io(lambda: self.response.read1(1 << 16)):
            parts.append(piece)
            size += len(piece)
            if size > MAX_READ_BYTES:
                raise RemoteBackendError(
                    f"{self.url} answered a streamed request with over {MAX_READ_BYTES} bytes; "
                    "is it an OpenAI-compatible chat-completions server?"
                )
        return b"".join(parts)

    def _io(self, action: Callable[[], _T]) -> _T:
        """Run one socket operation within the time left; map its failures to clear errors."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self._late()
        try:
            if self.sock is not None:
                self.sock.settimeout(left)
            return action()
        except TimeoutError:
            raise self._late() from None
        except (OSError, http.client.HTTPException) as exc:
            raise _unreachable(self.url, exc) from None

    def _late(self) -> RemoteBackendError:
        return RemoteBackendError(
            f"{self.url} did not finish its streamed answer within remote.timeout_s = "
            f"{self.timeout_s} s; raise timeout_s or lower max_new_tokens"
        )


def _read_answer(call: _StreamedCall, content_type: str, on_text: TextSink) -> _Answer:
    """The answer to a streamed request: events, or one JSON completion (stream ignored)."""
    if content_type.startswith("text/event-stream"):
        return _read_events(_events(call), on_text, call.url)
    if content_type.startswith("application/json"):
        answer = _answer_from_reply(_json(call.body(), call.url), call.url)
        if answer.text:
            on_text(answer.text)
        return answer
    raise RemoteBackendError(
        f"{call.url} answered a streamed request with Content-Type {content_type!r}; an "
        "OpenAI-compatible server sends text/event-stream (or application/json if it does not "
        "stream)"
    )


def _events(call: _StreamedCall) -> Iterator[str]:
    """The data of each Server-Sent Event, in order, as the lines arrive.

    Comments and fields other than ``data`` (``event``, ``id``, ``retry``) carry nothing this
    client uses and are skipped.
    """
    data: list[str] = []
    while line := call.line():
        try:
            text = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise RemoteBackendError(
                f"{call.url} sent a stream line that is not UTF-8: {line[:200]!r}"
            ) from None
        if not text and data:
            yield "\n".join(data)
            data = []
        elif text.startswith("data:"):
            data.append(text[len("data:") :].removeprefix(" "))
    if data:
        yield "\n".join(data)


def _read_events(events: Iterator[str], on_text: TextSink, url: str) -> _Answer:
    """Collect a chat.completion.chunk stream, handing each non-empty content delta on."""
    answer = _Answer()
    pieces: list[str] = []
    done = False
    for data in events:
        done = data == DONE
        if done:
            break
        content, finish_reason, usage, reported = _parse_chunk(data, url)
        answer.finish_reason = finish_reason or answer.finish_reason
        answer.usage = usage or answer.usage
        answer.reported = reported if reported is not None else answer.reported
        if content:
            pieces.append(content)
            on_text(content)
    if not done and answer.finish_reason is None:
        raise RemoteBackendError(
            f"{url} ended the stream mid-answer (no finish_reason, no data: {DONE}); check the "
            "server's log"
        )
    answer.text = "".join(pieces)
    return answer


def _parse_chunk(data: str, url: str) -> tuple[str, str | None, dict[str, Any], Any]:
    """Content delta, finish reason, usage and reported timing of one stream event."""
    chunk = _json(data.encode("utf-8"), url, what="a malformed stream event")
    if isinstance(chunk, dict) and "error" in chunk:
        error = chunk["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise RemoteBackendError(f"{url} reported an error mid-stream: {message}")
    try:
        choices = chunk["choices"]
        choice = choices[0] if choices else {}
        content = (choice.get("delta") or {}).get("content") or ""
        finish_reason = choice.get("finish_reason")
        usage = chunk.get("usage") or {}
        if not (
            isinstance(content, str)
            and isinstance(finish_reason, str | None)
            and isinstance(usage, dict)
        ):
            raise TypeError
    except (KeyError, IndexError, TypeError, AttributeError):
        raise RemoteBackendError(
            f"{url} sent a stream event that is not a chat.completion.chunk: {data[:200]!r}; is "
            "it an OpenAI-compatible chat-completions server?"
        ) from None
    return content, finish_reason, usage, chunk.get(TIMING_FIELD)


def _json(data: bytes, url: str, what: str = "an answer that is not JSON") -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RemoteBackendError(
            f"{url} sent {what}: {data[:200]!r}; is it an OpenAI-compatible server?"
        ) from None


def _answer_from_reply(reply: Any, url: str) -> _Answer:
    """The answer in a (non-streamed) chat.completion object."""
    try:
        choice = reply["choices"][0]
        return _Answer(
            text=choice["message"]["content"] or "",
            finish_reason=choice.get("finish_reason"),
            usage=reply.get("usage") or {},
            reported=reply.get(TIMING_FIELD),
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        raise RemoteBackendError(
            f"{url} answered without choices[0].message.content; is it an OpenAI-compatible "
            "chat-completions server?"
        ) from None


def _unreachable(url: str, exc: Exception) -> RemoteBackendError:
    return RemoteBackendError(
        f"cannot reach {url} ({exc}); is the server running, and is remote.base_url right?"
    )


def _timing(usage: dict[str, Any], reported: Any, wall_s: float) -> Timing:
    """Token counts from ``usage``; prefill/decode split from the server when it reports one."""
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    if isinstance(reported, dict):
        prefill_s = float(reported.get("prefill_ms", 0.0)) / 1000.0
        decode_s = float(reported.get("decode_ms", 0.0)) / 1000.0
        return Timing(
            prefill_tokens=int(reported.get("prefill_tokens", prompt_tokens)),
            reused_tokens=int(reported.get("reused_tokens", 0)),
            decoded_tokens=completion_tokens,
            prefill_s=prefill_s,
            decode_s=decode_s,
            overhead_s=max(0.0, wall_s - prefill_s - decode_s),
        )
    return Timing(prefill_tokens=prompt_tokens, decoded_tokens=completion_tokens, overhead_s=wall_s)
