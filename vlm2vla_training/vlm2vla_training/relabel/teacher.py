"""The teacher labeler: a VLM behind any OpenAI-compatible chat API splits episodes into segments.

Works with a local vLLM server (``vllm serve <model>``, base URL ``http://host:8000/v1``) or a
hosted API. The request carries sub-sampled frames as base64 JPEG data URLs, the per-step
displacement log in centimetres with the base-frame axes spelled out, and the instruction
(:mod:`vlm2vla_training.relabel.teacher_prompt`). The answer must be JSON whose segments are
contiguous, in range, with non-empty subtasks and plans that the policy's plan reader accepts; a
bad answer is sent back with the reason and retried, as are timeouts, 429 and 5xx responses, with
exponential backoff and a bounded number of attempts. A valid answer is cached on disk per episode,
keyed by a hash of the whole request, so a rerun never pays twice. Tokens and cost are counted.
Only the standard library talks HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_policy.language import (
    LanguageFormatError,
    PlanConfig,
    SubtaskConfig,
    format_plan,
    normalize_subtask,
    parse_plan,
)
from vlm2vla_training.episode import Episode, EpisodeError
from vlm2vla_training.relabel.base import LabelerFatalError
from vlm2vla_training.relabel.segments import (
    Segment,
    SegmentError,
    segments_from_dicts,
    validate_segments,
)
from vlm2vla_training.relabel.teacher_prompt import (
    TEACHER_PROMPT_VERSION,
    feedback_message,
    teacher_messages,
)

ENV_BASE_URL = "VLM2VLA_TEACHER_BASE_URL"
ENV_MODEL = "VLM2VLA_TEACHER_MODEL"
ENV_API_KEY = "VLM2VLA_TEACHER_API_KEY"
_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class TeacherConfig:
    """Where the teacher is, what it is shown, how it is retried and what it costs."""

    # API root ending in /v1, e.g. "http://localhost:8000/v1"; env VLM2VLA_TEACHER_BASE_URL.
    base_url: str = ""
    # Model name as the server knows it, e.g. "gemini-2.5-pro"; env VLM2VLA_TEACHER_MODEL.
    model: str = ""
    # Bearer token; "" sends none (local servers); env VLM2VLA_TEACHER_API_KEY. Never logged.
    api_key: str = field(default="", repr=False)
    # Frames shown per episode, evenly spaced from the first to the last.
    max_frames: int = 10
    # Longest side of a frame sent to the teacher, pixels (smaller = fewer image tokens).
    image_max_side_px: int = 448
    # JPEG quality of the frames sent (1-95).
    jpeg_quality: int = 85
    # Most subtasks the teacher may return (the policy's subtask list limit).
    max_subtasks: int = SubtaskConfig().max_subtasks
    # Sampling temperature of the teacher.
    temperature: float = 0.2
    # Longest answer, tokens.
    max_tokens: int = 2048
    # Ask for a JSON object through response_format (vLLM and OpenAI support it; turn off for
    # servers that reject the field).
    json_mode: bool = True
    # Timeout of one HTTP request, s.
    timeout_s: float = 180.0
    # Requests per episode before giving up (the first try included).
    max_attempts: int = 4
    # Wait before the first retry, s; doubles each retry.
    initial_backoff_s: float = 2.0
    # Longest wait between retries, s.
    max_backoff_s: float = 60.0
    # Price of prompt tokens, USD per million (for the cost counter; 0 = free/local).
    input_usd_per_mtok: float = 0.0
    # Price of answer tokens, USD per million.
    output_usd_per_mtok: float = 0.0
    # Style (free: its own words; vocabulary: the fixed phrases) and length of the plans asked.
    plan: PlanConfig = field(default_factory=PlanConfig)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_frames < 1 or self.max_subtasks < 1:
            raise ValueError("TeacherConfig.max_attempts, max_frames and max_subtasks must be >= 1")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError("TeacherConfig backoffs must be >= 0 and timeout_s > 0")

    @classmethod
    def from_env(cls, **overrides: Any) -> TeacherConfig:
        """Config with base URL, model and key from the environment; non-None overrides win."""
        values = {
            "base_url": os.environ.get(ENV_BASE_URL, ""),
            "model": os.environ.get(ENV_MODEL, ""),
            "api_key": os.environ.get(ENV_API_KEY, ""),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def check_ready(self) -> None:
        """Raise LabelerFatalError unless a base URL (http/https) and a model are set."""
        if not self.base_url.startswith(("http://", "https://")):
            raise LabelerFatalError(
                f"teacher base URL {self.base_url!r} is not an http(s) URL; set {ENV_BASE_URL} "
                "(e.g. http://localhost:8000/v1 for a local vLLM server) or pass --teacher-base-url"
            )
        if not self.model:
            raise LabelerFatalError(f"no teacher model; set {ENV_MODEL} or pass --teacher-model")


@dataclass
class TeacherUsage:
    """What the teacher has cost so far."""

    # HTTP requests that got an answer.
    requests: int = 0
    # Requests that failed (timeouts, 429, 5xx, unreachable) and were retried.
    transport_errors: int = 0
    # Answers that were not valid JSON segments and were sent back.
    invalid_answers: int = 0
    # Episodes answered from the on-disk cache.
    cache_hits: int = 0
    # Prompt tokens, as reported by the server.
    prompt_tokens: int = 0
    # Answer tokens, as reported by the server.
    completion_tokens: int = 0

    def cost_usd(self, config: TeacherConfig) -> float:
        """Cost at the configured prices."""
        return (
            self.prompt_tokens * config.input_usd_per_mtok
            + self.completion_tokens * config.output_usd_per_mtok
        ) / 1e6


class TeacherTransientError(RuntimeError):
    """A request failed in a way worth retrying (timeout, 429, 5xx, connection refused)."""


@dataclass(frozen=True)
class ChatAnswer:
    """The text of one chat completion and its token counts."""

    content: str
    prompt_tokens: int
    completion_tokens: int


class ChatClient:
    """A minimal OpenAI-compatible ``POST {base_url}/chat/completions`` client (stdlib only)."""

    def __init__(self, config: TeacherConfig) -> None:
        config.check_ready()
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"

    def complete(self, messages: list[dict[str, Any]]) -> ChatAnswer:
        """Send one request; raise TeacherTransientError (retry) or LabelerFatalError (stop)."""
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if self.config.json_mode:
            body["response_format"] = {"type": "json_object"}
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        # The URL's scheme was checked to be http(s) in check_ready (S310).
        data = json.dumps(body).encode()
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:  # noqa: S310
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")[:300]
            if exc.code in _RETRY_STATUS:
                raise TeacherTransientError(f"HTTP {exc.code} from {self.url}: {detail}") from None
            raise LabelerFatalError(
                f"the teacher API refused the request (HTTP {exc.code}: {detail}); check "
                f"{ENV_BASE_URL}, {ENV_MODEL} and {ENV_API_KEY}"
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TeacherTransientError(f"cannot reach {self.url}: {exc}") from None
        except ValueError as exc:
            raise TeacherTransientError(f"{self.url} answered with invalid JSON: {exc}") from None
        try:
            content = payload["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise TeacherTransientError(
                f"{self.url} answered without choices[0].message.content: {str(payload)[:200]}"
            ) from None
        usage = payload.get("usage") or {}
        return ChatAnswer(
            content, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        )


def parse_answer(
    text: str, num_steps: int, max_subtasks: int, plan_config: PlanConfig | None = None
) -> list[Segment]:
    """Segments from the teacher's JSON answer, normalised and validated.

    Accepts a Markdown code fence and text around the object. Subtasks are normalised to the
    policy's lowercase word form and plans rewritten canonically; raises SegmentError (with what
    to fix) for anything else.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise SegmentError("the answer holds no JSON object")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise SegmentError(f"the answer is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        raise SegmentError('the JSON object needs a "segments" list')
    segments = segments_from_dicts(data["segments"])
    if len(segments) > max_subtasks:
        raise SegmentError(f"{len(segments)} segments, more than the limit of {max_subtasks}")
    cleaned = []
    for number, segment in enumerate(segments, start=1):
        subtask = normalize_subtask(segment.subtask) if isinstance(segment.subtask, str) else ""
        try:
            plan = format_plan(parse_plan(segment.motion_plan, plan_config))
        except LanguageFormatError as exc:
            raise SegmentError(f"segment {number} motion_plan: {exc}") from None
        cleaned.append(replace(segment, subtask=subtask, motion_plan=plan))
    return validate_segments(cleaned, num_steps)


def frame_data_url(episode: Episode, index: int, max_side_px: int, quality: int) -> str:
    """Frame ``index`` shrunk to ``max_side_px`` and encoded as a JPEG data URL."""
    image = episode.frames.image(index)
    image.thumbnail((max_side_px, max_side_px))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def sample_frame_indices(num_frames: int, max_frames: int) -> list[int]:
    """Up to ``max_frames`` frame indices, evenly spaced, always with the first and the last."""
    count = min(max_frames, num_frames)
    return sorted({round(float(v)) for v in np.linspace(0, num_frames - 1, count)})


class TeacherLabeler:
    """Labels episodes with a teacher VLM; see the module docstring."""

    name = "teacher"

    def __init__(
        self,
        config: TeacherConfig,
        cache_dir: Path | None,
        client: ChatClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.client = client or ChatClient(config)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.sleep = sleep
        self.usage = TeacherUsage()

    def messages(self, episode: Episode) -> list[dict[str, Any]]:
        """The request's chat messages for ``episode``."""
        frames = [
            (i, frame_data_url(episode, i, self.config.image_max_side_px, self.config.jpeg_quality))
            for i in sample_frame_indices(len(episode.frames), self.config.max_frames)
        ]
        return teacher_messages(
            episode.instruction,
            frames,
            episode.actions,
            episode.fps,
            self.config.max_subtasks,
            plan=self.config.plan,
        )

    def label(self, episode: Episode) -> list[Segment]:
        """Segments of ``episode`` from the cache or the teacher; raises EpisodeError on failure."""
        messages = self.messages(episode)
        key = hashlib.sha256(
            json.dumps(
                {"v": TEACHER_PROMPT_VERSION, "model": self.config.model, "messages": messages},
                sort_keys=True,
            ).encode()
        ).hexdigest()
        cached = self._cached(episode, key)
        if cached is not None:
            self.usage.cache_hits += 1
            return cached
        last_error = ""
        for attempt in range(self.config.max_attempts):
            if attempt:
                self.sleep(
                    min(
                        self.config.max_backoff_s,
                        self.config.initial_backoff_s * 2 ** (attempt - 1),
                    )
                )
            try:
                answer = self.client.complete(messages)
            except TeacherTransientError as exc:
                self.usage.transport_errors += 1
                last_error = str(exc)
                continue
            self.usage.requests += 1
            self.usage.prompt_tokens += answer.prompt_tokens
            self.usage.completion_tokens += answer.completion_tokens
            try:
                segments = parse_answer(
                    answer.content, episode.num_steps, self.config.max_subtasks, self.config.plan
                )
            except SegmentError as exc:
                self.usage.invalid_answers += 1
                last_error = f"invalid answer: {exc}"
                messages = [
                    *messages,
                    {"role": "assistant", "content": answer.content},
                    feedback_message(str(exc)),
                ]
                continue
            self._store(episode, key, segments, answer)
            return segments
        raise EpisodeError(
            f"{episode.episode_id}: no usable teacher answer after {self.config.max_attempts} "
            f"attempts; last problem: {last_error}"
        )

    def _cache_path(self, episode: Episode) -> Path | None:
        return self.cache_dir / f"{episode.episode_id}.json" if self.cache_dir else None

    def _cached(self, episode: Episode, key: str) -> list[Segment] | None:
        path = self._cache_path(episode)
        if path is None or not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("request_sha256") != key:
                return None
            return validate_segments(segments_from_dicts(record["segments"]), episode.num_steps)
        except (ValueError, KeyError):
            return None

    def _store(
        self, episode: Episode, key: str, segments: list[Segment], answer: ChatAnswer
    ) -> None:
        path = self._cache_path(episode)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "request_sha256": key,
            "model": self.config.model,
            "prompt_version": TEACHER_PROMPT_VERSION,
            "answer": answer.content,
            "segments": [s.to_dict() for s in segments],
        }
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        partial.replace(path)

    def totals(self) -> dict[str, Any]:
        """Requests, retries, cache hits, tokens and cost (USD) so far."""
        return {
            "model": self.config.model,
            "requests": self.usage.requests,
            "transport_errors": self.usage.transport_errors,
            "invalid_answers": self.usage.invalid_answers,
            "cache_hits": self.usage.cache_hits,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost_usd": round(self.usage.cost_usd(self.config), 6),
        }
