"""Reading an action chunk while the model is still writing it.

A chunk step is final the moment its closing ``]`` is decoded: nothing written after it can change
it. :class:`ChunkStreamReader` takes the answer text piece by piece, as the decoder produces it,
and returns each step as soon as it is complete, read with the same codec (same syntax, same
bounds, same step limit) as the whole answer. It raises
:class:`~vlm2vla_policy.language.errors.ChunkParseError` as soon as the text can no longer be a
valid chunk, and :meth:`ChunkStreamReader.finish` gives the strict verdict on the whole text once
the decoder has stopped. Units and frame as in :mod:`~vlm2vla_policy.language.chunk`: steps in
metres, base frame, gripper 1 open / 0 closed.
"""

from __future__ import annotations

import re

from vlm2vla_policy.language.chunk import ActionStep, ChunkCodec, TextChunkCodec
from vlm2vla_policy.language.errors import ChunkParseError, ErrorKind

# What may stand between the last complete step and the end of the text while a text-digit chunk
# is being written: digits, signs, decimal points, commas, brackets and whitespace.
_TEXT_CHUNK_BODY = re.compile(r"[ \t\n\r0-9.,+\-\[\]]*")


class ChunkStreamReader:
    """Complete, bounds-checked steps of a chunk answer as its text arrives.

    ``feed(piece)`` returns the steps that ``piece`` completed (often none, sometimes several);
    every step it returns is exactly what :meth:`ChunkCodec.decode` reads from the whole answer
    at the same index. After a :class:`ChunkParseError` the reader stays failed: every later call
    raises the same error.
    """

    def __init__(self, codec: ChunkCodec | None = None) -> None:
        self.codec = codec or TextChunkCodec()
        self._text = ""
        self._scanned = 0  # characters whose brackets have been counted
        self._depth = 0  # bracket depth at self._scanned
        self._last_step_end = 0  # index after the latest complete step's ']' (0: none yet)
        self._chunk_end: int | None = None  # index after the chunk's closing ']'
        self._steps: list[ActionStep] = []
        self._error: ChunkParseError | None = None
        self._check_tail = isinstance(self.codec, TextChunkCodec)

    @property
    def text(self) -> str:
        """Everything fed so far (the model's raw answer, for audit)."""
        return self._text

    @property
    def steps(self) -> list[ActionStep]:
        """Every complete step returned so far (metres, base frame)."""
        return list(self._steps)

    @property
    def error(self) -> ChunkParseError | None:
        """Why the text cannot be a valid chunk, once that is known; None before."""
        return self._error

    @property
    def closed(self) -> bool:
        """True once the chunk's closing ``]`` has arrived (later text is judged by finish)."""
        return self._chunk_end is not None

    def feed(self, piece: str) -> list[ActionStep]:
        """Append ``piece`` of the answer; return the steps it completed, in order.

        Raises :class:`ChunkParseError` when the text so far cannot be the start of a valid
        chunk: a complete step that is malformed or out of bounds, more than ``max_steps`` steps,
        a preamble that is too long, or (text-digit chunks) a character that no chunk contains.
        Steps that ``piece`` completed before the malformation are returned; the error then comes
        with the next call (and :attr:`error` is set at once).
        """
        if self._error is not None:
            raise self._error
        self._text += piece
        if self._chunk_end is not None:
            return []
        before = len(self._steps)
        try:
            return self._read_new()
        except ChunkParseError as error:
            self._error = error
            if len(self._steps) > before:  # steps completed before the malformation stand
                return self._steps[before:]
            raise

    def finish(self) -> list[ActionStep]:
        """The whole answer read strictly (as :meth:`ChunkCodec.decode`); raises ChunkParseError.

        Call once the decoder has stopped. Steps already returned by :meth:`feed` are its first
        steps; an error here (unclosed chunk, trailing text) concerns what came after them.
        """
        if self._error is not None:
            raise self._error
        return self.codec.decode(self._text)

    def _read_new(self) -> list[ActionStep]:
        closed_step = self._scan()
        if self._chunk_end is not None:
            steps = self.codec.decode(self._text[: self._chunk_end])
        elif closed_step:
            steps = self.codec.decode(self._text[: self._last_step_end] + "]")
        else:
            steps = self._steps
        new = steps[len(self._steps) :]
        self._steps = list(steps)
        if self._chunk_end is None and self._check_tail and self._last_step_end:
            self._check_body(self._text[self._last_step_end :])
        return new

    def _scan(self) -> bool:
        """Count brackets of the new characters; True when a step closed among them."""
        closed_step = False
        text = self._text
        for index in range(self._scanned, len(text)):
            char = text[index]
            if char == "[":
                self._depth += 1
            elif char == "]" and self._depth > 0:
                self._depth -= 1
                if self._depth == 1:
                    self._last_step_end = index + 1
                    closed_step = True
                elif self._depth == 0:
                    self._chunk_end = index + 1
                    self._scanned = index + 1
                    return closed_step
        self._scanned = len(text)
        return closed_step

    def _check_body(self, tail: str) -> None:
        match = _TEXT_CHUNK_BODY.match(tail)
        if match.end() < len(tail):
            position = self._last_step_end + match.end()
            raise ChunkParseError(
                ErrorKind.SYNTAX,
                f"after step {len(self._steps)} the chunk text turned malformed: "
                f"{tail[match.end() : match.end() + 16]!r} cannot be part of a chunk "
                "(values are plain decimals such as -1.5)",
                position,
            )
