"""Constrained decoding, generic: regular patterns compiled to minimal DFAs, and token masks.

Nothing here knows the action language; ``vlm2vla_policy.language.grammar`` builds each stage's
pattern with this engine, and the backends mask tokens with :class:`GrammarConstraint`.
Modules: ``automaton`` (patterns, DFAs, :class:`Grammar`), ``constrained`` (token table and the
per-state allowed-token sets).
"""

from vlm2vla_policy.decoding.automaton import DEAD, Dfa, Grammar, Pattern, compile_pattern
from vlm2vla_policy.decoding.constrained import FINISHED, GrammarConstraint, TokenTable

__all__ = [
    "DEAD",
    "FINISHED",
    "Dfa",
    "Grammar",
    "GrammarConstraint",
    "Pattern",
    "TokenTable",
    "compile_pattern",
]
