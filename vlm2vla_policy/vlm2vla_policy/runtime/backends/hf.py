"""The in-process backend: a loaded Gemma-3 (+ LoRA) model generating with constrained decoding."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from vlm2vla_policy.decoding import Grammar, GrammarConstraint, TokenTable
from vlm2vla_policy.runtime.backends.base import Completion, GenerationRequest, TextSink
from vlm2vla_policy.runtime.config import PolicyConfig
from vlm2vla_policy.runtime.disk_cache import cached_token_table
from vlm2vla_policy.runtime.errors import RuntimeConfigError
from vlm2vla_policy.runtime.generation import GenerationEngine
from vlm2vla_policy.runtime.loading import LoadedModel
from vlm2vla_policy.runtime.prefix_cache import PrefixCache

ADAPTER_TAG = "adapter"
BASE_TAG = "base"


class HFBackend:
    """Answers prompts with a model loaded by :func:`~vlm2vla_policy.runtime.loading.load_model`.

    Every request with a grammar is decoded under that grammar's token constraint (built once per
    grammar from the tokenizer's :class:`~vlm2vla_policy.language.TokenTable`). With
    ``prefix_reuse`` the key/value cache of a shared prompt prefix (same image first) is reused
    between requests, for up to ``prefix_capacity`` prompts (one per robot served).
    ``jump_forward``: feed the tokens a grammar forces in one forward pass.
    ``use_adapter=False`` requests run under peft's ``disable_adapter()``.
    Thread-safe: :meth:`complete` answers one request at a time (the robot's own policy); a
    :class:`~vlm2vla_policy.runtime.batch_scheduler.BatchScheduler` over the backend decodes many
    together (a server), holding :attr:`lock` for each step.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        prefix_reuse: bool = True,
        seed: int | None = None,
        prefix_capacity: int = 8,
        jump_forward: bool = True,
    ) -> None:
        self.loaded = loaded
        sliding_window = getattr(loaded.model.config.get_text_config(), "sliding_window", None)
        cache = None
        if prefix_reuse:
            cache = PrefixCache(capacity=prefix_capacity, max_tokens=sliding_window)
        self.engine = GenerationEngine(
            loaded.model, loaded.processor, cache, seed, jump_forward=jump_forward
        )
        self._table: TokenTable | None = None
        self._constraints: dict[int, tuple[Grammar, GrammarConstraint]] = {}
        # Held while the model runs: one whole answer (complete) or one batched step.
        self.lock = threading.Lock()

    @classmethod
    def from_config(cls, loaded: LoadedModel, config: PolicyConfig) -> HFBackend:
        """The backend ``config``'s decoding settings ask for (prefix reuse, jump-forward, seed)."""
        return cls(
            loaded,
            prefix_reuse=config.prefix_reuse,
            seed=config.seed,
            prefix_capacity=config.prefix_capacity,
            jump_forward=config.jump_forward,
        )

    @property
    def token_table(self) -> TokenTable:
        """Text of every token of the tokenizer (from the disk cache; built once per tokenizer)."""
        if self._table is None:
            self._table = cached_token_table(self.loaded.processor.tokenizer)
        return self._table

    def constraint(self, grammar: Grammar) -> GrammarConstraint:
        """The token constraint of ``grammar`` (cached per grammar object)."""
        entry = self._constraints.get(id(grammar))
        if entry is None or entry[0] is not grammar:
            entry = (grammar, GrammarConstraint(grammar, self.token_table))
            self._constraints[id(grammar)] = entry
        return entry[1]

    def prepare(self, grammars: Iterable[Grammar], max_states: int | None = None) -> None:
        """Build the constraints of ``grammars`` now rather than on their first request.

        Also computes the allowed tokens of up to ``max_states`` automaton states of each (None:
        all), so no answer pays for a state's first visit (docs/performance.md has the cost).
        Call once after loading.
        """
        with self.lock:
            for grammar in grammars:
                self.constraint(grammar).precompute(max_states)

    def complete(self, request: GenerationRequest, on_text: TextSink | None = None) -> Completion:
        """Generate the answer to ``request`` (constrained when it carries a grammar).

        The timing's prefill includes the image preprocessing and tokenisation of the prompt.
        ``on_text`` receives the text as it is decoded (see :data:`TextSink`).
        """
        with self.lock:
            start = time.perf_counter()
            prompt = self.engine.encode(request.prompt)
            constraint = None
            if request.grammar is not None:
                constraint = self.constraint(request.grammar)
            encode_s = time.perf_counter() - start
            with self.adapter(request.use_adapter) as tag:
                generation = self.engine.generate(
                    prompt, request.sampling, None, tag, on_text, constraint=constraint
                )
        timing = generation.timing
        return Completion(
            text=generation.text,
            timing=dataclasses.replace(timing, prefill_s=timing.prefill_s + encode_s),
            constrained=request.grammar is not None,
            finished=generation.finished,
        )

    def reset(self) -> None:
        """Drop cached prefixes (call at the start of an episode)."""
        if self.engine.prefix_cache is not None:
            self.engine.prefix_cache.clear()

    @contextlib.contextmanager
    def adapter(self, use_adapter: bool) -> Iterator[str]:
        """Run the model with the adapter on or off; yields the prefix cache tag of that state."""
        model: Any = self.loaded.model
        if use_adapter or self.loaded.adapter is None:
            yield ADAPTER_TAG if self.loaded.adapter is not None else BASE_TAG
            return
        if not self.loaded.adapter_switchable:
            raise RuntimeConfigError(
                "the base model without the adapter was asked for, but the adapter is merged "
                "into the weights; load with merge_adapter=False"
            )
        with model.disable_adapter():
            yield BASE_TAG
