"""What is slow to build and never changes, built once and kept on disk.

Two things: the text of every token of a tokenizer (:func:`cached_token_table`, keyed by a hash of
the tokenizer's whole definition, so another tokenizer or another version never hits), and
checkpoint directories converted from another format (:func:`cached_directory`, keyed by what
they were built from). The root is ``$VLM2VLA_CACHE`` or ``~/.cache/vlm2vla``; deleting it only
costs the next start its build time. Entries are written to a temporary name and renamed, so an
interrupted build leaves nothing that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vlm2vla_policy.decoding import TokenTable

CACHE_ENV = "VLM2VLA_CACHE"
TABLE_FORMAT = 2  # bump when the table's content or file layout changes (2: canonical only)


def cache_root() -> Path:
    """The cache directory: ``$VLM2VLA_CACHE``, else ``~/.cache/vlm2vla``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vlm2vla")


def digest(parts: Sequence[Any]) -> str:
    """A short stable hash of JSON-serialisable ``parts`` (a cache key)."""
    text = json.dumps(list(parts), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def tokenizer_digest(tokenizer: Any) -> str:
    """Hash of a tokenizer's whole definition (vocabulary, merges, added and special tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    definition = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab())
    specials = sorted(str(t) for t in getattr(tokenizer, "all_special_tokens", []))
    return digest([TABLE_FORMAT, definition, specials, len(tokenizer)])


def cached_token_table(tokenizer: Any, root: Path | None = None) -> TokenTable:
    """:meth:`TokenTable.from_tokenizer`, read from the cache when this tokenizer was seen."""
    path = (root or cache_root()) / "token_tables" / f"{tokenizer_digest(tokenizer)}.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return TokenTable(data["strings"], data["eos_token_ids"], data["name"])
    table = TokenTable.from_tokenizer(tokenizer)
    payload = {"strings": table.strings, "eos_token_ids": table.eos_token_ids, "name": table.name}
    _write_atomically(path, json.dumps(payload))
    return table


def cached_directory(kind: str, key: Sequence[Any], build: Callable[[Path], Any]) -> Path:
    """The directory ``build(directory)`` writes, built only when no entry of ``key`` exists.

    ``kind`` names the entry (a folder under the cache root); ``key`` is everything the content
    depends on (source file identity, settings, library versions).
    """
    final = cache_root() / kind / digest(key)
    if (final / ".complete").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=final.parent))
    try:
        build(scratch)
        (scratch / ".complete").write_text(json.dumps(list(key), default=str) + "\n")
        if final.exists():
            shutil.rmtree(final)
        scratch.rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
