"""The VLM2VLA policy: the paper's three stages and verification as plain methods.

Inference loop (the paper's): :meth:`Policy.subtasks` once at the start of an episode; then per
subtask :meth:`Policy.plan` -> :meth:`Policy.chunk` -> execute -> :meth:`Policy.verify`, advancing
when the verdict says done. Every method returns a :class:`StageResult` with the parsed value,
the raw text, the timing and the retry count; it raises :class:`OutputParseError` when no
attempt parsed. Chunk values are :class:`~vlm2vla_policy.language.ActionStep` in metres in the
robot base frame (+x forward, +y left, +z up), gripper 1 open / 0 closed.
"""

from __future__ import annotations

from vlm2vla_policy.language import (
    ActionStep,
    AtTable,
    ChunkStreamReader,
    LanguageConfig,
    MotionPlan,
    Stage,
    Verdict,
    chunk_prompt,
    make_chunk_codec,
    plan_prompt,
    subtasks_prompt,
)
from vlm2vla_policy.runtime.backends.base import Backend, TextSink
from vlm2vla_policy.runtime.chat import ChatPrompt
from vlm2vla_policy.runtime.config import PolicyConfig
from vlm2vla_policy.runtime.images import ImageLike, as_pil_image
from vlm2vla_policy.runtime.stage_runner import StageResult, StageRunner, StageStats
from vlm2vla_policy.runtime.verifier import Verifier


class Policy:
    """Subtasks, motion plan, action chunk and verification over one generation backend.

    Build it with :func:`make_policy` from a :class:`PolicyConfig`, or directly from a backend
    (any object with ``complete`` and ``reset``) and a :class:`Verifier`. Stateless between
    calls except for the backend's prefix cache; thread-safe as far as the backend is.
    """

    def __init__(
        self,
        backend: Backend,
        verifier: Verifier,
        config: PolicyConfig | None = None,
        language: LanguageConfig | None = None,
        at_table: AtTable | None = None,
    ) -> None:
        self.config = config or PolicyConfig()
        self.language = language or LanguageConfig()
        self.backend = backend
        self.runner = StageRunner(
            backend, self.language, at_table, self.config.constrained, self.config.max_retries
        )
        self.verifier = verifier

    def subtasks(self, image: ImageLike, instruction: str) -> StageResult[list[str]]:
        """The ordered subtasks of ``instruction`` from the episode's first image."""
        return self._run(Stage.SUBTASKS, subtasks_prompt(instruction), image)

    def plan(self, image: ImageLike, subtask: str, *, instruction: str) -> StageResult[MotionPlan]:
        """The motion plan (a directional phrase, base frame) for ``subtask`` from ``image``."""
        return self._run(Stage.PLAN, plan_prompt(instruction, subtask), image)

    def chunk(
        self,
        image: ImageLike,
        subtask: str,
        plan: MotionPlan | str,
        *,
        instruction: str,
        on_text: TextSink | None = None,
    ) -> StageResult[list[ActionStep]]:
        """The action chunk carrying out ``plan``: steps in metres, base frame, gripper 0/1.

        Call it right after :meth:`plan` with the same image: the prompt prefix (image first,
        instruction, subtask) is then taken from the prefix cache instead of being encoded again.
        ``on_text`` receives the chunk text while it is decoded (feed it to a
        :class:`~vlm2vla_policy.language.ChunkStreamReader` to act on each step as soon as it is
        final); a streamed chunk is generated once, without retries.
        """
        prompt = chunk_prompt(instruction, subtask, plan)
        return self._run(Stage.CHUNK, prompt, image, on_text)

    def verify(
        self,
        image_before: ImageLike,
        image_after: ImageLike,
        subtask: str,
        next_subtask: str | None = None,
    ) -> StageResult[Verdict]:
        """Whether ``subtask`` was completed between the two images (see :class:`Verifier`)."""
        return self.verifier.verify(image_before, image_after, subtask, next_subtask)

    def reset(self) -> None:
        """Start a new episode: forget cached prompt prefixes."""
        self.backend.reset()
        if self.verifier.runner.backend is not self.backend:
            self.verifier.runner.backend.reset()

    def stats(self) -> dict[str, StageStats]:
        """Calls, retries and failures per stage since the policy was made."""
        counts = self.runner.stats()
        if self.verifier.runner is not self.runner:
            counts.update(self.verifier.runner.stats())
        return counts

    def chunk_reader(self) -> ChunkStreamReader:
        """A reader for streamed chunk text in this policy's chunk encoding."""
        return ChunkStreamReader(make_chunk_codec(self.language.chunk, self.runner.at_table))

    def _run(
        self,
        stage: Stage,
        messages: list[dict],
        image: ImageLike,
        on_text: TextSink | None = None,
    ) -> StageResult:
        prompt = ChatPrompt(messages=tuple(messages), images=(as_pil_image(image),))
        sampling = self.config.sampling.for_stage(stage.value)
        return self.runner.run(stage, prompt, sampling, on_text=on_text)
