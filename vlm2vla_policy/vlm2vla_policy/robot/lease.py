"""The lease a goal's producer holds on the arm: the chunk runs only while the producer is alive.

The controller starts a lease when it accepts a goal; every message from the goal's producer
(``vlm2vla_msgs/ChunkSteps``, an empty one being a heartbeat) renews it. When no renewal came for
more than ``timeout_s`` the lease has lapsed and the chunk must stop: the producer is gone (killed,
hung, disconnected), so nobody is left to stop the arm. Time is any monotonic clock in seconds,
passed in by the caller (no clock is read here).
"""

from __future__ import annotations

import math


class Lease:
    """Alive while renewed at least every ``timeout_s``; ``timeout_s == 0`` never lapses."""

    def __init__(self, timeout_s: float, now_s: float) -> None:
        """Start the lease at ``now_s`` (monotonic s); ``timeout_s`` >= 0, 0 disables it."""
        if timeout_s < 0.0:
            raise ValueError(f"lease_timeout_s must be >= 0 (0 disables it), got {timeout_s}")
        self.timeout_s = timeout_s
        self.renewed_s = now_s

    @property
    def enabled(self) -> bool:
        """False when the lease is disabled (``timeout_s == 0``)."""
        return self.timeout_s > 0.0

    def renew(self, now_s: float) -> None:
        """The producer spoke at ``now_s`` (monotonic s); an earlier or NaN time changes nothing."""
        if math.isfinite(now_s):
            self.renewed_s = max(self.renewed_s, now_s)

    def silent_s(self, now_s: float) -> float:
        """Seconds since the last renewal (or the start)."""
        return now_s - self.renewed_s

    def lapsed(self, now_s: float) -> bool:
        """True when enabled and not renewed for more than ``timeout_s`` at ``now_s``.

        A NaN or infinite time counts as lapsed (``nan > timeout`` is false, so a plain
        comparison would keep such a lease alive for ever).
        """
        silent_s = self.silent_s(now_s)
        return self.enabled and not (math.isfinite(silent_s) and silent_s <= self.timeout_s)

    def reason(self, now_s: float) -> str:
        """Why a lapsed lease stopped the chunk, naming the ``lease_timeout_s`` setting."""
        return (
            "lease lapsed: no ChunkSteps message (steps or heartbeat) from the goal's producer "
            f"for {self.silent_s(now_s):.2f} s, more than lease_timeout_s = {self.timeout_s} s; "
            "stopped and holding (the producer must send a heartbeat at least that often)"
        )
