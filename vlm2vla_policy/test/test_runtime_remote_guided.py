"""The remote backend tells whether a server honoured the grammar it was sent.

A stub chat-completions server started here stands for an outside service that accepts the
guided-decoding field but ignores it (answers with whatever text it was scripted with).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from vlm2vla_policy.language import LanguageConfig, Stage, grammar_for
from vlm2vla_policy.runtime import OutputParseError, RemoteBackend, RemoteConfig
from vlm2vla_policy.runtime.backends.base import GenerationRequest
from vlm2vla_policy.runtime.chat import user_prompt
from vlm2vla_policy.runtime.config import SamplingConfig
from vlm2vla_policy.runtime.stage_runner import StageRunner
from vlm2vla_policy.testing.http_server import serve_in_thread

CHUNK = grammar_for(Stage.CHUNK)  # the plan grammar takes free words, the chunk grammar no prose


class _Stub(ThreadingHTTPServer):
    """Answers every chat completion with ``content`` and ``finish_reason``; keeps the bodies."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.content = ""
        self.finish_reason = "stop"
        self.bodies: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _StubHandler(BaseHTTPRequestHandler):
    server: _Stub

    def do_POST(self) -> None:
        self.server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": self.server.content},
            "finish_reason": self.server.finish_reason,
        }
        data = json.dumps({"choices": [choice], "usage": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class name)
        pass


@pytest.fixture
def stub() -> Iterator[_Stub]:
    yield from serve_in_thread(_Stub())


def _backend(stub: _Stub, guided_decoding: str = "structured_outputs") -> RemoteBackend:
    config = RemoteConfig(base_url=stub.url, api_key_env="", guided_decoding=guided_decoding)
    return RemoteBackend(config)


def _request() -> GenerationRequest:
    prompt = user_prompt("how to reach the lid?")
    return GenerationRequest(prompt, SamplingConfig(max_new_tokens=24), CHUNK)


@pytest.mark.parametrize(
    ("guided_decoding", "field"),
    [("structured_outputs", "structured_outputs.regex"), ("guided_regex", "guided_regex")],
)
def test_an_answer_outside_the_grammar_is_reported_unconstrained(stub, guided_decoding, field):
    stub.content = "I would rather not say."
    completion = _backend(stub, guided_decoding).complete(_request())
    assert not completion.constrained and completion.ignored == field
    streamed = _backend(stub, guided_decoding).complete(_request(), lambda piece: None)
    assert not streamed.constrained and streamed.ignored == field


def test_an_answer_inside_the_grammar_counts_as_constrained(stub):
    stub.content = CHUNK.sample(random.Random(0))
    completion = _backend(stub).complete(_request())
    assert completion.constrained and not completion.ignored
    assert stub.bodies[-1]["structured_outputs"] == {"regex": CHUNK.regex}


def test_an_answer_cut_by_the_token_budget_is_not_judged(stub):
    stub.content, stub.finish_reason = "move", "length"
    completion = _backend(stub).complete(_request())
    assert completion.constrained and not completion.finished and not completion.ignored


def test_without_guided_decoding_nothing_is_claimed(stub):
    stub.content = "I would rather not say."
    completion = _backend(stub, "none").complete(_request())
    assert not completion.constrained and not completion.ignored


def test_the_parse_error_names_the_ignored_field(stub):
    stub.content = "I would rather not say."
    runner = StageRunner(_backend(stub), LanguageConfig(), max_retries=1)
    with pytest.raises(OutputParseError) as refused:
        runner.run(Stage.CHUNK, _request().prompt, SamplingConfig(max_new_tokens=24))
    assert "the server ignored structured_outputs.regex" in str(refused.value)
    assert "enable constrained decoding" not in str(refused.value)
    assert len(stub.bodies) == 2  # the retry was still asked for
