"""Regular patterns over a small symbol alphabet, compiled to minimal DFAs.

A pattern is built from :func:`lit`, :func:`one_of`, :func:`seq`, :func:`alt`, :func:`opt` and
:func:`repeat`. One pattern gives both a Python/JSON-Schema-style regular expression
(:meth:`Pattern.regex`, e.g. for a server's guided decoding) and a deterministic automaton
(:func:`compile_pattern`), so the two cannot disagree.

Symbols are strings. Usually each symbol is one character; a symbol may be longer (the AT
encoding writes a digit with one multi-character token string), as long as no symbol is a proper
prefix of another. Texts are split into symbols greedily, longest first.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

DEAD: int = -1
"""Automaton state meaning "rejected, whatever follows"."""


class Pattern:
    """A regular language over string symbols."""

    def regex(self) -> str:
        """Equivalent regular expression (Python ``re`` syntax, no backreferences)."""
        raise NotImplementedError

    def _atomic(self) -> bool:
        return False

    def _group(self) -> str:
        return self.regex() if self._atomic() else f"(?:{self.regex()})"

    def _build(self, nfa: _Nfa, start: int, end: int) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class _Literal(Pattern):
    symbols: tuple[str, ...]

    def regex(self) -> str:
        return "".join(_escape(s) for s in self.symbols)

    def _atomic(self) -> bool:
        return len(self.symbols) == 1 and len(self.symbols[0]) == 1

    def _build(self, nfa: _Nfa, start: int, end: int) -> None:
        if not self.symbols:
            nfa.epsilon(start, end)
            return
        state = start
        for index, symbol in enumerate(self.symbols):
            target = end if index == len(self.symbols) - 1 else nfa.new_state()
            nfa.edge(state, symbol, target)
            state = target


@dataclass(frozen=True)
class _OneOf(Pattern):
    symbols: tuple[str, ...]

    def regex(self) -> str:
        if all(len(s) == 1 for s in self.symbols):
            if len(self.symbols) == 1:
                return _escape(self.symbols[0])
            return "[" + "".join(_escape(s, _CLASS_SPECIAL) for s in self.symbols) + "]"
        return "(?:" + "|".join(_escape(s) for s in self.symbols) + ")"

    def _atomic(self) -> bool:
        return True

    def _build(self, nfa: _Nfa, start: int, end: int) -> None:
        for symbol in self.symbols:
            nfa.edge(start, symbol, end)


@dataclass(frozen=True)
class _Seq(Pattern):
    parts: tuple[Pattern, ...]

    def regex(self) -> str:
        return "".join(p.regex() if not isinstance(p, _Alt) else p._group() for p in self.parts)

    def _build(self, nfa: _Nfa, start: int, end: int) -> None:
        if not self.parts:
            nfa.epsilon(start, end)
            return
        state = start
        for index, part in enumerate(self.parts):
            target = end if index == len(self.parts) - 1 else nfa.new_state()
            part._build(nfa, state, target)
            state = target


@dataclass(frozen=True)
class _Alt(Pattern):
    options: tuple[Pattern, ...]

    def regex(self) -> str:
        return "|".join(option.regex() for option in self.options)

    def _build(self, nfa: _Nfa, start: int, end: int) -> None:
        for option in self.options:
            inner_start, inner_end = nfa.new_state(), nfa.new_state()
            nfa.epsilon(start, inner_start)
            option._build(nfa, inner_start, inner_end)
            nfa.epsilon(inner_end, end)


@dataclass(frozen=True)
class _Repeat(Pattern):
    inner: Pattern
    minimum: int
    maximum: int | None

    def regex(self) -> str:
        body = self.inner._group()
        if (self.minimum, self.maximum) == (0, None):
            return body + "*"
        if (self.minimum, self.maximum) == (1, None):
            return body + "+"
        if (self.minimum, self.maximum) == (0, 1):
            return body + "?"
        if self.maximum is None:
            return body + f"{{{self.minimum},}}"
        if self.minimum == self.maximum:
            return body + f"{{{self.minimum}}}"
        return body + f"{{{self.minimum},{self.maximum}}}"

    def _build(self, nfa: _Nfa, start: int, end: int) -> None:
        state = start
        for _ in range(self.minimum):
            target = nfa.new_state()
            self.inner._build(nfa, state, target)
            state = target
        if self.maximum is None:
            loop_start, loop_end = nfa.new_state(), nfa.new_state()
            nfa.epsilon(state, loop_start)
            self.inner._build(nfa, loop_start, loop_end)
            nfa.epsilon(loop_end, loop_start)
            nfa.epsilon(loop_start, end)
            return
        for _ in range(self.maximum - self.minimum):
            target = nfa.new_state()
            nfa.epsilon(state, target)
            inner_start = nfa.new_state()
            nfa.epsilon(state, inner_start)
            self.inner._build(nfa, inner_start, target)
            state = target
        nfa.epsilon(state, end)


_SPECIAL = frozenset(".^$*+?{}[]\\|()")
_CLASS_SPECIAL = frozenset("\\]^-[")
_CONTROL = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(symbol: str, special: frozenset[str] = _SPECIAL) -> str:
    return "".join(_CONTROL.get(c, "\\" + c if c in special else c) for c in symbol)


def lit(text: str | Iterable[str]) -> Pattern:
    """Exactly ``text``: a string (one symbol per character) or an iterable of symbols."""
    return _Literal(tuple(text))


def one_of(symbols: Iterable[str]) -> Pattern:
    """Any one of ``symbols`` (a character class when all are single characters)."""
    unique = tuple(dict.fromkeys(symbols))
    if not unique:
        raise ValueError("one_of needs at least one symbol")
    return _OneOf(unique)


def seq(*parts: Pattern | str) -> Pattern:
    """The parts one after another; strings are literals."""
    return _Seq(tuple(lit(p) if isinstance(p, str) else p for p in parts))


def alt(*options: Pattern | str) -> Pattern:
    """Any one of the options; strings are literals."""
    if not options:
        raise ValueError("alt needs at least one option")
    built = tuple(lit(o) if isinstance(o, str) else o for o in options)
    return built[0] if len(built) == 1 else _Alt(built)


def repeat(inner: Pattern | str, minimum: int = 0, maximum: int | None = None) -> Pattern:
    """``inner`` repeated ``minimum`` to ``maximum`` times (unbounded when ``maximum`` is None)."""
    if minimum < 0 or (maximum is not None and maximum < minimum):
        raise ValueError(f"bad repetition bounds {minimum}..{maximum}")
    pattern = lit(inner) if isinstance(inner, str) else inner
    if maximum == 0:
        return seq()
    if minimum == maximum == 1:
        return pattern
    return _Repeat(pattern, minimum, maximum)


def opt(inner: Pattern | str) -> Pattern:
    """``inner`` or nothing."""
    return repeat(inner, 0, 1)


class _Nfa:
    def __init__(self) -> None:
        self.edges: list[list[tuple[str, int]]] = []
        self.epsilons: list[list[int]] = []

    def new_state(self) -> int:
        self.edges.append([])
        self.epsilons.append([])
        return len(self.edges) - 1

    def edge(self, source: int, symbol: str, target: int) -> None:
        self.edges[source].append((symbol, target))

    def epsilon(self, source: int, target: int) -> None:
        self.epsilons[source].append(target)

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        stack = list(states)
        seen = set(stack)
        while stack:
            for target in self.epsilons[stack.pop()]:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return frozenset(seen)


@dataclass(frozen=True, eq=False)
class Dfa:
    """A minimal deterministic automaton over string symbols.

    ``table[state, symbol_id]`` is the next state or :data:`DEAD`; every state that is not dead
    can still reach an accepting state.
    """

    # The symbols, indexed by symbol id.
    alphabet: tuple[str, ...]
    # Transition table, shape (states, symbols), int32, DEAD where rejected.
    table: np.ndarray
    # Initial state.
    start: int
    # accepting[state] is True where the text read so far is complete.
    accepting: np.ndarray

    @property
    def num_states(self) -> int:
        """Number of (live) states."""
        return int(self.table.shape[0])

    def symbol_ids(self, text: str) -> list[int] | None:
        """Split ``text`` into symbol ids (longest symbol first); None if some part is unknown."""
        index = self._symbol_index
        lengths = self._symbol_lengths
        ids = []
        pos = 0
        while pos < len(text):
            for length in lengths:
                symbol_id = index.get(text[pos : pos + length])
                if symbol_id is not None:
                    ids.append(symbol_id)
                    pos += length
                    break
            else:
                return None
        return ids

    def walk(self, symbol_ids: Iterable[int], state: int | None = None) -> int:
        """State after reading ``symbol_ids`` from ``state`` (the start when None).

        Any negative state counts as :data:`DEAD`.
        """
        current = self.start if state is None else state
        rows = self._rows
        for symbol_id in symbol_ids:
            if current < 0:
                return DEAD
            current = rows[current][symbol_id]
        return current

    def run(self, text: str, state: int | None = None) -> int:
        """State after reading ``text`` from ``state`` (the start when None); DEAD if rejected."""
        ids = self.symbol_ids(text)
        return DEAD if ids is None else self.walk(ids, state)

    def accepts(self, text: str) -> bool:
        """True when ``text`` is in the language."""
        return self.is_accepting(self.run(text))

    def is_accepting(self, state: int) -> bool:
        """True when the text that led to ``state`` is complete (False for negative states)."""
        return 0 <= state < self.num_states and bool(self.accepting[state])

    def forced_text(self, state: int) -> str:
        """The text every continuation from ``state`` starts with ("" where there is a choice).

        Follows the states that are not accepting and have exactly one outgoing symbol.
        """
        out = []
        current = state
        while 0 <= current < self.num_states and not self.accepting[current]:
            live = [(s, t) for s, t in enumerate(self._rows[current]) if t != DEAD]
            if len(live) != 1:
                break
            symbol_id, current = live[0]
            out.append(self.alphabet[symbol_id])
        return "".join(out)

    def sample(self, rng: random.Random, stop_probability: float = 0.3) -> str:
        """A random text of the language: a random walk that stops at accepting states."""
        state = self.start
        out = []
        while True:
            live = [s for s, target in enumerate(self._rows[state]) if target != DEAD]
            if not live or (self.accepting[state] and rng.random() < stop_probability):
                return "".join(out)
            symbol_id = rng.choice(live)
            out.append(self.alphabet[symbol_id])
            state = self._rows[state][symbol_id]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rows", self.table.tolist())
        object.__setattr__(self, "_symbol_index", {s: i for i, s in enumerate(self.alphabet)})
        lengths = sorted({len(s) for s in self.alphabet}, reverse=True)
        object.__setattr__(self, "_symbol_lengths", lengths)


def compile_pattern(pattern: Pattern) -> Dfa:
    """Minimal DFA of ``pattern`` (subset construction, trimming, Moore minimisation)."""
    nfa = _Nfa()
    start, end = nfa.new_state(), nfa.new_state()
    pattern._build(nfa, start, end)
    alphabet = tuple(sorted({symbol for edges in nfa.edges for symbol, _ in edges}))
    symbol_id = {symbol: i for i, symbol in enumerate(alphabet)}
    first = nfa.closure([start])
    ids = {first: 0}
    order = [first]
    rows: list[list[int]] = []
    for subset in order:
        moves: dict[int, set[int]] = {}
        for state in subset:
            for symbol, target in nfa.edges[state]:
                moves.setdefault(symbol_id[symbol], set()).add(target)
        row = [DEAD] * len(alphabet)
        for sid, targets in moves.items():
            closed = nfa.closure(targets)
            if closed not in ids:
                ids[closed] = len(order)
                order.append(closed)
            row[sid] = ids[closed]
        rows.append(row)
    table = np.array(rows, dtype=np.int64).reshape(len(rows), len(alphabet))
    accepting = np.array([end in subset for subset in order], dtype=bool)
    return _minimize(alphabet, table, accepting)


def _minimize(alphabet: tuple[str, ...], table: np.ndarray, accepting: np.ndarray) -> Dfa:
    count = table.shape[0]
    live = accepting.copy()
    changed = True
    while changed:
        reaches = (table >= 0) & live[np.where(table >= 0, table, 0)]
        grown = live | reaches.any(axis=1)
        changed = bool((grown != live).any())
        live = grown
    dead = count
    full = np.where((table >= 0) & live[np.where(table >= 0, table, 0)], table, dead)
    full = np.vstack([full, np.full((1, len(alphabet)), dead)])
    classes = np.append(np.where(live, accepting.astype(np.int64), 2), 2)
    classes[dead] = 2
    while True:
        signature = np.concatenate([classes[:, None], classes[full]], axis=1)
        _, refined = np.unique(signature, axis=0, return_inverse=True)
        refined = refined.reshape(-1)
        if len(np.unique(refined)) == len(np.unique(classes)):
            break
        classes = refined
    dead_class = classes[dead]
    reachable = _reachable(full, 0)
    kept = sorted({int(classes[s]) for s in reachable if classes[s] != dead_class})
    new_id = {c: i for i, c in enumerate(kept)}
    new_table = np.full((len(kept), len(alphabet)), DEAD, dtype=np.int32)
    new_accepting = np.zeros(len(kept), dtype=bool)
    for state in reachable:
        c = int(classes[state])
        if c == dead_class:
            continue
        row = new_id[c]
        new_accepting[row] = accepting[state]
        for sid, target in enumerate(full[state]):
            target_class = int(classes[target])
            if target_class != dead_class:
                new_table[row, sid] = new_id[target_class]
    if int(classes[0]) == dead_class:
        raise ValueError("the pattern accepts no text")
    return Dfa(alphabet, new_table, new_id[int(classes[0])], new_accepting)


def _reachable(full: np.ndarray, start: int) -> list[int]:
    seen = {start}
    stack = [start]
    while stack:
        for target in full[stack.pop()].tolist():
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return sorted(seen)


@dataclass(frozen=True, eq=False)
class Grammar:
    """The canonical answer language of one stage."""

    # Stage (or purpose) the grammar belongs to.
    name: str
    # The pattern it was built from.
    pattern: Pattern
    # Its minimal automaton.
    dfa: Dfa

    @property
    def regex(self) -> str:
        """Equivalent regular expression (Python ``re`` syntax; match with ``re.fullmatch``)."""
        return self.pattern.regex()

    def accepts(self, text: str) -> bool:
        """True when ``text`` is a complete canonical answer."""
        return self.dfa.accepts(text)

    def sample(self, rng: random.Random, stop_probability: float = 0.3) -> str:
        """A random canonical answer (for tests and benchmarks)."""
        return self.dfa.sample(rng, stop_probability)
