"""General-ability probes of a (possibly fine-tuned) model: perplexity and multiple choice.

Both score plain text after BOS, without the chat template, the way base language models are
evaluated (LM Evaluation Harness style): the 270M model is a base model, and chat-formatted
scoring would charge every answer for Gemma's end-of-turn token, which a base model has never
learned to write (about 35 nats in a smoke run, enough to decide every pick). Models are scored
through their text decoder and output layer (:mod:`~vlm2vla_experiments.paper.lm`), which for a
Gemma-3 image-text model, with or without a peft adapter, gives the same log-probabilities as its
full forward pass on text.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from vlm2vla_experiments.paper.lm import score_continuations, score_sequence
from vlm2vla_training.evaluation.vqa_questions import Question


def perplexity(model: Any, tokenizer: Any, paragraphs: Sequence[str]) -> dict[str, float]:
    """Perplexity of ``model`` on ``paragraphs`` (each scored on its own after BOS).

    Returns ``perplexity`` = exp(mean negative log-probability per token), the mean
    log-probability in nats per token, the number of scored tokens, and per paragraph the summed
    log-probability and the token count (for paired comparisons).
    """
    sums, counts = [], []
    for text in paragraphs:
        ids = [tokenizer.bos_token_id, *tokenizer.encode(text, add_special_tokens=False)]
        sums.append(float(score_sequence(model, ids, 1).sum()))
        counts.append(len(ids) - 1)
    total, tokens = sum(sums), sum(counts)
    return {
        "perplexity": round(math.exp(-total / tokens), 4),
        "logprob_per_token": round(total / tokens, 5),
        "tokens": tokens,
        "paragraph_logprobs": sums,
        "paragraph_tokens": counts,
    }


def question_prompt(question: Question) -> str:
    """The cloze prompt of a question; each option is scored as its continuation."""
    return f"Question: {question.question}\nAnswer:"


def multiple_choice(model: Any, tokenizer: Any, questions: Sequence[Question]) -> dict[str, Any]:
    """Accuracy when the option with the highest summed log-probability is picked.

    Each option is written as ``" " + option`` after :func:`question_prompt` (the harness's
    ``acc``). Returns the accuracy, whether each question was right (1/0, in order), the mean
    log-probability (nats per token) of the right options and each question's pick.
    """
    correct, right, picks = [], [], {}
    for question in questions:
        prompt = [
            tokenizer.bos_token_id,
            *tokenizer.encode(question_prompt(question), add_special_tokens=False),
        ]
        options = [tokenizer.encode(" " + o, add_special_tokens=False) for o in question.choices]
        scores = score_continuations(model, prompt, options)
        pick = int(np.argmax([s.sum() for s in scores]))
        picks[question.qid] = pick
        correct.append(int(pick == question.answer))
        right.append(float(scores[question.answer].mean()))
    return {
        "mc_accuracy": round(sum(correct) / len(questions), 4),
        "mc_correct": correct,
        "mc_logprob_correct": round(sum(right) / len(right), 4),
        "mc_questions": len(questions),
        "mc_picks": picks,
    }


def general_scores(
    model: Any, tokenizer: Any, paragraphs: Sequence[str], questions: Sequence[Question]
) -> dict[str, Any]:
    """Both probes, and the seconds they took."""
    started = time.perf_counter()
    scores = {
        **perplexity(model, tokenizer, paragraphs),
        **multiple_choice(model, tokenizer, questions),
    }
    scores["seconds"] = round(time.perf_counter() - started, 1)
    return scores
