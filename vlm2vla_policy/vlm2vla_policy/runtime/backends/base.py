"""What every generation backend takes and returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vlm2vla_policy.language import Grammar
from vlm2vla_policy.runtime.chat import ChatPrompt
from vlm2vla_policy.runtime.config import SamplingConfig
from vlm2vla_policy.runtime.timing import Timing


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to answer."""

    # Messages and images (texts from vlm2vla_policy.language).
    prompt: ChatPrompt
    # Temperature, top-p and token budget.
    sampling: SamplingConfig
    # The answer's grammar to constrain decoding with, or None for free text.
    grammar: Grammar | None = None
    # False runs the base model with the LoRA adapter disabled (on-board verification).
    use_adapter: bool = True


@dataclass(frozen=True)
class Completion:
    """A backend's answer."""

    # The text the model wrote.
    text: str
    # Work and time.
    timing: Timing
    # True when decoding was constrained to the grammar (as far as the backend can tell).
    constrained: bool
    # True when the model ended its answer itself (False: token budget ran out).
    finished: bool = True
    # The request field a server ignored: it was asked to constrain with it, but its finished
    # answer is outside the grammar ("" otherwise).
    ignored: str = ""


TextSink = Callable[[str], None]
"""``on_text(piece)``: receives the answer's text piece by piece while it is decoded.

The pieces, joined, are the completion's text. An exception raised by the sink stops the
generation and propagates out of :meth:`Backend.complete` (how a streaming reader aborts an answer
that turned malformed, or a stop request ends decoding early). The in-process backend takes
:class:`~vlm2vla_policy.runtime.generation.StopGeneration` as the answer's end instead and returns
the text so far as a finished completion (how ``vlm2vla-serve`` implements ``stop``).
"""


class Backend(Protocol):
    """Something that answers chat prompts: the in-process model or a remote server."""

    def complete(self, request: GenerationRequest, on_text: TextSink | None = None) -> Completion:
        """Generate the answer to ``request``; stream its text to ``on_text`` when given."""
        ...

    def reset(self) -> None:
        """Forget per-episode state (cached prefixes)."""
        ...
