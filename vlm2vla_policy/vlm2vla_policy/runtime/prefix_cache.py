"""Reuse of the key/value cache of a shared token prefix between generations.

The plan and chunk prompts of one cycle start with the same chat header and the same camera image
(its 256 image tokens on Gemma-3 at 896x896), so the chunk stage can start from the plan stage's
prompt cache instead of encoding the image and prefilling those tokens again.

A cached prefix is reused only when it is safe to do so:

* the images are the same (by content hash), the token ids agree up to the reuse point, and the
  adapter state is the same (``tag``: a cache computed with the LoRA adapter is not reused
  without it);
* every image token of the new prompt lies inside the reused prefix (the suffix is plain text,
  so no image features are computed again and Gemma-3's bidirectional image attention is intact);
* at least one prompt token is left to run, which yields the next-token logits.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass
class _Entry:
    tag: str
    token_ids: tuple[int, ...]
    image_keys: tuple[str, ...]
    cache: Any


@dataclass(frozen=True)
class PrefixHit:
    """A reusable cache: ``cache`` holds the key/values of the first ``length`` prompt tokens."""

    # A private copy of the cache, cropped to ``length`` tokens; the caller may extend it.
    cache: Any
    # Number of prompt tokens whose key/values ``cache`` already holds.
    length: int


class PrefixCache:
    """Keeps the prompt caches of the most recent prompts and finds the longest reusable one.

    ``capacity`` bounds the number of prompts kept (each costs the memory of its key/values:
    about 120 MB for a 350-token prompt of Gemma-3-12B in bfloat16). ``max_tokens`` is the
    longest prefix the model's cache can be cropped back to (the sliding-window size of Gemma-3's
    local layers); longer prompts are not kept.
    """

    def __init__(self, capacity: int = 2, max_tokens: int | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"PrefixCache capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self._max_tokens = max_tokens
        self._entries: list[_Entry] = []

    def clear(self) -> None:
        """Forget every cached prompt (e.g. at the start of an episode)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def store(
        self, tag: str, token_ids: list[int], image_keys: tuple[str, ...], cache: Any
    ) -> None:
        """Remember the cache of a fully prefilled prompt (copied; the caller keeps ``cache``)."""
        if self._max_tokens is not None and len(token_ids) >= self._max_tokens:
            return
        entry = _Entry(tag, tuple(token_ids), tuple(image_keys), copy.deepcopy(cache))
        key = (entry.tag, entry.token_ids, entry.image_keys)
        self._entries = [e for e in self._entries if (e.tag, e.token_ids, e.image_keys) != key]
        self._entries.append(entry)
        del self._entries[: -self._capacity]

    def lookup(
        self,
        tag: str,
        token_ids: list[int],
        image_keys: tuple[str, ...],
        last_image_token: int,
    ) -> PrefixHit | None:
        """The longest safe reusable prefix of ``token_ids``, or None.

        ``last_image_token`` is the index of the prompt's last image token (-1 without images); a
        prefix is reusable only if it covers it.
        """
        best: tuple[int, _Entry] | None = None
        for entry in self._entries:
            if entry.tag != tag or entry.image_keys != tuple(image_keys):
                continue
            shared = _shared_length(entry.token_ids, token_ids)
            length = min(shared, len(token_ids) - 1)
            if length <= last_image_token or length <= 0:
                continue
            if best is None or length > best[0]:
                best = (length, entry)
        if best is None:
            return None
        length, entry = best
        cache = copy.deepcopy(entry.cache)
        surplus = len(entry.token_ids) - length
        if surplus:
            cache.crop(-surplus)
        return PrefixHit(cache=cache, length=length)


def _shared_length(a: tuple[int, ...], b: list[int]) -> int:
    """Number of leading positions where ``a`` and ``b`` agree."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
