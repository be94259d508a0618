"""Many answers decoded in one forward pass: a shared, left-padded key/value cache.

Each answer is prefilled alone (its images, Gemma-3's bidirectional image attention and the
prefix cache work as for one answer); its key/value states then join a group's cache, left-padded
to the group's length, with a 2-D attention mask that hides the padding and per-answer position
ids, so every row sees exactly its own tokens at its own positions (the logits equal the ones it
would get alone, up to float rounding). A step feeds each row its own tokens (one sampled token and
the ones the grammar forces after it); rows that feed fewer than the longest are padded after
their tokens, and the mask hides that padding from every later step.

Gemma-3's local layers keep only the last ``sliding_window - 1`` positions of the cache, padding
included, so a group never grows past that: it repacks (drops the padding) when it would, and a
row too long even alone leaves for a group of its own, which carries no padding and runs exactly
as a lone answer.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

KeyValues = list[tuple[torch.Tensor, torch.Tensor]]
"""Per layer, the keys and values of one answer, each of shape (1, kv_heads, tokens, head_dim)."""


class BatchGroup:
    """Rows decoded together: one cache of shape (rows, kv_heads, length, head_dim) per layer.

    ``window`` is the longest cache the model's local layers keep whole (``sliding_window - 1``;
    None when the model has none). ``solo``: a group of one row with no padding and no mask (a
    row too long to share a padded cache), run exactly as a lone answer.
    """

    def __init__(self, model: Any, window: int | None, solo: bool = False) -> None:
        self.model = model
        self.window = window
        self.solo = solo
        self.cache: Any = None
        # 1 where a cache position holds a real token of the row, shape (rows, length).
        self.mask: torch.Tensor | None = None
        # Real tokens of each row in the cache (its next position id).
        self.lengths: list[int] = []

    @property
    def size(self) -> int:
        """Rows in the group."""
        return len(self.lengths)

    def fits(self, length: int, step: int) -> bool:
        """Whether a row of ``length`` real tokens feeding ``step`` tokens fits a shared cache."""
        return self.window is None or length + step <= self.window

    def join(self, rows: Sequence[KeyValues]) -> None:
        """Add rows (their key/values) after the current ones."""
        if self.solo:
            if self.size or len(rows) != 1:
                raise ValueError("a solo group holds exactly one row")
            self._pack(rows)
            self.mask = None
            return
        self._pack([*self._rows(), *rows])

    def adopt(self, cache: Any) -> None:
        """(Solo) take a copy of a lone answer's cache, however long (local layers included)."""
        if not self.solo or self.size:
            raise ValueError("only an empty solo group adopts a cache")
        self.cache = copy.deepcopy(cache)
        self.lengths = [self.cache.get_seq_length()]

    def keep(self, indices: Sequence[int]) -> None:
        """Keep only the rows at ``indices`` (in that order); the rest leave the group."""
        if list(indices) == list(range(self.size)):
            return
        if self.solo or not indices:
            self.cache, self.mask, self.lengths = None, None, []
            return
        index = torch.tensor(list(indices), dtype=torch.long, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask = self.mask[index]
        self.lengths = [self.lengths[i] for i in indices]
        self._trim()

    def extract(self, row: int) -> KeyValues:
        """Row ``row``'s key/values without padding (to move it to another group)."""
        if self.mask is None:
            return key_values(self.cache)
        real = self.mask[row].bool()
        return [
            (layer.keys[row : row + 1, :, real], layer.values[row : row + 1, :, real])
            for layer in self.cache.layers
        ]

    def padded_length(self) -> int:
        """Positions of the shared cache, padding included."""
        return 0 if self.mask is None else int(self.mask.shape[1])

    def repack(self) -> None:
        """Drop the padding the rows no longer need (before the cache outgrows the window)."""
        if not self.solo and self.size:
            self._pack(self._rows())

    def forward(self, feeds: Sequence[list[int]]) -> list[torch.Tensor]:
        """Run each row's tokens (in row order) in one pass; the logits after each row's last."""
        if self.solo:
            step = torch.tensor([feeds[0]], dtype=torch.long, device=self.model.device)
            out = self.model(input_ids=step, cache=self.cache, use_cache=True, logits_to_keep=1)
            self.lengths[0] += step.shape[1]
            return [out.logits[0, -1]]
        width = max(len(feed) for feed in feeds)
        device = self.mask.device
        ids = torch.zeros((self.size, width), dtype=torch.long, device=device)
        new_mask = torch.zeros((self.size, width), dtype=self.mask.dtype, device=device)
        positions = torch.zeros((self.size, width), dtype=torch.long, device=device)
        for row, feed in enumerate(feeds):
            count = len(feed)
            ids[row, :count] = torch.tensor(feed, dtype=torch.long, device=device)
            new_mask[row, :count] = 1
            positions[row] = torch.arange(width, device=device) + self.lengths[row]
            self.lengths[row] += count
        self.mask = torch.cat([self.mask, new_mask], dim=1)
        out = self.model(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
            logits_to_keep=width,
        )
        return [out.logits[row, len(feed) - 1] for row, feed in enumerate(feeds)]

    def _rows(self) -> list[KeyValues]:
        return [self.extract(row) for row in range(self.size)]

    def _pack(self, rows: Sequence[KeyValues]) -> None:
        """Build the cache of ``rows`` left-padded to the longest."""
        from transformers import DynamicCache

        lengths = [row[0][0].shape[2] for row in rows]
        longest = max(lengths)
        device = rows[0][0][0].device
        cache = DynamicCache(config=self.model.config)
        for layer in range(len(rows[0])):
            keys = [_pad_left(row[layer][0], longest) for row in rows]
            values = [_pad_left(row[layer][1], longest) for row in rows]
            cache.update(torch.cat(keys), torch.cat(values), layer)
        mask = torch.zeros((len(rows), longest), dtype=torch.long, device=device)
        for row, length in enumerate(lengths):
            mask[row, longest - length :] = 1
        self.cache, self.mask, self.lengths = cache, mask, lengths

    def _trim(self) -> None:
        """Drop leading positions that are padding in every row (after rows left)."""
        used = self.mask.any(dim=0).nonzero()
        first = int(used[0]) if used.numel() else self.padded_length()
        if first:
            self._pack(self._rows())


def _pad_left(states: torch.Tensor, length: int) -> torch.Tensor:
    """``states`` (1, heads, n, dim) with zeros before them up to ``length`` positions."""
    missing = length - states.shape[2]
    if not missing:
        return states
    return torch.nn.functional.pad(states, (0, 0, missing, 0))


def key_values(cache: Any) -> KeyValues:
    """The key/values of a lone answer's cache, per layer (the tensors themselves, not copies).

    Safe to hold while the cache object goes on: a transformers cache layer replaces its tensors
    on every update or crop rather than writing into them.
    """
    return [(layer.keys, layer.values) for layer in cache.layers]
