"""Token-by-token generation with a Gemma-3 image-text model, constrained and prefix-cached.

The loop is written out (rather than ``model.generate``) so that it can start from a reused
prefix cache without encoding the image again, time the prefill and the decode separately, and
apply a ``prefix_allowed_tokens_fn``-style constraint from :mod:`vlm2vla_policy.language` at
every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import torch

from vlm2vla_policy.decoding.constrained import GrammarConstraint
from vlm2vla_policy.runtime.chat import ChatPrompt
from vlm2vla_policy.runtime.config import SamplingConfig
from vlm2vla_policy.runtime.errors import PromptError
from vlm2vla_policy.runtime.images import image_key
from vlm2vla_policy.runtime.prefix_cache import PrefixCache, PrefixHit
from vlm2vla_policy.runtime.sampling import next_token
from vlm2vla_policy.runtime.timing import Timing

AllowedTokensFn = Callable[[int, torch.Tensor], Sequence[int]]
"""``fn(batch_id, input_ids) -> allowed next token ids``: transformers' prefix_allowed_tokens_fn.

``input_ids`` is the 1-D tensor of the prompt followed by the tokens written so far.
"""

END_OF_TURN_TOKEN: str = "<end_of_turn>"  # noqa: S105 (a token, not a password)
"""Gemma's end of a chat turn; generation stops on it as on the end-of-sequence token."""


@dataclass(frozen=True)
class EncodedPrompt:
    """A chat prompt turned into model inputs."""

    # Token ids of the whole prompt, shape (1, n).
    input_ids: torch.Tensor
    # Preprocessed images, shape (images, 3, H, W), or None for a text-only prompt.
    pixel_values: torch.Tensor | None
    # 1 where a token is an image token, shape (1, n) (Gemma-3's bidirectional image attention).
    token_type_ids: torch.Tensor | None
    # Content hash of each image, in order.
    image_keys: tuple[str, ...]
    # Index of the last image token, -1 without images.
    last_image_token: int


class StopGeneration(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by an ``on_text`` sink to end the answer as finished (e.g. at a stop string).

    :meth:`GenerationEngine.generate` returns normally then, with ``finished`` true and the text
    decoded so far; any other exception from the sink propagates.
    """


@dataclass(frozen=True)
class Prefill:
    """A prompt run through the model: the cache and the logits to sample the answer from."""

    # The prompt's key/value cache (the prefix cache's own object when prefix reuse is on).
    cache: Any
    # The prompt's token ids.
    token_ids: list[int]
    # Prompt tokens taken from the prefix cache rather than run again.
    reused: int
    # Next-token logits after the prompt, shape (vocab,).
    logits: torch.Tensor


@dataclass(frozen=True)
class Generation:
    """What one generation wrote and what it cost."""

    # Decoded output text (special tokens and the final end token removed): the pieces an
    # on_text sink received, joined (the same with no sink). Equal to tokenizer.decode(token_ids,
    # skip_special_tokens=True) for valid UTF-8; where the bytes are invalid each becomes U+FFFD
    # and the characters around it stay (decode() turns a whole run of byte tokens to U+FFFD).
    text: str
    # Output token ids, the end token excluded.
    token_ids: tuple[int, ...]
    # Work and time.
    timing: Timing
    # True when the model ended its answer (end token); False when max_new_tokens ran out or
    # the constraint allowed no token.
    finished: bool


class GenerationEngine:
    """Generates text from chat prompts with one loaded model and processor.

    ``prefix_cache`` (optional) lets consecutive prompts that share a prefix (same image first,
    same header) skip re-encoding it. ``seed`` seeds the sampler (None: random).
    ``jump_forward``: under a grammar constraint, append the tokens it forces without sampling.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        prefix_cache: PrefixCache | None = None,
        seed: int | None = None,
        jump_forward: bool = True,
    ) -> None:
        self.model = model
        self.jump_forward = jump_forward
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.prefix_cache = prefix_cache
        self.device = model.device
        self.generator = torch.Generator(device=self.device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)
        self.stop_ids = _stop_ids(model, self.tokenizer)
        self.vocab_size = len(self.tokenizer)
        self._image_token_id = getattr(model.config, "image_token_id", None)
        text_config = getattr(model.config, "text_config", model.config)
        # Most tokens (prompt + answer) the model takes; None when its config does not say.
        self.context_length: int | None = getattr(text_config, "max_position_embeddings", None)

    def encode(self, prompt: ChatPrompt) -> EncodedPrompt:
        """Apply the chat template (with the generation prompt) and the image processor.

        Raises :class:`PromptError` when the chat template refuses the messages.
        """
        try:
            text = self.processor.apply_chat_template(
                list(prompt.messages), add_generation_prompt=True, tokenize=False
            )
        except jinja2.TemplateError as exc:
            raise PromptError(f"the model's chat template refuses these messages: {exc}") from None
        batch = self.processor(
            text=text,
            images=list(prompt.images) or None,
            return_tensors="pt",
            add_special_tokens=False,
        )
        input_ids = batch["input_ids"].to(self.device)
        pixel_values = batch.get("pixel_values")
        if pixel_values is not None:
            pixel_values = pixel_values.to(self.device, dtype=self.model.dtype)
        token_type_ids = batch.get("token_type_ids")
        if token_type_ids is not None:
            token_type_ids = token_type_ids.to(self.device)
        last_image_token = -1
        if self._image_token_id is not None:
            positions = (input_ids[0] == self._image_token_id).nonzero()
            if positions.numel():
                last_image_token = int(positions[-1])
        return EncodedPrompt(
            input_ids=input_ids,
            pixel_values=pixel_values,
            token_type_ids=token_type_ids,
            image_keys=tuple(image_key(image) for image in prompt.images),
            last_image_token=last_image_token,
        )

    @torch.inference_mode()
    def generate(
        self,
        prompt: EncodedPrompt,
        sampling: SamplingConfig,
        allowed_tokens: AllowedTokensFn | None = None,
        cache_tag: str = "default",
        on_text: Callable[[str], None] | None = None,
        *,
        constraint: GrammarConstraint | None = None,
    ) -> Generation:
        """Write the answer to ``prompt``.

        ``constraint`` keeps the answer inside a grammar: each step samples among its allowed
        tokens only, and a run of text the grammar forces is written with the tokens
        :meth:`GrammarConstraint.forced_tokens` spells it with, without a draw. With
        :attr:`jump_forward` those tokens are fed to the model together with the sampled token
        before them, in one forward pass; without, one pass per token (the same tokens, so the
        same text for the same seed). ``allowed_tokens`` is a generic per-step constraint (no
        jump-forward); give at most one of the two (neither: free text).

        ``cache_tag`` names the model state the prefix cache entries belong to (e.g. "adapter" vs
        "base"), so a cache computed with the LoRA adapter is never reused without it. ``on_text``
        receives the answer's text piece by piece as tokens are decoded (a token that ends inside a
        multi-byte character is held back until the character is complete, at most four tokens); the
        pieces join to the returned text exactly. An exception it raises ends the generation:
        :class:`StopGeneration` as a finished answer, any other by propagating.
        """
        start = time.perf_counter()
        self.check_context(prompt, sampling)
        prefilled = self.prefill(prompt, cache_tag, self.lookup(prompt, cache_tag))
        prefill_end = time.perf_counter()
        decoder = RowDecoder(
            self,
            prefilled.cache,
            prefilled.token_ids,
            sampling,
            constraint=constraint,
            allowed_tokens=allowed_tokens,
            on_text=on_text,
        )
        try:
            decoder.run(prefilled.logits)
        except StopGeneration:
            decoder.stopped = True
        self.synchronize()
        return decoder.result(
            prefilled, prefill_s=prefill_end - start, decode_s=time.perf_counter() - prefill_end
        )

    def check_context(self, prompt: EncodedPrompt, sampling: SamplingConfig) -> None:
        """Raise :class:`PromptError` when the prompt and ``max_new_tokens`` exceed the context."""
        length = prompt.input_ids.shape[1]
        if self.context_length and length + sampling.max_new_tokens > self.context_length:
            raise PromptError(
                f"the prompt's {length} tokens and max_new_tokens {sampling.max_new_tokens} "
                f"exceed the model's context of {self.context_length} tokens"
            )

    def lookup(self, prompt: EncodedPrompt, cache_tag: str) -> PrefixHit | None:
        """The longest reusable cached prefix of ``prompt`` (taken out of the prefix cache)."""
        if self.prefix_cache is None:
            return None
        return self.prefix_cache.lookup(
            cache_tag, prompt.input_ids[0].tolist(), prompt.image_keys, prompt.last_image_token
        )

    @torch.inference_mode()
    def prefill(self, prompt: EncodedPrompt, cache_tag: str, hit: PrefixHit | None) -> Prefill:
        """Run the prompt (after ``hit``'s prefix, from :meth:`lookup`) through the model.

        Stores the prompt's cache in the prefix cache (the returned ``cache`` is that object).
        """
        ids = prompt.input_ids[0].tolist()
        if hit is not None:
            cache, reused = hit.cache, hit.length
            outputs = self.model(
                input_ids=prompt.input_ids[:, reused:],
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
        else:
            cache, reused = self._new_cache(), 0
            outputs = self.model(
                input_ids=prompt.input_ids,
                pixel_values=prompt.pixel_values,
                token_type_ids=prompt.token_type_ids,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
        if self.prefix_cache is not None:
            self.prefix_cache.store(cache_tag, ids, prompt.image_keys, cache)
        logits = outputs.logits[0, -1]
        self.synchronize()
        return Prefill(cache=cache, token_ids=ids, reused=reused, logits=logits)

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def synchronize(self) -> None:
        """Wait for the device's queued work (CUDA), so that a clock read after it is true."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class RowDecoder:
    """The decoding of one answer: sample, append the tokens the grammar forces, feed them.

    It does not run the model itself except in :meth:`run` (one answer alone): a caller that
    batches answers feeds each decoder's tokens (from :meth:`begin` and :meth:`advance`) to the
    model with other answers' and hands back the logits after them.
    """

    def __init__(
        self,
        engine: GenerationEngine,
        cache: Any,
        prompt_ids: list[int],
        sampling: SamplingConfig,
        *,
        constraint: GrammarConstraint | None = None,
        allowed_tokens: AllowedTokensFn | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> None:
        if constraint is not None and allowed_tokens is not None:
            raise ValueError("give a constraint or an allowed_tokens function, not both")
        self.engine = engine
        self.cache = cache
        self.sampling = sampling
        self.sequence = list(prompt_ids)
        self.constraint = constraint
        self.allowed_tokens = allowed_tokens
        self.state = constraint.start_state if constraint is not None else 0
        self.stream = _TextStream(engine.tokenizer, on_text)
        self.written: list[int] = []
        self.finished = False
        # True when the text sink ended the answer (StopGeneration).
        self.stopped = False
        self.forward_passes = 0

    def run(self, logits: torch.Tensor) -> None:
        """Decode alone (into :attr:`cache`) until an end token, the budget or no allowed token."""
        feed = self.begin(logits)
        while feed is not None:
            feed = self.advance(self._forward(feed))

    def begin(self, logits: torch.Tensor) -> list[int] | None:
        """Start from the prompt's ``logits``: the tokens to feed next, or None when done.

        Tokens the grammar forces at the start are returned without a draw (their logits then
        give the first draw).
        """
        forced = self._forced()
        if forced:
            return forced if len(self.written) < self.sampling.max_new_tokens else None
        return self.advance(logits)

    def advance(self, logits: torch.Tensor) -> list[int] | None:
        """Draw the next token from ``logits``: it and the forced ones after it, or None when done.

        Raises what the text sink raises (:class:`StopGeneration` ends the answer as finished).
        """
        limit = self.sampling.max_new_tokens
        # A grammar's tokens come from the tokenizer's table: all below its vocabulary size.
        vocab_size = self.engine.vocab_size if self.constraint is None else None
        token = next_token(
            logits, self.sampling, self.engine.generator, self._allowed(), vocab_size
        )
        if token is None:
            return None
        if token in self.engine.stop_ids:
            self.finished = True
            return None
        self._append(token)
        if len(self.written) >= limit:
            return None
        return [token, *self._forced()]

    def result(self, prefilled: Prefill, prefill_s: float, decode_s: float) -> Generation:
        """The answer written so far (the held text flushed) and what it cost."""
        timing = Timing(
            prefill_tokens=len(prefilled.token_ids) - prefilled.reused,
            reused_tokens=prefilled.reused,
            decoded_tokens=len(self.written) + int(self.finished),
            prefill_s=prefill_s,
            decode_s=decode_s,
            forward_passes=self.forward_passes,
        )
        return Generation(
            text=self.stream.flush(),
            token_ids=tuple(self.written),
            timing=timing,
            finished=self.finished or self.stopped,
        )

    def _allowed(self) -> Any:
        """The allowed next tokens; in a forced run, its next token only (no draw)."""
        if self.constraint is not None:
            forced = self.constraint.forced_tokens(self.state)
            return forced[:1] if forced else self.constraint.allowed(self.state)
        if self.allowed_tokens is not None:
            return self.allowed_tokens(0, torch.tensor(self.sequence, dtype=torch.long))
        return None

    def _forced(self) -> list[int]:
        """Append the tokens the grammar forces now (within the budget); return them."""
        if self.constraint is None or not self.engine.jump_forward:
            return []
        room = self.sampling.max_new_tokens - len(self.written)
        forced = list(self.constraint.forced_tokens(self.state)[: max(0, room)])
        for token in forced:
            self._append(token)
        return forced

    def _append(self, token: int) -> None:
        self.written.append(token)
        self.sequence.append(token)
        self.stream.push(token)
        if self.constraint is not None:
            self.state = self.constraint.next_state(self.state, token)

    def _forward(self, tokens: list[int]) -> torch.Tensor:
        """Feed ``tokens`` to the model in one pass; the logits after the last of them."""
        self.forward_passes += 1
        step = torch.tensor([tokens], dtype=torch.long, device=self.engine.device)
        out = self.engine.model(input_ids=step, cache=self.cache, use_cache=True, logits_to_keep=1)
        return out.logits[0, -1]


class _TextStream:
    """Incremental detokenizer: the answer's text piece by piece, with bounded work per token.

    The algorithm of vLLM's ``detokenize_incrementally`` (and transformers' TextIteratorStreamer):
    ``ids[prefix_offset:read_offset]`` are the tokens of the piece sent last, kept as context
    since a token's text can depend on its neighbours; ``ids[read_offset:]`` are held, not sent
    yet. Each token decodes only ``ids[prefix_offset:]`` and sends what that adds to the
    context's text, unless it ends in U+FFFD (a character still incomplete: wait for its next
    byte). A character is at most four bytes and a token at least one, so once
    :data:`_MAX_HELD_TOKENS` are held a trailing U+FFFD is invalid UTF-8: the longest held run
    that decodes to whole characters is sent, or else the oldest held token alone (as U+FFFD),
    without context, so that an invalid byte does not spoil the bytes after it (a byte-fallback
    decoder turns a whole run of byte tokens to U+FFFD when any byte is invalid). That bounds
    the window. :meth:`flush` sends the rest. The answer's text is the pieces joined.
    """

    def __init__(self, tokenizer: Any, sink: Callable[[str], None] | None = None) -> None:
        self.tokenizer = tokenizer
        self.sink = sink
        self.ids: list[int] = []
        self.pieces: list[str] = []
        self.prefix_offset = 0
        self.read_offset = 0
        self._prefix_text = ""  # decode(ids[prefix_offset:read_offset])

    def push(self, token: int) -> None:
        """Add the next answer token; send the text it completes, if any."""
        self.ids.append(token)
        end = len(self.ids)
        text = self._decode(self.prefix_offset, end)
        if self._complete(text):
            self._send(text, end)
        elif end - self.read_offset >= _MAX_HELD_TOKENS:
            self._settle(end - 1)

    def flush(self) -> str:
        """Send the text of the tokens still held; return the whole answer's text."""
        while self.read_offset < len(self.ids):
            self._settle(len(self.ids))
        return "".join(self.pieces)

    def _settle(self, longest: int) -> None:
        """Send the longest held run up to ``longest`` that is whole, or the oldest held token."""
        for end in range(longest, self.read_offset, -1):
            text = self._decode(self.prefix_offset, end)
            if self._complete(text):
                self._send(text, end)
                return
        piece = self._decode(self.read_offset, self.read_offset + 1)
        self.read_offset += 1
        self.prefix_offset, self._prefix_text = self.read_offset, ""
        self._emit(piece)

    def _complete(self, text: str) -> bool:
        return len(text) > len(self._prefix_text) and not text.endswith(_REPLACEMENT)

    def _send(self, text: str, end: int) -> None:
        """Send ``text`` (the decoded ``ids[prefix_offset:end]``) past the context's text."""
        piece = text[len(self._prefix_text) :]
        self.prefix_offset, self.read_offset = self.read_offset, end
        self._prefix_text = self._decode(self.prefix_offset, end)
        self._emit(piece)

    def _emit(self, piece: str) -> None:
        if piece:
            self.pieces.append(piece)
            if self.sink is not None:
                self.sink(piece)

    def _decode(self, start: int, end: int) -> str:
        return self.tokenizer.decode(self.ids[start:end], skip_special_tokens=True)


_REPLACEMENT = "\ufffd"
"""What a tokenizer decodes an incomplete or invalid UTF-8 byte sequence to."""

_MAX_HELD_TOKENS = 4
"""Held tokens at which :class:`_TextStream` stops waiting for a character to complete (the
longest UTF-8 character is 4 bytes); it never holds more than one less."""


def _stop_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """End-of-sequence ids of the generation config and tokenizer, plus Gemma's end of turn."""
    ids: set[int] = set()
    generation_config = getattr(model, "generation_config", None)
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    end_of_turn = tokenizer.convert_tokens_to_ids(END_OF_TURN_TOKEN)
    if isinstance(end_of_turn, int) and end_of_turn != tokenizer.unk_token_id:
        ids.add(end_of_turn)
    return frozenset(ids)
