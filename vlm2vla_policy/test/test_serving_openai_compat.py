"""vlm2vla-serve's strict OpenAI compatibility: ``stop``, refused fields and malformed input.

An in-process ``ChatServer`` on the tiny Gemma-3 + LoRA over real sockets; the official ``openai``
client for what it can send, raw ``http.client``/sockets for the malformed bodies it cannot.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from vlm2vla_policy.language import Stage, grammar_for
from vlm2vla_policy.runtime import ModelConfig, load_model
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.serving.chat_server import ChatServer, ServeConfig
from vlm2vla_policy.serving.stop_text import StopText
from vlm2vla_policy.testing.http_server import serve_in_thread

TOKEN_ENV = "VLM2VLA_TEST_COMPAT_KEY"
SOCKET_TIMEOUT_S = 1.0
MESSAGES = [{"role": "user", "content": "where is the lid?"}]
CHUNK = grammar_for(Stage.CHUNK)


@pytest.fixture(scope="module")
def server(tiny_gemma3_dir, tiny_lora_dir) -> Iterator[ChatServer]:
    """The server with a bearer token, a 1 s body deadline and a 100 kB body limit."""
    os.environ[TOKEN_ENV] = secrets.token_hex(16)
    loaded = load_model(ModelConfig(model=str(tiny_gemma3_dir), adapter=str(tiny_lora_dir)))
    config = ServeConfig(
        port=0,
        api_key_env=TOKEN_ENV,
        socket_timeout_s=SOCKET_TIMEOUT_S,
        max_request_bytes=100_000,
    )
    yield from serve_in_thread(ChatServer(HFBackend(loaded, seed=0), config))
    os.environ.pop(TOKEN_ENV, None)


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key=os.environ[TOKEN_ENV], max_retries=0)


def _chunk_answer(client: openai.OpenAI, **extra: Any) -> Any:
    """A greedy chunk answer (constrained, so it has brackets to stop at)."""
    return client.chat.completions.create(
        model="vlm2vla",
        messages=MESSAGES,
        temperature=0,
        max_tokens=40,
        extra_body={"structured_outputs": {"regex": CHUNK.regex}},
        **extra,
    )


def test_stop_ends_the_answer_before_the_stop_string(client):
    whole = _chunk_answer(client).choices[0].message.content
    assert "]" in whole
    stopped = _chunk_answer(client, stop=["]"]).choices[0]
    assert stopped.message.content == whole[: whole.index("]")]
    assert stopped.finish_reason == "stop"
    later = whole[whole.index("]") + 1 :].lstrip()[:2] or "]"
    two = _chunk_answer(client, stop=["zzz", later]).choices[0].message.content
    assert two == whole[: whole.index(later)]


def test_stop_works_when_streaming(client):
    whole = _chunk_answer(client).choices[0].message.content
    cut = whole[len(whole) // 2 : len(whole) // 2 + 3]  # a multi-character stop string
    chunks = list(_chunk_answer(client, stop=cut, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole[: whole.index(cut)]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_accepted_no_op_values_are_honoured(client):
    reply = client.chat.completions.create(
        model="vlm2vla",
        messages=MESSAGES,
        max_tokens=2,
        n=1,
        logprobs=False,
        presence_penalty=0,
        frequency_penalty=0,
        response_format={"type": "text"},
        tools=None,
    )
    assert reply.choices[0].finish_reason in {"stop", "length"}


UNSUPPORTED: list[tuple[str, dict[str, Any]]] = [
    ("logprobs", {"logprobs": True}),
    ("top_logprobs", {"top_logprobs": 2}),
    ("tools", {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
    ("tool_choice", {"tool_choice": "auto"}),
    ("n", {"n": 2}),
    ("logit_bias", {"logit_bias": {"1": 5}}),
    ("presence_penalty", {"presence_penalty": 0.5}),
    ("frequency_penalty", {"frequency_penalty": 0.5}),
    ("seed", {"seed": 1}),
    ("user", {"user": "someone"}),
    ("response_format", {"response_format": {"type": "json_object"}}),
    (
        "response_format",
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
    ),
    ("functions", {"extra_body": {"functions": [{"name": "f"}]}}),
    ("guided_json", {"extra_body": {"guided_json": {}}}),
    ("structured_outputs.json", {"extra_body": {"structured_outputs": {"json": {}}}}),
    ("structured_outputs.regex", {"extra_body": {"structured_outputs": {"regex": "[a-z]+"}}}),
]


@pytest.mark.parametrize(("field", "arguments"), UNSUPPORTED, ids=[f for f, _ in UNSUPPORTED])
def test_each_unsupported_field_is_refused_by_name(client, field, arguments):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="vlm2vla", messages=MESSAGES, **arguments)
    assert refused.value.status_code == 400
    assert refused.value.param == field and field in refused.value.message


def _post(server: ChatServer, body: bytes, **headers: str) -> tuple[int, dict[str, Any]]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {os.environ[TOKEN_ENV]}",
        **headers,
    }
    connection.request("POST", "/v1/chat/completions", body, headers)
    response = connection.getresponse()
    reply = json.loads(response.read())
    connection.close()
    return response.status, reply


def _body(**fields: Any) -> str:
    return json.dumps({"messages": MESSAGES, **fields})


MALFORMED: list[tuple[str, str, str | None]] = [
    ("bad json", '{"messages": [', None),
    ("max_tokens infinity", _body()[:-1] + ', "max_tokens": Infinity}', None),
    ("temperature nan", _body()[:-1] + ', "temperature": NaN}', None),
    ("max_tokens string", _body(max_tokens="5"), "max_tokens"),
    ("max_tokens float", _body(max_tokens=2.5), "max_tokens"),
    ("max_tokens zero", _body(max_tokens=0), "max_tokens"),
    ("temperature string", _body(temperature="hot"), "temperature"),
    ("temperature too high", _body(temperature=5), "temperature"),
    ("top_p zero", _body(top_p=0), "top_p"),
    ("regex as a list", _body(structured_outputs={"regex": ["a"]}), "structured_outputs.regex"),
    ("guided_regex as a list", _body(guided_regex=["a"]), "guided_regex"),
    ("stop number", _body(stop=3), "stop"),
    ("five stops", _body(stop=list("abcde")), "stop"),
    ("empty stop", _body(stop=[""]), "stop"),
    ("stream string", _body(stream="yes"), "stream"),
    ("stream_options key", _body(stream=True, stream_options={"x": 1}), "stream_options.x"),
    ("no messages", json.dumps({"max_tokens": 2}), "messages"),
    ("messages object", _body(messages={"role": "user"}), "messages"),
    ("deep nesting", '{"messages": [], "pad": ' + "[" * 40_000 + "]" * 40_000 + "}", None),
    ("nesting past the limit", _body(pad=json.loads("[" * 50 + "]" * 50)), None),
    ("array body", "[1, 2]", None),
    ("lone surrogate", '{"messages": [{"role": "user", "content": "a\\ud800b"}]}', None),
]


@pytest.mark.parametrize(("case", "body", "field"), MALFORMED, ids=[c for c, _, _ in MALFORMED])
def test_malformed_input_is_400(server, case, body, field):
    status, reply = _post(server, body.encode())
    assert status == 400, reply
    assert reply["error"].get("param") == field


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        [{"role": "assistant", "content": "a"}],
        [{"role": "user", "content": "x " * 40_000}],
    ],
    ids=["roles that do not alternate", "no user turn", "past the context"],
)
def test_prompts_the_model_cannot_take_are_400(server, messages):
    status, reply = _post(server, json.dumps({"messages": messages, "max_tokens": 2}).encode())
    assert status == 400, reply
    assert "chat template" in reply["error"]["message"] or "context" in reply["error"]["message"]


def test_bodies_over_the_limit_are_413(server):
    assert _post(server, _body(pad="x" * 200_000).encode())[0] == 413


def _raw(server: ChatServer, head_length: int, sent: bytes, half_close: bool) -> tuple[str, float]:
    """Send a request announcing ``head_length`` body bytes but only ``sent``; status line, wait."""
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {os.environ[TOKEN_ENV]}\r\n"
            f"Content-Length: {head_length}\r\n\r\n"
        )
        start = time.monotonic()
        sock.sendall(head.encode() + sent)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        reply = sock.recv(65536).decode("latin-1")
        return reply.split("\r\n", 1)[0], time.monotonic() - start


@pytest.mark.parametrize("half_close", [False, True], ids=["stalled", "closed"])
def test_a_body_shorter_than_its_content_length_is_408_within_the_deadline(server, half_close):
    status_line, waited = _raw(server, 1000, _body().encode(), half_close)
    assert status_line.split()[1] == "408"
    assert waited < SOCKET_TIMEOUT_S + 3


def test_a_negative_content_length_is_400(server):
    assert _raw(server, -5, b"", half_close=False)[0].split()[1] == "400"


def test_stop_text_holds_back_only_what_may_start_a_stop_string():
    stop = StopText(("abc", "]"))
    assert [stop.feed(piece) for piece in ("xa", "b", "d", "ab")] == ["x", "", "abd", ""]
    assert stop.flush() == "ab" and not stop.stopped
    stop = StopText(("abc",))
    assert [stop.feed(piece) for piece in ("1a", "bc2", "3")] == ["1", "", ""]
    assert stop.stopped and stop.text == "1" and stop.flush() == ""


def _slow_clients(server: ChatServer, count: int) -> list[socket.socket]:
    """``count`` connections that never finish their request: half stop inside the headers,
    half inside a body announced as 1000 bytes."""
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {os.environ[TOKEN_ENV]}\r\nContent-Length: 1000\r\n\r\n"
    )
    clients = []
    for index in range(count):
        sock = socket.create_connection(server.server_address, timeout=10)
        sock.sendall(head.encode()[:40] if index % 2 else head.encode() + b'{"messages": [')
        clients.append(sock)
    return clients


def test_fifty_slow_clients_do_not_stop_a_valid_request(server, client):
    slow = _slow_clients(server, 50)
    try:
        started = time.monotonic()
        answer = _chunk_answer(client, timeout=10.0)
        assert answer.choices[0].message.content
        assert time.monotonic() - started < 5.0
        # The stalled bodies get their 408 at the body deadline; the stalled headers wait.
        for sock in slow[::2]:
            status_line = sock.recv(65536).decode("latin-1").split("\r\n", 1)[0]
            assert status_line.split()[1] == "408"
    finally:
        for sock in slow:
            sock.close()


def test_connections_past_the_cap_get_503_at_once(server):
    capped = dataclasses.replace(server.config, port=0, max_connections=4)
    small = ChatServer(server.backend, capped)
    for _ in serve_in_thread(small):
        slow = _slow_clients(small, 4)
        try:
            started = time.monotonic()
            connection = http.client.HTTPConnection(*small.server_address, timeout=10)
            connection.request("GET", "/health")
            assert connection.getresponse().status == 503
            connection.close()
            assert time.monotonic() - started < SOCKET_TIMEOUT_S
        finally:
            for sock in slow:
                sock.close()
