"""Streamed answers over HTTP: vlm2vla-serve's Server-Sent Events and the remote backend's reader.

Real sockets throughout: an in-process ``ChatServer`` on the tiny Gemma-3 + LoRA (and one on an
endless scripted backend, for disconnects and timeouts), and scripted SSE servers started here.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import openai
import pytest
from PIL import Image

from vlm2vla_policy.language import Stage, grammar_for
from vlm2vla_policy.runtime import (
    ModelConfig,
    RemoteBackend,
    RemoteBackendError,
    RemoteConfig,
    load_model,
)
from vlm2vla_policy.runtime.backends.base import Completion, GenerationRequest, TextSink
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.chat import to_openai_messages, user_prompt
from vlm2vla_policy.runtime.config import SamplingConfig
from vlm2vla_policy.runtime.timing import Timing
from vlm2vla_policy.serving.chat_server import ChatServer, ServeConfig
from vlm2vla_policy.testing.http_server import serve_in_thread

TOKEN_ENV = "VLM2VLA_TEST_STREAM_KEY"
SSE = "text/event-stream"
PLAN = grammar_for(Stage.PLAN)


@pytest.fixture(scope="module")
def chat_server(tiny_gemma3_dir, tiny_lora_dir) -> Iterator[ChatServer]:
    """vlm2vla-serve in this process on the tiny Gemma-3 + LoRA, with a bearer token."""
    os.environ[TOKEN_ENV] = secrets.token_hex(16)
    loaded = load_model(ModelConfig(model=str(tiny_gemma3_dir), adapter=str(tiny_lora_dir)))
    server = ChatServer(HFBackend(loaded, seed=0), ServeConfig(port=0, api_key_env=TOKEN_ENV))
    yield from serve_in_thread(server)
    os.environ.pop(TOKEN_ENV, None)


def _request(image: Image.Image) -> GenerationRequest:
    """A greedy plan request: constrained, so the tiny model writes several ASCII pieces."""
    prompt = user_prompt("which way to the lid?", (image,))
    return GenerationRequest(prompt, SamplingConfig(temperature=0.0, max_new_tokens=24), PLAN)


@pytest.fixture
def image(camera_image) -> Image.Image:
    return Image.fromarray(camera_image)


def _backend(url: str, timeout_s: float = 30.0) -> RemoteBackend:
    return RemoteBackend(RemoteConfig(base_url=url, api_key_env=TOKEN_ENV, timeout_s=timeout_s))


def test_openai_client_streams_the_same_answer(chat_server, image):
    client = openai.OpenAI(base_url=chat_server.url, api_key=os.environ[TOKEN_ENV])
    arguments = {
        "model": "vlm2vla",
        "messages": to_openai_messages(_request(image).prompt),
        "temperature": 0,
        "max_tokens": 24,
        "extra_body": {"structured_outputs": {"regex": PLAN.regex}},
    }
    whole = client.chat.completions.create(**arguments)
    chunks = list(
        client.chat.completions.create(
            **arguments, stream=True, stream_options={"include_usage": True}
        )
    )
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) >= 3 and "".join(pieces) == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finish_reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish_reasons[-1] == whole.choices[0].finish_reason and not any(finish_reasons[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


def test_remote_backend_streams_from_vlm2vla_serve(chat_server, image):
    backend = _backend(chat_server.url)
    whole = backend.complete(_request(image))
    pieces: list[str] = []
    streamed = backend.complete(_request(image), pieces.append)
    assert len(pieces) >= 3 and "".join(pieces) == streamed.text == whole.text
    assert streamed.constrained and streamed.finished == whole.finished
    assert streamed.timing.decoded_tokens == whole.timing.decoded_tokens > 0
    assert streamed.timing.prefill_s > 0  # the server's split, from the usage chunk


def _raw_events(url: str, body: dict[str, Any]) -> tuple[http.client.HTTPResponse, list[str]]:
    """POST ``body`` by hand; the response and the data of each event."""
    target = url.removeprefix("http://").split("/")[0]
    connection = http.client.HTTPConnection(target, timeout=30)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {os.environ[TOKEN_ENV]}",
    }
    connection.request("POST", "/v1/chat/completions", json.dumps(body), headers)
    response = connection.getresponse()
    lines = response.read().decode().split("\n\n")
    connection.close()
    return response, [line.removeprefix("data: ") for line in lines if line]


def test_events_follow_the_openai_chunk_format(chat_server, image):
    messages = to_openai_messages(_request(image).prompt)
    body = {"messages": messages, "temperature": 0, "max_tokens": 3, "stream": True}
    response, events = _raw_events(chat_server.url, body)
    assert response.status == 200
    assert response.getheader("Content-Type").split(";")[0] == "text/event-stream"
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "length"}
    assert all("usage" not in chunk for chunk in chunks)  # not asked for


class _EndlessBackend:
    """Writes "x" every 20 ms until its text sink raises; records that it stopped."""

    loaded = SimpleNamespace(adapter_switchable=False)

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def complete(self, request: GenerationRequest, on_text: TextSink | None = None) -> Completion:
        if on_text is None:
            return Completion("x", Timing(decoded_tokens=1), constrained=False)
        try:
            while True:
                time.sleep(0.02)
                on_text("x")
        finally:
            self.stopped.set()

    def reset(self) -> None:
        """Nothing to forget."""


@pytest.fixture
def endless_server() -> Iterator[ChatServer]:
    """vlm2vla-serve over an endless backend, giving each request 1 s."""
    config = ServeConfig(port=0, api_key_env="", request_timeout_s=1.0)
    yield from serve_in_thread(ChatServer(_EndlessBackend(), config))


def test_a_client_that_leaves_stops_the_generation(endless_server, image):
    url = endless_server.url
    host, port = endless_server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    body = {"messages": to_openai_messages(_request(image).prompt), "stream": True}
    connection.request(
        "POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    assert response.readline().startswith(b"data: ")  # the stream is running
    response.close()
    connection.close()
    assert endless_server.backend.stopped.wait(timeout=0.8)  # before the 1 s request timeout
    started = time.monotonic()
    assert _backend(url).complete(_request(image)).text == "x"  # the worker is free
    assert time.monotonic() - started < 0.5


def test_a_stream_past_the_request_timeout_ends_with_an_error_event(endless_server, image):
    pieces: list[str] = []
    started = time.monotonic()
    with pytest.raises(RemoteBackendError, match="error mid-stream: generation took too long"):
        _backend(endless_server.url).complete(_request(image), pieces.append)
    assert 1.0 <= time.monotonic() - started < 2.0
    assert pieces and set("".join(pieces)) == {"x"}
    assert endless_server.backend.stopped.wait(timeout=1.0)


@dataclass
class Script:
    """What a scripted server answers: (delay in seconds, bytes) writes after the headers."""

    writes: list[tuple[float, bytes]]
    content_type: str = SSE
    status: int = 200
    # Filled in by the server: the request bodies, each write's time.monotonic() after it went
    # out, and whether a write failed (the client had gone).
    requests: list[dict[str, Any]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    broken: threading.Event = field(default_factory=threading.Event)


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        script: Script = self.server.script  # type: ignore[attr-defined]
        script.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(script.status)
        self.send_header("Content-Type", script.content_type)
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        try:
            for delay_s, data in script.writes:
                time.sleep(delay_s)
                self.wfile.write(data)
                self.wfile.flush()
                script.sent_at.append(time.monotonic())
        except OSError:
            script.broken.set()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class name)
        """Quiet."""


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    """A scripted SSE server on a free loopback port; yields (base URL, its script to fill)."""
    script = Script(writes=[])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ScriptedHandler)
    server.daemon_threads = True
    server.script = script  # type: ignore[attr-defined]
    for _ in serve_in_thread(server):
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", script


def _event(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def _chunk(content: str | None = None, finish_reason: str | None = None, **extra: Any) -> bytes:
    delta = {"content": content} if content is not None else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return _event({"object": "chat.completion.chunk", "choices": [choice], **extra})


ANSWER = ["move ", "slightly ", "down", " and ", "left"]


def _answer_events(finish_reason: str = "stop") -> list[bytes]:
    """An answer's events: role, one per piece of ANSWER, finish, usage, [DONE]."""
    usage = {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35}
    return [
        _event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        *(_chunk(piece) for piece in ANSWER),
        _chunk(finish_reason=finish_reason),
        _event({"object": "chat.completion.chunk", "choices": [], "usage": usage}),
        _event("[DONE]"),
    ]


def _timed_sink() -> tuple[list[tuple[float, str]], TextSink]:
    calls: list[tuple[float, str]] = []
    return calls, lambda piece: calls.append((time.monotonic(), piece))


def test_each_piece_reaches_on_text_as_it_arrives(scripted, image):
    url, script = scripted
    events = _answer_events()
    script.writes = [(0.0, events[0]), *((0.15, event) for event in events[1:])]
    calls, sink = _timed_sink()
    completion = _backend(url).complete(_request(image), sink)
    last_piece_sent = script.sent_at[len(ANSWER)]
    assert calls[0][0] < last_piece_sent - 0.3  # the first piece came two pieces before the last
    assert [piece for _, piece in calls] == ANSWER
    assert completion.text == "".join(ANSWER) and completion.finished and completion.constrained
    assert (completion.timing.prefill_tokens, completion.timing.decoded_tokens) == (30, 5)
    assert script.requests[0]["stream"] is True
    assert script.requests[0]["stream_options"] == {"include_usage": True}
    assert script.requests[0]["structured_outputs"] == {"regex": PLAN.regex}


def test_a_stream_cut_by_the_token_budget_without_done_is_accepted(scripted, image):
    url, script = scripted
    script.writes = [(0.0, event) for event in _answer_events("length")[:-2]]  # no usage, DONE
    completion = _backend(url).complete(_request(image), lambda piece: None)
    assert completion.text == "".join(ANSWER) and not completion.finished
    assert completion.timing.decoded_tokens == 0  # no usage was sent


def test_a_server_that_ignores_stream_answers_in_one_piece(scripted, image):
    url, script = scripted
    reply = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"content": "move up"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 2},
    }
    script.content_type = "application/json"
    script.writes = [(0.0, json.dumps(reply).encode())]
    calls, sink = _timed_sink()
    completion = _backend(url).complete(_request(image), sink)
    assert [piece for _, piece in calls] == ["move up"] and completion.text == "move up"
    assert not completion.finished and completion.timing.decoded_tokens == 2


class _StopError(Exception):
    """Raised by a test's text sink."""


def test_an_exception_from_on_text_stops_the_request_and_propagates(scripted, image):
    url, script = scripted
    script.writes = [(0.1, _chunk("step ")) for _ in range(20)]
    stop = _StopError("enough")

    def sink(piece: str) -> None:
        raise stop

    started = time.monotonic()
    with pytest.raises(_StopError) as raised:
        _backend(url).complete(_request(image), sink)
    assert raised.value is stop and time.monotonic() - started < 0.5
    assert script.broken.wait(timeout=1.0)  # the connection was closed: the server's write failed
    assert len(script.sent_at) < 20


@pytest.mark.parametrize(
    "bad",
    [
        ([_event("{not json")], SSE, 200, "malformed stream event"),
        ([_event({"choices": "none"})], SSE, 200, r"not a chat\.completion\.chunk"),
        ([_event({"error": {"message": "out of memory"}})], SSE, 200,
         "error mid-stream: out of memory"),
        ([_chunk("move ")], SSE, 200, "ended the stream mid-answer"),
        ([b"\xff\xfe\n\n"], SSE, 200, "not UTF-8"),
        ([b"move up"], "text/plain", 200, "Content-Type 'text/plain'"),
        ([b"{not json"], "application/json", 200, "not JSON"),
        ([b'{"error": "no"}'], "application/json", 401, r"HTTP 401 \(set the token"),
    ],
)  # fmt: skip
def test_a_bad_stream_is_a_clear_error(scripted, image, bad):
    """``bad``: (writes, Content-Type, HTTP status, expected message)."""
    url, script = scripted
    writes, script.content_type, script.status, message = bad
    script.writes = [(0.0, data) for data in writes]
    with pytest.raises(RemoteBackendError, match=message):
        _backend(url).complete(_request(image), lambda piece: None)


def test_the_timeout_bounds_the_whole_stream(scripted, image):
    url, script = scripted
    # Pieces every 0.1 s, then silence: the reads may not wait a whole timeout_s each.
    script.writes = [(0.1, _chunk("step ")) for _ in range(4)] + [(2.0, _chunk("late"))]
    calls, sink = _timed_sink()
    started = time.monotonic()
    with pytest.raises(RemoteBackendError, match=r"within remote\.timeout_s = 0\.5 s"):
        _backend(url, timeout_s=0.5).complete(_request(image), sink)
    assert 0.5 <= time.monotonic() - started < 0.8 and len(calls) == 4


def test_an_unreachable_server_is_a_clear_error(image):
    with pytest.raises(RemoteBackendError, match="is the server running"):
        _backend("http://127.0.0.1:9/v1", timeout_s=2).complete(_request(image), print)
