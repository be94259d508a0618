"""What ``vlm2vla-train eval`` evaluates and how (kept light: the command line reads it).

:class:`EvalConfig`'s fields are :func:`~vlm2vla_policy.settings.setting` s; ``vlm2vla-train
eval``'s options are derived from them. :mod:`vlm2vla_training.evaluation.run` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlm2vla_policy.runtime.config import ModelConfig
from vlm2vla_policy.settings import like, nonempty, setting, validate
from vlm2vla_training.samples import ALL_STAGES


@dataclass(frozen=True)
class EvalConfig:
    """What ``eval`` evaluates and how."""

    data: str = setting("", "output directory of `vlm2vla-train build` (its eval split is used)")
    out: str = setting("", "directory the metrics, predictions and plots are written to")
    model: str = setting("", "base model (LoRA) or the fully fine-tuned model directory")
    adapter: str = setting("", "LoRA adapter directory; empty evaluates the model alone")
    run: str = setting(
        "",
        "a `fit` run directory: fills model, adapter and data from its config.json where they "
        "are empty, and gives the training curve",
    )
    base_model: str = setting(
        "", "baseline of the VQA check for a model without an adapter (a fully fine-tuned one)"
    )
    stages: tuple[str, ...] = setting(
        ALL_STAGES, "stages to evaluate", choices=ALL_STAGES, check=nonempty
    )
    max_samples_per_stage: int = setting(
        50, "samples per stage at most (the first ones of the eval split, in dataset order)", low=1
    )
    constrained: bool = setting(
        True,
        "decode under each stage's grammar (as the robot runs; off measures the raw parse rate)",
    )
    max_retries: int = setting(
        0, "extra attempts on an unparsable answer (0: every failure counts)", low=0
    )
    device: str = like(ModelConfig, "device")
    dtype: str = like(ModelConfig, "dtype")
    vqa: bool = setting(True, "run the VQA retention check")
    vqa_image_questions: int = setting(
        30, "picture questions of the VQA check (beside the text ones)", low=0
    )
    max_new_tokens: int = setting(
        0,
        "answer budget of every stage; 0 = the runtime's per-stage defaults (sized for the real "
        "Gemma tokenizer; byte-level test tokenizers need more)",
        unit="tokens",
        low=0,
    )
    trajectory_episodes: int = setting(3, "episodes drawn in the trajectory plot", low=0)
    seed: int = setting(0, "seed of the question set and of the sampler")

    def __post_init__(self) -> None:
        validate(self)
