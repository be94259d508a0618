"""Constrained decoding: only tokens that keep the answer inside its stage's grammar.

:class:`TokenTable` holds the text of every token of a tokenizer (built once per tokenizer and
kept on disk by :func:`vlm2vla_policy.runtime.disk_cache.cached_token_table`).
:class:`GrammarConstraint` pairs it with a :class:`~vlm2vla_policy.decoding.automaton.Grammar`:

* tokens whose text cannot be written with the grammar's symbols are dropped once, up front;
* the allowed set of a DFA state is computed on first use by walking the remaining tokens through
  the transition table with numpy (all tokens of one length at once) and cached, so later tokens
  in that state cost a dict lookup;
* EOS is allowed exactly in accepting states (the answer is complete), and is the only choice
  once the answer cannot be extended.

:meth:`GrammarConstraint.prefix_allowed_tokens_fn` adapts it to ``generate()``: input ids include
the prompt, whose length is recorded (given, or taken from the first call).

Why a hand-written DFA rather than outlines, xgrammar or transformers-cfg: every stage's language
is regular and small, so a cached token set per state is all a library would compute too; on the
bounded grammars it is as fast as xgrammar and much faster on free-text states, with no compiled
dependency, and the same pattern gives the regex sent to a vLLM server (:attr:`Grammar.regex`), so
the local and remote backends enforce one language. The measurements (``bench/bench_language.py``)
are in docs/performance.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from vlm2vla_policy.decoding.automaton import DEAD, Grammar

FINISHED: int = -2
"""Constraint state after an EOS token: only EOS (padding) may follow."""

_ANCHORS = ("a", "x", "0")


class TokenTable:
    """Text of every token id (``None`` for special, added and partial-UTF-8 tokens)."""

    def __init__(self, strings: Sequence[str | None], eos_token_ids: Iterable[int], name: str = ""):
        """``strings[i]`` is the text token ``i`` adds to a decoded answer."""
        self.strings: list[str | None] = list(strings)
        self.eos_token_ids: tuple[int, ...] = tuple(dict.fromkeys(int(i) for i in eos_token_ids))
        self.name = name
        if not self.eos_token_ids:
            raise ValueError("give at least one EOS token id")

    def __len__(self) -> int:
        return len(self.strings)

    @classmethod
    def from_tokenizer(
        cls, tokenizer: Any, eos_token_ids: Iterable[int] | None = None
    ) -> TokenTable:
        """Table of a Hugging Face tokenizer.

        Each token is decoded after an anchor token (so leading spaces survive) with special
        tokens kept and no clean-up; special tokens (including added tokens marked special, such
        as Gemma's ``<start_of_turn>`` and ``<unusedN>``), tokens that decode to nothing and
        tokens that decode to U+FFFD (part of a UTF-8 character) get ``None``, and so does every
        token that spells the same text as the token the tokenizer itself writes for that text
        (:func:`_keep_canonical`). Added tokens that
        are not special stay: Gemma's newline token is one. ``eos_token_ids``
        defaults to the tokenizer's EOS plus ``<end_of_turn>`` when the vocabulary has it (the
        end of a Gemma chat turn).
        """
        anchor = next(
            (
                ids[0]
                for ids in (tokenizer.encode(a, add_special_tokens=False) for a in _ANCHORS)
                if len(ids) == 1
            ),
            None,
        )
        if anchor is None:
            raise ValueError("the tokenizer has no single-token 'a', 'x' or '0' to anchor decoding")
        prefix = tokenizer.decode([anchor], clean_up_tokenization_spaces=False)
        size = len(tokenizer)
        decoded = tokenizer.batch_decode(
            [[anchor, i] for i in range(size)],
            skip_special_tokens=False,
            clean_up_tokenization_spaces=False,
        )
        excluded = set(tokenizer.all_special_ids) | {
            token_id
            for token_id, added in getattr(tokenizer, "added_tokens_decoder", {}).items()
            if getattr(added, "special", True)
        }
        strings: list[str | None] = []
        for token_id, text in enumerate(decoded):
            piece = text[len(prefix) :] if text.startswith(prefix) else None
            usable = piece and "\ufffd" not in piece and token_id not in excluded
            strings.append(piece if usable else None)
        _keep_canonical(strings, tokenizer)
        if eos_token_ids is None:
            eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
            end_of_turn = tokenizer.get_added_vocab().get("<end_of_turn>")
            eos_token_ids = eos + ([end_of_turn] if end_of_turn is not None else [])
        return cls(strings, eos_token_ids, str(getattr(tokenizer, "name_or_path", "")))


def _keep_canonical(strings: list[str | None], tokenizer: Any) -> None:
    """Where several tokens spell the same text, keep only the one the tokenizer writes for it.

    A byte-fallback token (``<0x20>``) and a piece (``▁``) may both decode to " ". The model
    only ever saw the tokenizer's own choice, in training and in its prompts; a forced run or a
    constrained draw that fed it the other one showed it a sequence it never learned, and it
    lost its way ("1. reach" came out "1. each"). The others become unusable (``None``). Texts
    the tokenizer writes with several tokens keep every spelling.
    """
    spellings: dict[str, list[int]] = {}
    for token_id, piece in enumerate(strings):
        if piece is not None:
            spellings.setdefault(piece, []).append(token_id)
    for piece, ids in spellings.items():
        if len(ids) < 2:
            continue
        own = tokenizer.encode(piece, add_special_tokens=False)
        if len(own) == 1 and own[0] in ids:
            for token_id in ids:
                if token_id != own[0]:
                    strings[token_id] = None


class GrammarConstraint:
    """Allowed next tokens for answers of one grammar, with per-state caching."""

    def __init__(self, grammar: Grammar, table: TokenTable) -> None:
        """Index ``table``'s tokens for ``grammar`` (drops tokens outside its alphabet)."""
        self.grammar = grammar
        self.table = table
        dfa = grammar.dfa
        self._dfa = dfa
        characters = set("".join(dfa.alphabet))
        by_length: dict[int, tuple[list[int], list[list[int]]]] = {}
        self._token_symbols: dict[int, tuple[int, ...]] = {}
        for token_id, text in enumerate(table.strings):
            if text is None or not characters.issuperset(text):
                continue
            symbols = dfa.symbol_ids(text)
            if symbols is None:
                continue
            self._token_symbols[token_id] = tuple(symbols)
            ids, rows = by_length.setdefault(len(symbols), ([], []))
            ids.append(token_id)
            rows.append(symbols)
        self._groups = [
            (np.array(ids, dtype=np.int64), np.array(rows, dtype=np.int64))
            for _, (ids, rows) in sorted(by_length.items())
        ]
        states = dfa.num_states
        self._dead = states
        transitions = np.where(dfa.table < 0, states, dfa.table)
        self._transitions = np.vstack([transitions, np.full((1, len(dfa.alphabet)), states)])
        self._eos = np.array(table.eos_token_ids, dtype=np.int64)
        self._allowed: dict[int, np.ndarray] = {}
        self._forced: dict[int, tuple[int, ...]] = {}
        self._successors: dict[int, np.ndarray] = {}
        self._tensors: dict[tuple[int, str], Any] = {}

    @property
    def start_state(self) -> int:
        """State before any answer token."""
        return self._dfa.start

    @property
    def num_usable_tokens(self) -> int:
        """Tokens whose text can be written with the grammar's symbols."""
        return len(self._token_symbols)

    @property
    def cached_states(self) -> int:
        """Live DFA states whose allowed set has been computed."""
        return sum(1 for state in self._allowed if state >= 0)

    def next_state(self, state: int, token_id: int) -> int:
        """State after ``token_id``: DEAD if it leaves the grammar, FINISHED after EOS."""
        if state == FINISHED or token_id in self.table.eos_token_ids:
            return FINISHED
        if state == DEAD:
            return DEAD
        symbols = self._token_symbols.get(int(token_id))
        return DEAD if symbols is None else self._dfa.walk(symbols, state)

    def state_after(self, token_ids: Iterable[int], state: int | None = None) -> int:
        """State after the answer tokens ``token_ids`` (prompt excluded)."""
        current = self.start_state if state is None else state
        for token_id in token_ids:
            current = self.next_state(current, token_id)
        return current

    def allowed(self, state: int) -> np.ndarray:
        """Token ids allowed in ``state`` (int64, sorted by token length, EOS last).

        EOS alone after EOS and in DEAD (an answer that left the grammar, possible only when
        tokens were not drawn from this set): ending is the only safe continuation.
        """
        cached = self._allowed.get(state)
        if cached is not None:
            return cached
        result = self._eos if state in (DEAD, FINISHED) else self._compute(state)
        self._allowed[state] = result
        return result

    def _compute(self, state: int) -> np.ndarray:
        parts = []
        successors = []
        dead = self._dead
        transitions = self._transitions
        for ids, rows in self._groups:
            current = np.full(len(ids), state, dtype=np.int64)
            keep = np.arange(len(ids))
            for column in range(rows.shape[1]):
                current = transitions[current, rows[keep, column]]
                alive = current != dead
                if not alive.all():
                    keep, current = keep[alive], current[alive]
                    if not len(keep):
                        break
            parts.append(ids[keep])
            successors.append(current)
        self._successors[state] = (
            np.unique(np.concatenate(successors)) if successors else self._eos[:0]
        )
        if self._dfa.is_accepting(state):
            parts.append(self._eos)
        allowed = np.concatenate(parts) if parts else self._eos
        return allowed if len(allowed) else self._eos

    def forced_tokens(self, state: int, limit: int = 32) -> tuple[int, ...]:
        """Tokens the grammar forces from ``state``, in order (empty where there is a choice).

        The forced text (:meth:`Dfa.forced_text`) is split into the longest allowed tokens that
        fit it, and a state whose only allowed token is not EOS forces that token; at most
        ``limit`` tokens. Cached per state. A decoder may append these without sampling and feed
        them to the model in one forward pass ("jump-forward" decoding): the answer's text is the
        same whichever tokens spell a forced run.
        """
        cached = self._forced.get(state)
        if cached is not None:
            return cached
        tokens: list[int] = []
        current = state
        while current >= 0 and len(tokens) < limit:
            token = self._forced_step(current)
            if token is None:
                break
            tokens.append(token)
            current = self.next_state(current, token)
        self._forced[state] = tuple(tokens)
        return self._forced[state]

    def _forced_step(self, state: int) -> int | None:
        """The longest allowed token that spells a prefix of the forced text, or the only one."""
        text = self._dfa.forced_text(state)
        allowed = self.allowed(state)
        eos = set(self.table.eos_token_ids)
        if not text:
            only = int(allowed[0]) if len(allowed) == 1 else None
            return only if only not in eos and not self._dfa.is_accepting(state) else None
        best, best_length = None, 0
        for token in allowed.tolist():
            piece = self.table.strings[token] if token not in eos else None
            if piece and len(piece) > best_length and text.startswith(piece):
                best, best_length = token, len(piece)
        return best

    def allowed_token_ids(self, answer_ids: Sequence[int]) -> np.ndarray:
        """Token ids allowed after the answer tokens ``answer_ids`` (prompt excluded)."""
        return self.allowed(self.state_after(answer_ids))

    def is_complete(self, answer_ids: Sequence[int]) -> bool:
        """True when ``answer_ids`` (EOS included or not) form a complete answer."""
        state = self.start_state
        for token_id in answer_ids:
            if token_id in self.table.eos_token_ids:
                return self._dfa.is_accepting(state)
            state = self.next_state(state, token_id)
        return self._dfa.is_accepting(state)

    def precompute(self, max_states: int | None = None) -> int:
        """Compute the allowed sets of the states reachable from the start (breadth first).

        Stops after ``max_states`` states when given. Returns :attr:`cached_states`.
        """
        queue = [self.start_state]
        seen = {self.start_state}
        while queue and (max_states is None or self.cached_states < max_states):
            state = queue.pop(0)
            self.allowed(state)
            for target in self._successors.get(state, self._eos[:0]).tolist():
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
        return self.cached_states

    def _tensor(self, state: int, device: Any) -> Any:
        key = (state, str(device))
        tensor = self._tensors.get(key)
        if tensor is None:
            import torch

            tensor = torch.from_numpy(self.allowed(state)).to(device)
            self._tensors[key] = tensor
        return tensor

    def prefix_allowed_tokens_fn(
        self, prompt_length: int | None = None
    ) -> Callable[[int, Any], Any]:
        """A ``prefix_allowed_tokens_fn`` for one ``generate()`` call.

        ``prompt_length`` is ``input_ids.shape[1]`` of the call (image tokens and left padding
        included); when None it is taken from the first call, which ``generate()`` makes before
        the first new token. Returns a LongTensor of allowed ids on the input's device. Make a
        new function for each ``generate()`` call.
        """
        lengths = [prompt_length]
        states: dict[tuple[int, ...], int] = {(): self.start_state}

        def allowed_tokens(batch_id: int, input_ids: Any) -> Any:
            if lengths[0] is None:
                lengths[0] = int(input_ids.shape[-1])
            answer = tuple(input_ids[lengths[0] :].tolist())
            state = states.get(answer)
            if state is None:
                parent = states.get(answer[:-1])
                if parent is None:
                    state = self.state_after(answer)
                else:
                    state = self.next_state(parent, answer[-1])
                states[answer] = state
            return self._tensor(state, input_ids.device)

        return allowed_tokens
