"""Tests' and benchmarks' helper: ``vlm2vla-serve`` in a process of its own."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from vlm2vla_policy.serving.cli import READY_MESSAGE


def serve_command() -> list[str]:
    """The command that starts ``vlm2vla-serve`` (the installed script, else the module)."""
    installed = shutil.which("vlm2vla-serve")
    return [installed] if installed else [sys.executable, "-m", "vlm2vla_policy.serving.cli"]


@contextmanager
def serving(
    arguments: Sequence[str], env: dict[str, str] | None = None, start_timeout_s: float = 180.0
) -> Iterator[str]:
    """Run ``vlm2vla-serve arguments`` (one torch thread, offline); yield its base URL; stop it.

    Fails with the server's output when it has not logged its ready line within the timeout.
    """
    environment = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", **(env or {}))
    process = subprocess.Popen(
        [*serve_command(), *arguments],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    seen: list[str] = []
    url = None
    deadline = time.monotonic() + start_timeout_s
    while url is None and time.monotonic() < deadline and process.poll() is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen.append(line)
        if READY_MESSAGE in line:
            url = line.split(READY_MESSAGE, 1)[1].split()[0]
    try:
        if url is None:
            raise RuntimeError("vlm2vla-serve did not start:\n" + "".join(seen))
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
