"""Choosing the chunk codec from the configuration (text digits or VLM2VLA-AT tokens)."""

from __future__ import annotations

from vlm2vla_policy.language.at_encoding import AtChunkCodec, AtTable
from vlm2vla_policy.language.chunk import ChunkCodec, TextChunkCodec
from vlm2vla_policy.language.config import ChunkFormat
from vlm2vla_policy.language.errors import ConfigError, ErrorKind


def make_chunk_codec(fmt: ChunkFormat | None = None, at_table: AtTable | None = None) -> ChunkCodec:
    """The codec ``fmt.encoding`` asks for: :class:`TextChunkCodec` or :class:`AtChunkCodec`.

    Raises :class:`ConfigError` when the AT encoding is asked for without a table.
    """
    fmt = fmt or ChunkFormat()
    if fmt.encoding == "at":
        if at_table is None:
            raise ConfigError(
                ErrorKind.BAD_CONFIG,
                "ChunkFormat.encoding is 'at' but no AtTable was given; load the table saved "
                "with the adapter (AtTable.load) or build one with build_at_table",
            )
        return AtChunkCodec(at_table, fmt)
    return TextChunkCodec(fmt)
