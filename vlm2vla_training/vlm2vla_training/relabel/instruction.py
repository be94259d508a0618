"""A small noun-phrase heuristic: the object and the target of a pick-and-place instruction.

``"put the carrot on the plate"`` gives object ``"the carrot"``, relation ``"on"`` and target
``"the plate"``; ``"pick up the red cup"`` gives object ``"the red cup"`` and no target;
``"take the spoon out of the pot"`` gives the source ``"the pot"``. No parser, no model: a verb
list, a preposition list (longest match first) and a determiner rule. Good enough for BridgeData's
short imperative instructions; anything it cannot read gives the object ``"the object"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERBS: tuple[str, ...] = (
    "pick up", "pick", "put down", "put", "place", "move", "take out", "take", "push", "pull",
    "slide", "stack", "drop", "lift", "grab", "grasp", "set", "flip", "open", "close", "turn",
    "wipe", "sweep", "fold", "unfold", "transfer", "bring", "get", "remove", "insert", "knock",
    "topple", "hang", "rotate", "relocate", "position", "lay",
)  # fmt: skip
"""Leading verbs recognised (multi-word first, so "pick up" wins over "pick")."""

TARGET_RELATIONS: tuple[str, ...] = (
    "on top of", "in front of", "next to", "to the left of", "to the right of", "inside of",
    "inside", "into", "onto", "on", "in", "towards", "toward", "to", "at", "near", "under",
    "beside", "behind", "over", "above", "below", "between",
)  # fmt: skip
"""Prepositions that introduce where the object goes."""

SOURCE_RELATIONS: tuple[str, ...] = ("out of", "off of", "away from", "from", "off")
"""Prepositions that introduce where the object comes from."""

_DETERMINERS = re.compile(r"^(the|a|an|this|that|these|those|some|all|each|both|\d+)\b")
_FILLER = re.compile(r"^(please|robot|can you|could you|now)\b\s*")
_CLAUSE = re.compile(r"\b(?:and then|and|then)\b")
_ENDERS = ("with", "using", "by", "so that")
_TRAILING = re.compile(r"\s+\b(up|down|it|them|over|away)$")


UNKNOWN_OBJECT = "the object"
"""The object of an instruction this parser cannot read."""


@dataclass(frozen=True)
class TaskPhrase:
    """What an instruction is about."""

    # Leading verb, e.g. "put"; "" when none was recognised.
    verb: str
    # The manipulated object with a determiner, e.g. "the carrot"; "the object" when unknown.
    object: str
    # Preposition before the target, e.g. "on"; "" when the instruction names no target.
    relation: str = ""
    # Where the object goes, e.g. "the plate"; "" when none.
    target: str = ""
    # Preposition before the source, e.g. "out of"; "" when none.
    source_relation: str = ""
    # Where the object comes from, e.g. "the pot"; "" when none.
    source: str = ""


def _normalise(text: str) -> str:
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower())
    words = " ".join(words.split())
    while (match := _FILLER.match(words)) is not None:
        words = words[match.end() :]
    return words


def _noun_phrase(text: str) -> str:
    phrase = text.strip()
    while (match := _TRAILING.search(phrase)) is not None:
        phrase = phrase[: match.start()].strip()
    if not phrase or phrase.split()[0] in ("it", "them"):
        return ""
    return phrase if _DETERMINERS.match(phrase) else f"the {phrase}"


def _find(text: str, relations: tuple[str, ...]) -> tuple[int, str] | None:
    """Earliest occurrence (position, relation) of any relation as whole words."""
    best: tuple[int, str] | None = None
    for relation in relations:
        match = re.search(rf"\b{re.escape(relation)}\b", text)
        if match and (
            best is None
            or match.start() < best[0]
            or (match.start() == best[0] and len(relation) > len(best[1]))
        ):
            best = (match.start(), relation)
    return best


def _until_next(text: str) -> str:
    """``text`` up to the next relation, clause joiner or "with"/"using" (exclusive)."""
    ends = [len(text)]
    for relations in (TARGET_RELATIONS, SOURCE_RELATIONS, _ENDERS):
        found = _find(text, relations)
        if found is not None:
            ends.append(found[0])
    clause = _CLAUSE.search(text)
    if clause:
        ends.append(clause.start())
    return text[: min(ends)]


def parse_instruction(instruction: str) -> TaskPhrase:
    """Object, target and source of an imperative instruction (see the module docstring)."""
    text = _normalise(instruction)
    verb = next((v for v in VERBS if text == v or text.startswith(v + " ")), "")
    rest = text[len(verb) :].strip()
    object_phrase = _noun_phrase(_until_next(rest)) or UNKNOWN_OBJECT
    target = _find(rest, TARGET_RELATIONS)
    target_phrase = relation = ""
    if target is not None:
        target_phrase = _noun_phrase(_until_next(rest[target[0] + len(target[1]) :]))
        relation = target[1] if target_phrase else ""
    source = _find(rest, SOURCE_RELATIONS)
    source_phrase = source_relation = ""
    if source is not None:
        source_phrase = _noun_phrase(_until_next(rest[source[0] + len(source[1]) :]))
        source_relation = source[1] if source_phrase else ""
    return TaskPhrase(verb, object_phrase, relation, target_phrase, source_relation, source_phrase)
