"""Tests' helper: run an HTTP server on a thread for the duration of a fixture."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol, TypeVar


class _Serving(Protocol):
    def serve_forever(self) -> None: ...
    def shutdown(self) -> None: ...
    def server_close(self) -> None: ...


_Server = TypeVar("_Server", bound=_Serving)


def serve_in_thread(server: _Server) -> Iterator[_Server]:
    """Serve ``server`` on a daemon thread; yield it; then shut it down and close it.

    Use as ``yield from serve_in_thread(server)`` in a fixture.
    """
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
