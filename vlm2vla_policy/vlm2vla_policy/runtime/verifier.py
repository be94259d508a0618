"""Subtask verification: whether the last chunk completed the subtask.

One interface, three kinds (:attr:`VerifierConfig.kind`):

* ``onboard`` (default): the policy's own backend with the LoRA adapter disabled, i.e. the base
  Gemma-3 answering the verification prompt. No cloud service; the paper found that training
  Gemma itself to verify was unreliable, and the adapter-free base model keeps its general
  visual question answering.
* ``adapter``: the policy's own backend with the adapter on, for adapters trained on the
  verification samples ``vlm2vla-train build`` writes; the way to verify when the base model
  cannot answer (the demo's random tiny base).
* ``remote``: an external model over an OpenAI-compatible chat endpoint (the paper used Gemini).

Both ask the verification prompt of :mod:`vlm2vla_policy.language` with the image before and
after the chunk, and parse the answer with its verdict parser.
"""

from __future__ import annotations

from vlm2vla_policy.language import Stage, Verdict, verification_prompt
from vlm2vla_policy.runtime.chat import ChatPrompt
from vlm2vla_policy.runtime.config import SamplingConfig
from vlm2vla_policy.runtime.images import ImageLike, as_pil_image
from vlm2vla_policy.runtime.stage_runner import StageResult, StageRunner


class Verifier:
    """Answers "is ``subtask`` complete?" from the images before and after a chunk.

    ``runner`` asks its backend; ``use_adapter`` is False for on-board verification (the base
    model) and True for the "adapter" kind and an external endpoint (whose model has no adapter
    to disable).
    """

    def __init__(self, runner: StageRunner, sampling: SamplingConfig, use_adapter: bool) -> None:
        self.runner = runner
        self.sampling = sampling
        self.use_adapter = use_adapter

    def verify(
        self,
        image_before: ImageLike,
        image_after: ImageLike,
        subtask: str,
        next_subtask: str | None = None,
    ) -> StageResult[Verdict]:
        """The verdict on ``subtask`` (``value.done`` True when complete)."""
        messages = verification_prompt(subtask, next_subtask)
        images = (as_pil_image(image_before), as_pil_image(image_after))
        prompt = ChatPrompt(messages=tuple(messages), images=images)
        return self.runner.run(Stage.VERIFICATION, prompt, self.sampling, self.use_adapter)
