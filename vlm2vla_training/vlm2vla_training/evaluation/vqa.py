"""VQA retention: the same questions scored with and without the LoRA adapter.

Each multiple-choice question is asked as a chat prompt (image first, then the question and the
options); every option is scored by the mean log-probability (nats per token) of writing it as
the answer, rendered with the same chat template as training and inference
(:class:`~vlm2vla_training.fit.chat_samples.ChatSampleEncoder`). The best-scoring option is the
model's pick. Mean log-probability rather than the sum keeps long options from losing by length.

Retention = accuracy with the adapter / accuracy without it (peft's ``disable_adapter()`` on the
same loaded model, or a separately loaded base model for a fully fine-tuned one). The paper
reports 85-118 % per benchmark; this built-in set is a quick check, not those benchmarks (see
:mod:`vlm2vla_training.evaluation.external`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from vlm2vla_training.evaluation.vqa_questions import Question
from vlm2vla_training.fit.chat_samples import IGNORE_INDEX, ChatSampleEncoder

MAX_SEQ_LEN = 4096
"""Token bound of a question + option sequence (questions are short)."""


@dataclass(frozen=True)
class VqaScore:
    """How a model did on a question set."""

    # Fraction of questions whose best-scoring option is the right one.
    accuracy: float
    # Mean over questions of the right option's mean log-probability, nats per token.
    mean_logprob_correct: float
    # Question id -> index of the picked option.
    picks: dict[str, int] = field(default_factory=dict)


def question_messages(question: Question, option: str) -> list[dict[str, Any]]:
    """The chat of one question answered with ``option``."""
    text = f"{question.question}\nOptions: {', '.join(question.choices)}.\nAnswer with one option."
    content: list[dict[str, Any]] = [{"type": "image"}] if question.image is not None else []
    content.append({"type": "text", "text": text})
    return [
        {"role": "user", "content": content},
        {"role": "assistant", "content": [{"type": "text", "text": option}]},
    ]


@torch.inference_mode()
def option_logprob(
    model: Any, encoder: ChatSampleEncoder, question: Question, option: str
) -> float:
    """Mean log-probability (nats per token) of ``option`` as the answer to ``question``."""
    images = [question.image] if question.image is not None else []
    sample = encoder.encode(question_messages(question, option), images)
    device = next(model.parameters()).device
    input_ids = torch.tensor([sample.input_ids], device=device)
    labels = torch.tensor([sample.labels], device=device)
    targets = labels[:, 1:]
    positions = (targets[0] != IGNORE_INDEX).nonzero().squeeze(1)
    inputs: dict[str, Any] = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "token_type_ids": torch.tensor([sample.token_type_ids], device=device),
    }
    if sample.pixel_values is not None:
        inputs["pixel_values"] = sample.pixel_values.to(device, dtype=model.dtype)
    logits = model(**inputs, logits_to_keep=positions, use_cache=False).logits[0].float()
    chosen = targets[0, positions]
    return float(torch.log_softmax(logits, dim=-1).gather(1, chosen[:, None]).mean())


def score_questions(model: Any, processor: Any, questions: Sequence[Question]) -> VqaScore:
    """Accuracy and mean right-option log-probability of ``model`` on ``questions``."""
    encoder = ChatSampleEncoder(processor, MAX_SEQ_LEN)
    hits, correct_logprobs, picks = 0, [], {}
    for question in questions:
        scores = [option_logprob(model, encoder, question, o) for o in question.choices]
        pick = max(range(len(scores)), key=scores.__getitem__)
        picks[question.qid] = pick
        hits += int(pick == question.answer)
        correct_logprobs.append(scores[question.answer])
    return VqaScore(
        accuracy=hits / len(questions),
        mean_logprob_correct=sum(correct_logprobs) / len(correct_logprobs),
        picks=picks,
    )


def vqa_retention(
    model: Any,
    processor: Any,
    questions: Sequence[Question],
    base_model: Any | None = None,
) -> dict[str, Any]:
    """Scores with and without the adapter, and their ratio.

    ``model`` is a peft model (its adapter is disabled for the baseline) or, for a fully
    fine-tuned model, any model with ``base_model`` given as the baseline. Returns
    ``with_adapter`` and ``without_adapter`` (accuracy, mean right-option log-probability),
    ``retention`` (accuracy ratio; None when the baseline gets nothing right), ``agreement``
    (fraction of questions where both pick the same option) and ``questions``.
    """
    tuned = score_questions(model, processor, questions)
    if base_model is not None:
        base = score_questions(base_model, processor, questions)
    elif hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            base = score_questions(model, processor, questions)
    else:
        raise ValueError(
            "the model has no adapter to disable; pass the base model to compare with "
            "(eval --base-model for a fully fine-tuned model)"
        )
    same = sum(int(tuned.picks[q.qid] == base.picks[q.qid]) for q in questions)
    return {
        "questions": len(questions),
        "with_adapter": {
            "accuracy": round(tuned.accuracy, 4),
            "mean_logprob_correct": round(tuned.mean_logprob_correct, 4),
        },
        "without_adapter": {
            "accuracy": round(base.accuracy, 4),
            "mean_logprob_correct": round(base.mean_logprob_correct, 4),
        },
        "retention": round(tuned.accuracy / base.accuracy, 4) if base.accuracy else None,
        "agreement": round(same / len(questions), 4),
    }
