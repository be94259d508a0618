"""The stages of the VLM2VLA policy: each has one prompt, one answer format and one grammar."""

from __future__ import annotations

import enum


class Stage(str, enum.Enum):
    """A question the model answers; the value names it in datasets and logs."""

    SUBTASKS = "subtasks"
    PLAN = "plan"
    CHUNK = "chunk"
    VERIFICATION = "verification"
    DIRECTION = "direction"

    @property
    def num_images(self) -> int:
        """Images in the prompt: two (before, after) for verification, else one (current)."""
        return 2 if self is Stage.VERIFICATION else 1
