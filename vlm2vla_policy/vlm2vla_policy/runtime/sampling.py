"""Choosing the next token from logits: temperature, nucleus (top-p), allowed-token masks."""

from __future__ import annotations

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
    scores = logits.float()
    if vocab_size is not None and vocab_size < scores.shape[-1]:
        scores = scores.clone()
        scores[vocab_size:] = -torch.inf
    if allowed is not None:
        index = torch.as_tensor(allowed, dtype=torch.long, device=scores.device)
        if index.numel() == 0:
            return None
        mask = torch.full_like(scores, -torch.inf)
        mask[index] = 0.0
        scores = scores + mask
    if not torch.isfinite(scores).any():
        return None
    if sampling.temperature == 0:
        return int(torch.argmax(scores))
    probs = torch.softmax(scores / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        # Keep a token while the mass before it is below top_p (the first token is always kept).
        keep = (cumulative - sorted_probs) < sampling.top_p
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        choice = torch.multinomial(sorted_probs, 1, generator=generator)
        return int(order[choice])
    return int(torch.multinomial(probs, 1, generator=generator))
