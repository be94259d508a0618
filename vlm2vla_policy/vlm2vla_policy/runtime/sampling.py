"""Choosing the next token from logits: temperature, nucleus (top-p), allowed-token sets.

With an allowed set (constrained decoding) only the allowed tokens' logits are read: softmax,
sort and cumulative sum run over those few hundred values, not over the whole vocabulary. That is
the same distribution as masking every other token to -inf and sampling from the full vector,
because a masked token has probability 0 and the renormalised probabilities of the rest are equal.
A set of one token is returned without a draw (the grammar leaves no choice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from vlm2vla_policy.runtime.config import SamplingConfig


def next_token(
    logits: torch.Tensor,
    sampling: SamplingConfig,
    generator: torch.Generator | None = None,
    allowed: Sequence[int] | torch.Tensor | None = None,
    vocab_size: int | None = None,
) -> int | None:
    """Pick the next token id from a 1-D logits vector; None when no token is allowed.

    ``allowed`` restricts the choice to those ids (constrained decoding); ``vocab_size`` excludes
    ids the tokenizer cannot decode (Gemma-3's embedding table is larger than its vocabulary).
    Temperature 0 is greedy; otherwise the logits are divided by the temperature and sampled from
    the smallest set of tokens whose probability reaches ``top_p``.
    """
    if allowed is None:
        scores = logits if vocab_size is None else logits[:vocab_size]
        return _sample(scores.float(), sampling, generator)
    index = torch.as_tensor(allowed, dtype=torch.long, device=logits.device)
    if vocab_size is not None:
        index = index[index < vocab_size]
    if index.numel() <= 1:
        return int(index[0]) if index.numel() == 1 else None
    position = _sample(logits[index].float(), sampling, generator)
    return None if position is None else int(index[position])


def _sample(
    scores: torch.Tensor, sampling: SamplingConfig, generator: torch.Generator | None
) -> int | None:
    """Index into ``scores`` drawn by temperature and top-p; None when every score is -inf."""
    if sampling.temperature == 0:
        best = int(torch.argmax(scores))
        return best if math.isfinite(float(scores[best])) else None
    if not torch.isfinite(scores).any():
        return None
    probs = torch.softmax(scores / sampling.temperature, dim=-1)
    if sampling.top_p >= 1.0:
        return int(torch.multinomial(probs, 1, generator=generator))
    sorted_probs, order = torch.sort(probs, descending=True)
    cumulative = torch.cumsum(sorted_probs, dim=-1)
    # Keep a token while the mass before it is below top_p (the first token is always kept).
    keep = (cumulative - sorted_probs) < sampling.top_p
    sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
    return int(order[torch.multinomial(sorted_probs, 1, generator=generator)])
