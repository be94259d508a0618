"""How long a generation took and how much work it did."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Work and wall-clock time of one generation (or the sum of several attempts)."""

    # Prompt tokens run through the model (those taken from a reused prefix cache excluded).
    prefill_tokens: int = 0
    # Prompt tokens whose keys/values came from the prefix cache instead of being recomputed.
    reused_tokens: int = 0
    # Tokens the model wrote.
    decoded_tokens: int = 0
    # Seconds from the request to the first output token's logits (image encoding + prefill).
    prefill_s: float = 0.0
    # Seconds spent writing the output tokens.
    decode_s: float = 0.0
    # Seconds outside the model: network and queueing of a remote server (its whole wall time
    # when the server reports no prefill/decode split).
    overhead_s: float = 0.0
    # Forward passes of the decode (prefill excluded): one per sampled token, whose pass also
    # feeds the tokens the grammar forced after it; 0 where unknown (a remote server).
    forward_passes: int = 0

    @property
    def total_s(self) -> float:
        """Prefill, decode and overhead seconds."""
        return self.prefill_s + self.decode_s + self.overhead_s

    def __add__(self, other: Timing) -> Timing:
        return Timing(
            prefill_tokens=self.prefill_tokens + other.prefill_tokens,
            reused_tokens=self.reused_tokens + other.reused_tokens,
            decoded_tokens=self.decoded_tokens + other.decoded_tokens,
            prefill_s=self.prefill_s + other.prefill_s,
            decode_s=self.decode_s + other.decode_s,
            overhead_s=self.overhead_s + other.overhead_s,
            forward_passes=self.forward_passes + other.forward_passes,
        )

    def to_dict(self) -> dict[str, float]:
        """Plain dict with milliseconds, for logs, status messages and JSON."""
        return {
            "prefill_tokens": self.prefill_tokens,
            "reused_tokens": self.reused_tokens,
            "decoded_tokens": self.decoded_tokens,
            "prefill_ms": 1000.0 * self.prefill_s,
            "decode_ms": 1000.0 * self.decode_s,
            "overhead_ms": 1000.0 * self.overhead_s,
            "total_ms": 1000.0 * self.total_s,
            "forward_passes": self.forward_passes,
        }
