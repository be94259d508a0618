"""Many answers decoded in one forward pass: a shared, left-padded key/value cache.

Rows are left-padded to the group's length; an attention mask hides the padding and each row
has its own position ids, so every row sees exactly its own tokens at its own positions (the
logits equal the ones it would get alone, up to float rounding). Prompts are prefilled in a group
too, images included (each image's tokens see each other, as Gemma-3's ``token_type_ids`` say),
or alone; a row's key/values then join the decoding group. A step feeds each row its own tokens
(one sampled token and the ones the grammar forces after it); rows that feed fewer than the
longest are padded after their tokens, and the mask hides that padding from every later step.

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

    def prefill(self, prompts: Sequence[Any]) -> list[torch.Tensor]:
        """(Empty group) run whole prompts, images included, in one pass; each one's logits.

        ``prompts`` are :class:`~vlm2vla_policy.runtime.generation.EncodedPrompt` s; they are
        left-padded to the longest (token type 0, masked), so each keeps its own positions and
        Gemma-3's bidirectional attention among its own image tokens.
        """
        from transformers import DynamicCache

        if self.solo or self.size:
            raise ValueError("only an empty shared group prefills prompts")
        lengths = [prompt.input_ids.shape[1] for prompt in prompts]
        longest = max(lengths)
        device = prompts[0].input_ids.device
        ids = torch.zeros((len(prompts), longest), dtype=torch.long, device=device)
        types = torch.zeros_like(ids)
        mask = torch.zeros_like(ids)
        for row, (prompt, length) in enumerate(zip(prompts, lengths, strict=True)):
            ids[row, longest - length :] = prompt.input_ids[0]
            mask[row, longest - length :] = 1
            if prompt.token_type_ids is not None:
                types[row, longest - length :] = prompt.token_type_ids[0]
        images = [prompt.pixel_values for prompt in prompts if prompt.pixel_values is not None]
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        self.cache = DynamicCache(config=self.model.config)
        out = self.model(
            input_ids=ids,
            attention_mask=self._prompt_attention(mask, types),
            position_ids=positions,
            pixel_values=torch.cat(images) if images else None,
            token_type_ids=types if images else None,
            cache=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.mask, self.lengths = mask, lengths
        return [out.logits[row, -1] for row in range(len(prompts))]

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
        past = self.padded_length()
        self.mask = torch.cat([self.mask, new_mask], dim=1)
        out = self.model(
            input_ids=ids,
            attention_mask=self._attention(past, width),
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
            logits_to_keep=width,
        )
        return [out.logits[row, len(feed) - 1] for row, feed in enumerate(feeds)]

    def _prompt_attention(self, real: torch.Tensor, types: torch.Tensor) -> dict[str, torch.Tensor]:
        """The additive attention mask of a prefill: causal, image tokens see their whole image.

        Gemma-3's rule (its ``token_type_ids``): a position sees the real positions before it,
        and each image token also every token of its own image (a run of image tokens).
        """
        length = real.shape[1]
        positions = torch.arange(length, device=real.device)
        causal = positions[None, :] <= positions[:, None]
        image = types.bool()
        starts = image & ~torch.nn.functional.pad(image, (1, 0))[:, :-1]
        block = torch.where(image, starts.cumsum(dim=1), 0)
        same_image = (block[:, :, None] == block[:, None, :]) & image[:, :, None]
        allowed = (causal[None] | same_image) & real.bool()[:, None, :]
        return self._additive(allowed[:, None])

    def _additive(self, allowed: torch.Tensor) -> dict[str, torch.Tensor]:
        """``allowed`` (rows, 1, queries, keys) as the additive mask of every layer kind."""
        dtype = self.model.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
        mask.masked_fill_(~allowed, torch.finfo(dtype).min)
        return {"full_attention": mask, "sliding_attention": mask}

    def _attention(self, past: int, width: int) -> dict[str, torch.Tensor]:
        """The additive attention mask of a step (every layer kind: the cache fits the window).

        Each new position sees the row's real positions up to itself. Given ready-made, it
        spares the model building one from the 2-D mask on every step (the larger part of a
        small model's step).
        """
        length = past + width
        device = self.mask.device
        causal = torch.arange(length, device=device)[None, :] <= (
            past + torch.arange(width, device=device)[:, None]
        )
        return self._additive(self.mask.bool()[:, None, None, :] & causal[None, None])

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


def cache_of(model: Any, states: KeyValues) -> Any:
    """A lone answer's cache holding ``states`` (copies), e.g. to keep in the prefix cache."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    for layer, (keys, values) in enumerate(states):
        cache.update(keys, values, layer)
    return cache


def key_values(cache: Any) -> KeyValues:
    """The key/values of a lone answer's cache, per layer (the tensors themselves, not copies).

    Safe to hold while the cache object goes on: a transformers cache layer replaces its tensors
    on every update or crop rather than writing into them.
    """
    return [(layer.keys, layer.values) for layer in cache.layers]
