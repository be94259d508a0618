"""Which samples each optimizer step trains on: fixed by the seed, identical on every process.

Every epoch is a seeded permutation of the training samples, cut into optimizer steps of
``samples_per_step = per_device_batch x accum_steps x num_processes`` samples (the remainder of an
epoch that does not fill a step is not used). Inside a step, accumulation round ``m`` gives
process ``r`` the slice ``[(m * num_processes + r) * per_device_batch, ... + per_device_batch)``.

Because the order is a pure function of the seed and the step, a resumed run starts at its
checkpoint's step and neither repeats nor skips a sample, and any process (the main one logs them)
can name every sample of a step without talking to the others.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@functools.lru_cache(maxsize=4)
def _permutation(seed: int, epoch: int, num_samples: int) -> np.ndarray:
    order = np.random.default_rng([seed, epoch]).permutation(num_samples)
    order.flags.writeable = False  # shared by the cache: nobody may change it
    return order


@dataclass(frozen=True)
class SampleOrder:
    """The deterministic sample order of a run."""

    # Samples to draw from (positions 0..num_samples-1 of the training selection).
    num_samples: int
    # Seed of the per-epoch permutations.
    seed: int
    # Passes over the samples.
    epochs: int
    # Samples per forward pass on one process.
    per_device_batch: int
    # Micro-batches per optimizer step on each process.
    accum_steps: int
    # Processes taking part (accelerate's num_processes).
    num_processes: int = 1
    # Cap on optimizer steps (0: none).
    max_steps: int = 0

    @property
    def samples_per_step(self) -> int:
        """Samples of one optimizer step over all processes (the effective batch)."""
        return self.per_device_batch * self.accum_steps * self.num_processes

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one pass (an incomplete last step is dropped)."""
        return self.num_samples // self.samples_per_step

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run."""
        steps = self.steps_per_epoch * self.epochs
        return min(steps, self.max_steps) if self.max_steps else steps

    def epoch_permutation(self, epoch: int) -> np.ndarray:
        """Sample positions in the order of ``epoch`` (seeded by the run seed and the epoch)."""
        return _permutation(self.seed, epoch, self.num_samples)

    def step_samples(self, step: int) -> list[int]:
        """Every sample position of optimizer step ``step`` (0-based), in micro-batch order."""
        if not 0 <= step < self.total_steps:
            raise IndexError(f"step {step} is outside the run's {self.total_steps} steps")
        epoch, within = divmod(step, self.steps_per_epoch)
        start = within * self.samples_per_step
        return self.epoch_permutation(epoch)[start : start + self.samples_per_step].tolist()

    def micro_batches(self, step: int, rank: int) -> list[list[int]]:
        """The ``accum_steps`` micro-batches (sample positions) of process ``rank`` at ``step``."""
        samples = self.step_samples(step)
        size = self.per_device_batch
        starts = [(m * self.num_processes + rank) * size for m in range(self.accum_steps)]
        return [samples[start : start + size] for start in starts]

    def rank_batches(self, rank: int, start_step: int) -> list[list[int]]:
        """Micro-batches of process ``rank`` from ``start_step`` to the end of the run, in order."""
        return [
            batch
            for step in range(start_step, self.total_steps)
            for batch in self.micro_batches(step, rank)
        ]
