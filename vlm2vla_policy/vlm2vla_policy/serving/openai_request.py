"""Validation of an OpenAI chat-completions request, independent of the HTTP stack.

:func:`decode_body` turns the request body's bytes into a JSON object and :func:`parse_request`
that object into a :class:`ChatRequest`; both raise :class:`RequestError` (an HTTP status, the
offending field and a reason) for anything the server would not honour exactly as OpenAI documents
it. A field is either accepted with its documented effect or refused by name — never silently
ignored. ``null`` stands for an absent field, as in OpenAI's API. The accepted and refused fields
are listed in docs/openai_api.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from vlm2vla_policy.runtime.chat import ChatFormatError, ChatPrompt, from_openai_messages
from vlm2vla_policy.runtime.errors import PolicyRuntimeError

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects a body may have (a chat request needs 5)."""

MAX_STOPS = 4
"""Most stop strings a request may give (OpenAI's limit)."""

REFUSED: dict[str, str] = {
    "tools": "tool calls are not supported",
    "tool_choice": "tool calls are not supported",
    "parallel_tool_calls": "tool calls are not supported",
    "functions": "function calls are not supported",
    "function_call": "function calls are not supported",
    "logprobs": "log probabilities are not returned; omit it or send false",
    "top_logprobs": "log probabilities are not returned",
    "logit_bias": "logit bias is not supported",
    "seed": "the sampler is seeded once when the server starts (vlm2vla-serve --seed); "
    "per-request seeds are not supported",
    "presence_penalty": "penalties are not supported; omit it or send 0",
    "frequency_penalty": "penalties are not supported; omit it or send 0",
    "n": "only one choice per request is supported; omit it or send 1",
    "user": "per-user records are not kept; omit it",
}
"""Fields of OpenAI's API this server refuses (with the reason), unless null or their no-op."""

_NO_OPS: dict[str, object] = {
    "logprobs": False,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "n": 1,
}
"""The value of a refused field that asks for nothing (accepted)."""

ACCEPTED: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stream",
        "stream_options",
        "stop",
        "response_format",
        "structured_outputs",
        "guided_regex",
    }
)
"""Fields this server honours."""


class RequestError(Exception):
    """A request the server refuses: HTTP ``status``, the offending ``field`` (or None)."""

    def __init__(self, status: HTTPStatus, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completions request."""

    # Requested model name; None when absent (the server's default).
    model: str | None
    # Messages and images.
    prompt: ChatPrompt
    # Softmax temperature (0 = greedy).
    temperature: float
    # Nucleus sampling mass.
    top_p: float
    # Token budget asked for; None when absent (the server's limit).
    max_tokens: int | None
    # Strings before whose first occurrence the answer ends (not returned).
    stop: tuple[str, ...]
    # Regular expression to constrain the answer to, and the field that gave it.
    regex: str | None
    regex_field: str | None
    # Server-Sent Events, and a usage chunk in them.
    stream: bool
    include_usage: bool


def decode_body(data: bytes) -> dict[str, Any]:
    """The JSON object in ``data``.

    Raises RequestError 400 for bad JSON, NaN/Infinity, deep nesting or lone surrogates.
    """
    try:
        body = json.loads(data, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise RequestError(
            HTTPStatus.BAD_REQUEST, None, "the body is not valid JSON (NaN and Infinity are not)"
        ) from None
    except RecursionError:
        raise _too_deep() from None
    if not isinstance(body, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, None, "the body must be a JSON object")
    _check_values(body)
    return body


def parse_request(body: dict[str, Any], max_images: int = 4) -> ChatRequest:
    """Validate the chat-completions ``body``; raise :class:`RequestError` naming the field."""
    _refuse_unsupported(body)
    stream = _typed(body, "stream", bool, False)
    options = _typed(body, "stream_options", dict, None)
    include_usage = False
    if options is not None:
        if not stream:
            raise _bad("stream_options", "'stream_options' needs 'stream': true")
        for key in options:
            if key != "include_usage":
                raise _bad(f"stream_options.{key}", f"stream_options.{key} is not supported")
        include_usage = _typed(options, "include_usage", bool, False, "stream_options.")
    regex, regex_field = _regex(body)
    return ChatRequest(
        model=_typed(body, "model", str, None),
        prompt=_prompt(body.get("messages"), max_images),
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0, low_open=True),
        max_tokens=_max_tokens(body),
        stop=_stop(body.get("stop")),
        regex=regex,
        regex_field=regex_field,
        stream=stream,
        include_usage=include_usage,
    )


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for name, value in body.items():
        if name in ACCEPTED or value is None:
            continue
        if name in _NO_OPS and _same(value, _NO_OPS[name]):
            continue
        reason = REFUSED.get(name, "this field is not supported by vlm2vla-serve")
        raise _bad(name, f"'{name}': {reason}")
    response_format = _typed(body, "response_format", dict, None)
    if response_format is not None and response_format != {"type": "text"}:
        kind = response_format.get("type")
        raise _bad(
            "response_format",
            f"response_format type {kind!r} is not supported; only {{'type': 'text'}} (constrain "
            "with structured_outputs.regex = a vlm2vla stage grammar instead)",
        )


def _same(value: Any, no_op: object) -> bool:
    """``value`` equals ``no_op`` with the same JSON type (false is not 0)."""
    return isinstance(value, bool) == isinstance(no_op, bool) and value == no_op


def _typed(body: dict[str, Any], name: str, kind: type, default: Any, prefix: str = "") -> Any:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = {bool: "true or false", str: "a string", dict: "an object"}[kind]
        raise _bad(prefix + name, f"'{prefix}{name}' must be {expected}")
    return value


def _number(
    body: dict[str, Any],
    name: str,
    default: float,
    low: float,
    high: float,
    *,
    low_open: bool = False,
) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(name, f"'{name}' must be a number")
    if not (low < value if low_open else low <= value) or value > high:
        bound = "(" if low_open else "["
        raise _bad(name, f"'{name}' must be in {bound}{low}, {high}]; got {value}")
    return float(value)


def _max_tokens(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _bad(name, f"'{name}' must be a positive integer")
        return value
    return None


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or not 1 <= len(stops) <= MAX_STOPS
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise _bad("stop", f"'stop' must be a non-empty string or 1 to {MAX_STOPS} of them")
    return tuple(stops)


def _regex(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The guided-decoding regex and the field it came in (vLLM's two spellings)."""
    structured = _typed(body, "structured_outputs", dict, None)
    if structured is not None:
        for key in structured:
            if key != "regex" and structured[key] is not None:
                raise _bad(
                    f"structured_outputs.{key}",
                    f"structured_outputs.{key} is not supported; only structured_outputs.regex",
                )
        regex = _typed(structured, "regex", str, None, "structured_outputs.")
        if regex is not None:
            if body.get("guided_regex") is not None:
                raise _bad("guided_regex", "give structured_outputs.regex or guided_regex, not two")
            return regex, "structured_outputs.regex"
    regex = _typed(body, "guided_regex", str, None)
    return regex, "guided_regex" if regex is not None else None


def _prompt(messages: Any, max_images: int) -> ChatPrompt:
    try:
        return from_openai_messages(messages, max_images)
    except (ChatFormatError, PolicyRuntimeError) as exc:
        raise _bad("messages", str(exc)) from None


def _check_values(body: dict[str, Any]) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings that are not text (lone surrogates).

    Iterative, so no recursion limit applies; JSON's unicode escapes may decode to lone
    surrogates, which no tokenizer can encode.
    """
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise RequestError(
                    HTTPStatus.BAD_REQUEST, None, "the body has a lone UTF-16 surrogate escape"
                ) from None
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            children = [*item, *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _too_deep() -> RequestError:
    return RequestError(
        HTTPStatus.BAD_REQUEST, None, f"the body nests arrays/objects deeper than {MAX_DEPTH}"
    )


def _bad(field: str, message: str) -> RequestError:
    return RequestError(HTTPStatus.BAD_REQUEST, field, message)
