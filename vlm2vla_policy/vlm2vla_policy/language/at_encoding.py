"""VLM2VLA-AT: the ablation that writes numbers with a tokenizer's least-likely tokens.

The paper's ablation keeps the chunk syntax ``[[dx, dy, dz, gripper], ...]`` but writes each digit
with one of the tokenizer's 10 least-likely tokens (OpenVLA-style). Here an :class:`AtTable` maps
each digit (optionally also ``-`` and ``.``) to the text of one token; :class:`AtChunkCodec` has
the same interface as the text codec. Units and frame as in :mod:`~vlm2vla_policy.language.chunk`.

"Least likely" is decided by, in order of preference: the model's output-layer bias, the model's
log-probabilities of the first token after BOS (a unigram estimate; Gemma has no output bias), or,
without a model, the tokenizer's vocabulary order (BPE merge rank: the last merges are the rarest;
for Gemma-3 the GGUF scores equal minus the id, so this is the same order). Candidates are skipped
unless their text is a printable, NFKC-stable string without whitespace, digits or chunk
punctuation, encodes to exactly that one token alone, next to every other chosen token and next to
the chunk punctuation. Build a table once per tokenizer and store it as JSON with the adapter
(:meth:`AtTable.save`).
"""

from __future__ import annotations

import json
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlm2vla_policy.language.chunk import ActionStep, decode_chunk, encode_chunk
from vlm2vla_policy.language.config import ChunkFormat
from vlm2vla_policy.language.errors import AtTableError, ChunkParseError, ErrorKind
from vlm2vla_policy.language.version import FORMAT_VERSION, check_format_version

DIGITS: str = "0123456789"
"""The symbols the paper's ablation replaces."""

AT_SYMBOL_CHOICES: str = DIGITS + "-."
"""Symbols an AT table may replace (digits, and optionally the minus sign and decimal point)."""

_RESERVED = frozenset("0123456789+-.,[]`?")
_RAW_SYMBOL = "?"
_UNSAFE_CATEGORIES = ("C", "M", "Z")
_CONTEXTS: tuple[tuple[str, str], ...] = (
    ("[[", ""),
    ("", "."),
    (".", ""),
    ("-", ""),
    ("", ","),
    (", ", ""),
    ("", "]"),
    ("", "]]"),
    ("", "], ["),
    (" ", ""),
    ("", ", "),
)


@dataclass(frozen=True)
class AtTable:
    """Which token writes each replaced symbol (and how it was chosen)."""

    # Replaced characters, e.g. "0".."9" (a subset of AT_SYMBOL_CHOICES).
    symbols: tuple[str, ...]
    # Text of the token that writes each symbol, same order.
    token_strings: tuple[str, ...]
    # Id of that token in the tokenizer, same order.
    token_ids: tuple[int, ...]
    # How "least likely" was decided: "vocab_order", "output_bias" or "unigram_logprob".
    method: str = "vocab_order"
    # name_or_path of the tokenizer the ids belong to.
    tokenizer: str = ""
    # Number of token ids of that tokenizer.
    vocab_size: int = 0
    # Format version the table was made for.
    format_version: int = FORMAT_VERSION
    _to_at: dict[str, str] = field(init=False, repr=False, compare=False)
    _from_at: dict[str, str] = field(init=False, repr=False, compare=False)
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_format_version(self.format_version)
        count = len(self.symbols)
        if not count or len(self.token_strings) != count or len(self.token_ids) != count:
            raise AtTableError(
                ErrorKind.BAD_TABLE,
                "symbols, token_strings and token_ids must be non-empty and of equal length",
            )
        if len(set(self.symbols)) != count or not set(self.symbols) <= set(AT_SYMBOL_CHOICES):
            raise AtTableError(
                ErrorKind.BAD_TABLE,
                f"symbols must be distinct characters from {AT_SYMBOL_CHOICES!r}, "
                f"got {self.symbols!r}",
            )
        if not set(DIGITS) <= set(self.symbols):
            raise AtTableError(ErrorKind.BAD_TABLE, "an AT table must replace all ten digits")
        for text in self.token_strings:
            if not _safe_text(text):
                raise AtTableError(
                    ErrorKind.BAD_TABLE,
                    f"token text {text!r} is empty, has whitespace, control or combining "
                    "characters, digits or chunk punctuation, or changes under NFKC",
                )
        strings = self.token_strings
        if len(set(strings)) != count or any(
            a != b and b.startswith(a) for a in strings for b in strings
        ):
            raise AtTableError(
                ErrorKind.BAD_TABLE, "token texts must be distinct and none a prefix of another"
            )
        object.__setattr__(self, "_to_at", dict(zip(self.symbols, strings, strict=True)))
        reverse = dict(zip(strings, self.symbols, strict=True))
        reverse.update(dict.fromkeys(self.symbols, _RAW_SYMBOL))
        object.__setattr__(self, "_from_at", reverse)
        alternatives = sorted(reverse, key=len, reverse=True)
        object.__setattr__(self, "_pattern", re.compile("|".join(map(re.escape, alternatives))))

    def token_for(self, symbol: str) -> str:
        """Text written for ``symbol`` (itself when the table does not replace it)."""
        return self._to_at.get(symbol, symbol)

    def to_at(self, text: str) -> str:
        """Replace every table symbol in ``text`` by its token text."""
        return "".join(self._to_at.get(char, char) for char in text)

    def from_at(self, text: str) -> str:
        """Replace token texts by their symbols; plain table symbols become ``'?'`` (invalid)."""
        return self._pattern.sub(lambda match: self._from_at[match.group()], text)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (see :meth:`from_dict`)."""
        return {
            "symbols": list(self.symbols),
            "token_strings": list(self.token_strings),
            "token_ids": list(self.token_ids),
            "method": self.method,
            "tokenizer": self.tokenizer,
            "vocab_size": self.vocab_size,
            "format_version": self.format_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AtTable:
        """Table from :meth:`to_dict` output; raises :class:`AtTableError` when malformed."""
        try:
            return cls(
                symbols=tuple(data["symbols"]),
                token_strings=tuple(data["token_strings"]),
                token_ids=tuple(int(i) for i in data["token_ids"]),
                method=str(data.get("method", "")),
                tokenizer=str(data.get("tokenizer", "")),
                vocab_size=int(data.get("vocab_size", 0)),
                format_version=data.get("format_version", FORMAT_VERSION),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, AtTableError):
                raise
            raise AtTableError(ErrorKind.BAD_TABLE, f"malformed AT table: {exc!r}") from None

    def save(self, path: str | Path) -> None:
        """Write the table as JSON (UTF-8)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> AtTable:
        """Read a table written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AtTableError(ErrorKind.BAD_TABLE, f"cannot read AT table {path}: {exc}") from None
        return cls.from_dict(data)


def _safe_text(text: str) -> bool:
    return (
        bool(text)
        and text.isprintable()
        and not any(char.isspace() or char in _RESERVED for char in text)
        and not any(unicodedata.category(char).startswith(_UNSAFE_CATEGORIES) for char in text)
        and unicodedata.normalize("NFKC", text) == text
    )


@dataclass(frozen=True)
class AtChunkCodec:
    """Chunk codec of the AT ablation: same syntax, digits written with AT tokens."""

    # The token that writes each symbol.
    table: AtTable
    # Syntax, bounds and limits of the chunk text.
    format: ChunkFormat = field(default_factory=lambda: ChunkFormat(encoding="at"))

    def encode(self, steps: Sequence[Sequence[float]]) -> str:
        """Canonical AT text of ``steps`` (metres, base frame); see ``encode_chunk``."""
        return self.table.to_at(encode_chunk(steps, self.format))

    def decode(self, text: str) -> list[ActionStep]:
        """Steps (metres, base frame) read from AT text; raises ChunkParseError only.

        A plain digit where an AT token is expected is reported as ``NOT_A_NUMBER``.
        """
        if not isinstance(text, str):
            raise ChunkParseError(ErrorKind.NOT_TEXT, f"expected a str, got {type(text).__name__}")
        try:
            return decode_chunk(self.table.from_at(text), self.format)
        except ChunkParseError as exc:
            raise ChunkParseError(
                exc.kind,
                f"AT chunk: {exc.args[0]} (digits must be written with the AT tokens; "
                "'?' marks a plain digit)",
            ) from None


def _excluded_ids(tokenizer: Any) -> set[int]:
    return set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())


def rank_tokens_by_vocab_order(tokenizer: Any) -> list[int]:
    """Ordinary token ids from the last (rarest BPE merge) to the first."""
    excluded = _excluded_ids(tokenizer)
    return [i for i in range(len(tokenizer) - 1, -1, -1) if i not in excluded]


def rank_tokens_by_model(model: Any, tokenizer: Any) -> tuple[list[int], str]:
    """Token ids from least to most likely under ``model``, and the method used.

    Uses the output layer's bias when it has one ("output_bias"), else the log-probabilities of
    the first token after BOS ("unigram_logprob"). Needs torch; runs one forward pass.
    """
    import torch

    head = model.get_output_embeddings()
    bias = getattr(head, "bias", None)
    if bias is not None:
        scores = bias.detach().float().cpu()
        method = "output_bias"
    else:
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else 0
        device = next(model.parameters()).device
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([[start]], device=device)).logits
        scores = torch.log_softmax(logits[0, -1].float().cpu(), dim=-1)
        method = "unigram_logprob"
    excluded = _excluded_ids(tokenizer)
    size = len(tokenizer)
    order = torch.argsort(scores, stable=True).tolist()
    return [i for i in order if i < size and i not in excluded], method


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False))


def _isolated(tokenizer: Any, pieces: Sequence[tuple[str, int | None]]) -> bool:
    """True when each (text, id) piece with an id is exactly that one token in the encoding."""
    expected = [token_id for _, token_id in pieces if token_id is not None]
    wanted = set(expected)
    found = [i for i in _ids(tokenizer, "".join(text for text, _ in pieces)) if i in wanted]
    return found == expected


def build_at_table(
    tokenizer: Any,
    ranking: Sequence[int] | None = None,
    method: str = "vocab_order",
    symbols: str = DIGITS,
    model: Any = None,
) -> AtTable:
    """Choose the least-likely usable tokens of ``tokenizer`` for ``symbols``.

    ``ranking`` lists token ids from least to most likely. Without one, the base ``model``'s
    probabilities rank them when a model is given (:func:`rank_tokens_by_model`: the paper's
    choice); with neither, vocabulary order does (:func:`rank_tokens_by_vocab_order`), with a
    warning that the table is then not the paper's. Raises :class:`AtTableError` when the ranking
    runs out before enough tokens pass the checks described in the module docstring.
    """
    if ranking is None and model is not None:
        ranking, method = rank_tokens_by_model(model, tokenizer)
    elif ranking is None:
        warnings.warn(
            "AT table ranked by vocabulary order (no model given): the paper ranks by the base "
            "model's probabilities; pass model= to build_at_table",
            stacklevel=2,
        )
        ranking = rank_tokens_by_vocab_order(tokenizer)
    chosen: list[tuple[str, int]] = []
    for token_id in ranking:
        text = tokenizer.decode(
            [token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
        if not _safe_text(text) or any(a.startswith(text) or text.startswith(a) for a, _ in chosen):
            continue
        if _ids(tokenizer, text) != [token_id]:
            continue
        me = (text, token_id)
        probes = [[(before, None), me, (after, None)] for before, after in _CONTEXTS]
        probes += [[me, other] for other in chosen] + [[other, me] for other in chosen] + [[me, me]]
        if all(_isolated(tokenizer, probe) for probe in probes):
            chosen.append(me)
            if len(chosen) == len(symbols):
                break
    if len(chosen) < len(symbols):
        raise AtTableError(
            ErrorKind.BAD_TABLE,
            f"found only {len(chosen)} usable tokens for {len(symbols)} symbols; pass a longer "
            "ranking or fewer symbols",
        )
    return AtTable(
        symbols=tuple(symbols),
        token_strings=tuple(text for text, _ in chosen),
        token_ids=tuple(token_id for _, token_id in chosen),
        method=method,
        tokenizer=str(getattr(tokenizer, "name_or_path", "")),
        vocab_size=len(tokenizer),
    )


def verify_at_table(table: AtTable, tokenizer: Any) -> None:
    """Check that ``table`` fits ``tokenizer``.

    Each token text must encode to its id alone, in every chunk context and next to every other
    token text of the table. Raises :class:`AtTableError` naming the first failure.
    """
    if table.vocab_size and table.vocab_size != len(tokenizer):
        raise AtTableError(
            ErrorKind.BAD_TABLE,
            f"the table was made for a vocabulary of {table.vocab_size} tokens, this tokenizer "
            f"has {len(tokenizer)}; rebuild it with build_at_table",
        )
    pieces = list(zip(table.token_strings, table.token_ids, strict=True))
    for me in pieces:
        probes = [[(before, None), me, (after, None)] for before, after in _CONTEXTS]
        probes += [[me, other] for other in pieces]
        for probe in probes:
            if not _isolated(tokenizer, probe):
                text = "".join(t for t, _ in probe)
                raise AtTableError(
                    ErrorKind.BAD_TABLE,
                    f"{text!r} does not tokenize with {me[0]!r} as the single token {me[1]}; "
                    "rebuild the table for this tokenizer",
                )
