"""OpenAI's ``stop``: cut an answer, written piece by piece, before the first stop string.

:class:`StopText` is fed the pieces as they are decoded and hands on only text that can no longer
become part of a stop string: a tail that is the start of one is held back until the next piece
decides. Once a stop string appears, the text before it is handed on, the stop string and all
after it are dropped, and :attr:`StopText.stopped` is set (the caller then ends the generation).
"""

from __future__ import annotations


class StopText:
    """The answer text up to the first of ``stops`` (none: all of it)."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.stopped = False
        self.text = ""  # handed on so far
        self._held = ""

    def feed(self, piece: str) -> str:
        """Take the next ``piece``; return the text it releases (possibly empty)."""
        if self.stopped:
            return ""
        pending = self._held + piece
        cut = min((i for i in (pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return self._release(pending[:cut])
        keep = max((_overlap(pending, s) for s in self.stops), default=0)
        self._held = pending[len(pending) - keep :]
        return self._release(pending[: len(pending) - keep])

    def flush(self) -> str:
        """The held tail, released at the answer's end (it matched no stop string)."""
        held, self._held = self._held, ""
        return self._release(held)

    def _release(self, text: str) -> str:
        self.text += text
        return text


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``stop``."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:size]):
            return size
    return 0
