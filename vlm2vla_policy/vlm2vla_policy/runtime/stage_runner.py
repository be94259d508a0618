"""Running one stage: prompt -> backend -> parsed value, with a bounded retry on bad output.

Prompts, grammars and parsers all come from :mod:`vlm2vla_policy.language`; this module only
decides how often to ask and keeps count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

from vlm2vla_policy.language import (
    AtTable,
    LanguageConfig,
    LanguageFormatError,
    Stage,
    grammar_for,
    parse_output,
)
from vlm2vla_policy.runtime.backends.base import Backend, GenerationRequest, TextSink
from vlm2vla_policy.runtime.chat import ChatPrompt
from vlm2vla_policy.runtime.config import SamplingConfig
from vlm2vla_policy.runtime.errors import OutputParseError
from vlm2vla_policy.runtime.timing import Timing

V = TypeVar("V")


@dataclass(frozen=True)
class StageResult(Generic[V]):
    """A stage's parsed answer, the text it was read from, and what it cost."""

    # Stage name ("subtasks", "plan", "chunk", "verification").
    stage: str
    # The parsed value (see vlm2vla_policy.language.parse_output): list[str] of subtasks,
    # MotionPlan, list[ActionStep] in metres (base frame), or Verdict.
    value: V
    # The model's text the value was read from (the last attempt's).
    raw_text: str
    # Work and time summed over every attempt.
    timing: Timing
    # Generations tried (1 when the first output parsed).
    attempts: int
    # True when decoding was constrained to the stage's grammar.
    constrained: bool

    @property
    def retries(self) -> int:
        """Extra attempts after the first."""
        return self.attempts - 1


@dataclass
class StageStats:
    """Running counts of one stage."""

    # Stage calls.
    calls: int = 0
    # Extra attempts because an output did not parse.
    retries: int = 0
    # Calls that failed after every attempt.
    failures: int = 0


class StageRunner:
    """Asks a backend for one stage's answer and parses it; retries a bounded number of times.

    ``constrained`` sends each stage's grammar with the request (the in-process backend then
    cannot write text outside it; a remote server does if it supports guided decoding). An
    output that still does not parse (e.g. the token budget ran out, or the server ignored the
    grammar) is asked for again, at most ``max_retries`` more times. The grammars are built when
    the runner is made (the chunk grammar's automaton takes seconds on a CPU core), so the first
    chunk of an episode does not wait for it.
    """

    def __init__(
        self,
        backend: Backend,
        language: LanguageConfig,
        at_table: AtTable | None = None,
        constrained: bool = True,
        max_retries: int = 2,
    ) -> None:
        self.backend = backend
        self.language = language
        self.at_table = at_table
        self.constrained = constrained
        self.max_retries = max_retries
        self._stats: dict[str, StageStats] = {}
        self._lock = threading.Lock()
        if constrained:
            for stage in self._stages():
                grammar_for(stage, language, at_table)

    def _stages(self) -> tuple[Stage, ...]:
        """The stages whose grammar this runner can build.

        An AT chunk needs the AT table; a verifier's runner, which never writes chunks, has none.
        """
        chunk = self.language.chunk.encoding != "at" or self.at_table is not None
        return (Stage.SUBTASKS, Stage.PLAN, Stage.VERIFICATION) + ((Stage.CHUNK,) if chunk else ())

    def run(
        self,
        stage: Stage,
        prompt: ChatPrompt,
        sampling: SamplingConfig,
        use_adapter: bool = True,
        on_text: TextSink | None = None,
    ) -> StageResult:
        """Generate and parse ``stage``'s answer to ``prompt``.

        With ``on_text`` the answer's text is streamed to it while it is decoded, and the stage
        is tried once: what a streamed answer started (motion) cannot be taken back by asking
        again, so the caller decides what follows. A :class:`LanguageFormatError` raised by
        ``on_text`` (a streaming reader that saw the answer turn malformed) ends that attempt.
        Raises :class:`OutputParseError` when no attempt parsed.
        """
        grammar = grammar_for(stage, self.language, self.at_table) if self.constrained else None
        request = GenerationRequest(prompt, sampling, grammar, use_adapter)
        timing = Timing()
        error: LanguageFormatError | None = None
        text = ""
        ignored = ""
        constrained = grammar is not None  # until a completion tells
        attempts = 0
        tries = 1 if on_text is not None else self.max_retries + 1
        for attempts in range(1, tries + 1):
            try:
                completion = (
                    self.backend.complete(request, on_text)
                    if on_text is not None
                    else self.backend.complete(request)
                )
            except LanguageFormatError as exc:
                error = exc
                continue
            timing = timing + completion.timing
            text = completion.text
            ignored = completion.ignored
            constrained = completion.constrained
            try:
                value = parse_output(stage, text, self.language, self.at_table)
            except LanguageFormatError as exc:
                error = exc
                continue
            self._count(stage, attempts, failed=False)
            return StageResult(
                stage=stage.value,
                value=value,
                raw_text=text,
                timing=timing,
                attempts=attempts,
                constrained=completion.constrained,
            )
        self._count(stage, attempts, failed=True)
        raise OutputParseError(
            stage.value, attempts, text, error, constrained=constrained, ignored=ignored
        )

    def stats(self) -> dict[str, StageStats]:
        """Counts per stage name since creation (copies)."""
        with self._lock:
            return {name: StageStats(**vars(s)) for name, s in self._stats.items()}

    def _count(self, stage: Stage, attempts: int, failed: bool) -> None:
        with self._lock:
            stats = self._stats.setdefault(stage.value, StageStats())
            stats.calls += 1
            stats.retries += attempts - 1
            stats.failures += int(failed)
