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

Nothing is copied. An entry holds the generation's own cache object; the generation that reuses
it receives that object cropped back to the shared prefix (the entry leaves the cache and comes
back, describing the new prompt, when that generation stores it after its prefill). So a hit costs
a crop, not a copy of every layer's keys and values. Entries are matched by content (adapter tag,
images, token ids), so several robots served by one model each keep their own prefix as long as
``capacity`` holds one entry per robot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class _Entry:
    tag: str
    token_ids: tuple[int, ...]
    image_keys: tuple[str, ...]
    cache: Any  # holds these tokens first, then whatever was decoded after them


@dataclass(frozen=True)
class PrefixHit:
    """A reusable cache: ``cache`` holds the key/values of the first ``length`` prompt tokens."""

    # The stored cache object itself, cropped to ``length`` tokens; the caller extends it.
    cache: Any
    # Number of prompt tokens whose key/values ``cache`` already holds.
    length: int


class PrefixCache:
    """Keeps the prompt caches of the most recent prompts and finds the longest reusable one.

    ``capacity`` bounds the number of prompts kept, least recently stored first out (each costs
    the memory of its key/values: about 120 MB for a 350-token prompt of Gemma-3-12B in bfloat16);
    give one per robot a server answers. ``max_tokens`` is the longest cache that can be cropped
    back (the sliding-window size of Gemma-3's local layers): a prompt that long is not kept, and
    an entry whose cache grew that long while decoding is dropped.
    """

    def __init__(self, capacity: int = 8, max_tokens: int | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"PrefixCache capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self._max_tokens = max_tokens
        self._entries: list[_Entry] = []

    @property
    def capacity(self) -> int:
        """Most prompts kept."""
        return self._capacity

    def clear(self) -> None:
        """Forget every cached prompt (e.g. at the start of an episode)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def store(
        self, tag: str, token_ids: list[int], image_keys: tuple[str, ...], cache: Any
    ) -> None:
        """Remember ``cache``, which holds the key/values of ``token_ids`` (not copied).

        The caller goes on decoding into ``cache``; a later :meth:`lookup` crops it back.
        """
        key = (tag, tuple(token_ids), tuple(image_keys))
        self._entries = [
            e
            for e in self._entries
            if e.cache is not cache and (e.tag, e.token_ids, e.image_keys) != key
        ]
        if self._max_tokens is not None and len(token_ids) >= self._max_tokens:
            return
        self._entries.append(_Entry(*key, cache))
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
        prefix is reusable only if it covers it. A hit removes the entry: its cache now belongs to
        the caller, who stores it again under the new prompt.
        """
        self._entries = [e for e in self._entries if self._croppable(e)]
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
        self._entries.remove(entry)
        surplus = entry.cache.get_seq_length() - length
        if surplus:
            entry.cache.crop(-surplus)
        return PrefixHit(cache=entry.cache, length=length)

    def _croppable(self, entry: _Entry) -> bool:
        """False once decoding filled the cache up to the sliding window (it cannot go back)."""
        return self._max_tokens is None or entry.cache.get_seq_length() < self._max_tokens


def _shared_length(a: tuple[int, ...], b: list[int]) -> int:
    """Number of leading positions where ``a`` and ``b`` agree."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
