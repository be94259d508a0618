"""Continuous batching: requests decoded together, one forward pass a step for all of them.

The scheduler runs on a thread of its own. A request waits in a bounded queue; when the scheduler
is idle it waits ``window_s`` after the first request for others to arrive, then admits up to
``max_batch``. Each admitted request is prefilled alone (with prefix reuse) and joins the batch
of its adapter state (a request for the base model cannot share a pass with the adapter's). At
every step, requests that arrived meanwhile join, every running answer draws its next token
under its own grammar, sampling settings and stop conditions, and one forward pass per batch
feeds them all; finished answers leave at once. So a new request never waits for a whole batch
to finish, and a batch of eight costs about one forward pass of one where the model is small
next to the per-pass overhead (docs/performance.md has the measured ratios).

Every request carries a deadline (monotonic seconds): it fails with
:class:`GenerationTimeoutError` when the deadline passes, waiting or decoding, and a
cancelled submission leaves at the next step. Text sinks run on the scheduler thread and must
not block (queue the piece and return).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from vlm2vla_policy.runtime.backends.base import Backend, Completion, GenerationRequest, TextSink
from vlm2vla_policy.runtime.batch_group import BatchGroup, key_values
from vlm2vla_policy.runtime.errors import PolicyRuntimeError
from vlm2vla_policy.runtime.generation import Prefill, RowDecoder, StopGeneration

if TYPE_CHECKING:
    from vlm2vla_policy.runtime.backends.hf import HFBackend

logger = logging.getLogger("vlm2vla_batching")


class GenerationTimeoutError(PolicyRuntimeError, TimeoutError):
    """A request's deadline passed before its answer was finished."""


class QueueFullError(PolicyRuntimeError):
    """More requests are waiting than the scheduler's queue holds; retry later."""


@dataclass
class Submission:
    """A request handed to the scheduler: the future of its completion and a way to give it up."""

    request: GenerationRequest
    on_text: TextSink | None
    # time.monotonic() by which the answer must be finished.
    deadline: float
    future: concurrent.futures.Future[Completion] = field(default_factory=concurrent.futures.Future)
    submitted: float = field(default_factory=time.monotonic)
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Give the request up: it leaves the batch at the next step (its future is cancelled)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled.is_set()


@dataclass
class _Row:
    """One admitted request while its answer is decoded."""

    submission: Submission
    decoder: RowDecoder
    prefilled: Prefill
    # Seconds waiting in the queue, then encoding and prefilling.
    queued_s: float
    prefill_s: float
    # time.perf_counter() when decoding began.
    decode_start: float
    # Tokens to run at the next step.
    feed: list[int] = field(default_factory=list)
    group: BatchGroup | None = None


@dataclass(frozen=True)
class SchedulerStats:
    """What the scheduler holds now and has done (for /health and benchmarks)."""

    waiting: int
    running: int
    steps: int
    # Rows decoded per step, summed over steps (divide by steps for the mean batch).
    row_steps: int
    completed: int
    timed_out: int


class BatchScheduler:
    """Decodes the requests given to :meth:`submit` of one :class:`HFBackend`, batched.

    ``max_batch``: most answers decoded at once; ``max_waiting``: most requests queued behind
    them (more raise :class:`QueueFullError`); ``window_s``: how long an idle scheduler waits
    after the first request for more before it starts.
    """

    def __init__(
        self,
        backend: HFBackend,
        max_batch: int = 8,
        max_waiting: int = 32,
        window_s: float = 0.005,
    ) -> None:
        self.backend = backend
        self.engine = backend.engine
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self.window_s = window_s
        self.window = _cache_window(self.engine.model)
        self._waiting: collections.deque[Submission] = collections.deque()
        self._wake = threading.Condition()
        self._rows: list[_Row] = []
        self._shared: dict[str, BatchGroup] = {}
        self._closed = False
        self._steps = self._row_steps = self._completed = self._timed_out = 0
        self._thread = threading.Thread(target=self._run, name="batch-decode", daemon=True)
        self._thread.start()

    def submit(
        self, request: GenerationRequest, on_text: TextSink | None, deadline: float
    ) -> Submission:
        """Queue ``request``; its future gives the :class:`Completion` (or the error)."""
        submission = Submission(request, on_text, deadline)
        with self._wake:
            if self._closed:
                raise PolicyRuntimeError("the batch scheduler is closed")
            if len(self._waiting) >= self.max_waiting:
                raise QueueFullError(
                    f"{len(self._waiting)} requests are already waiting (max_pending); retry later"
                )
            self._waiting.append(submission)
            self._wake.notify()
        return submission

    def stats(self) -> SchedulerStats:
        """Queue and batch now; steps and completions so far."""
        with self._wake:
            return SchedulerStats(
                waiting=len(self._waiting),
                running=len(self._rows),
                steps=self._steps,
                row_steps=self._row_steps,
                completed=self._completed,
                timed_out=self._timed_out,
            )

    def close(self) -> None:
        """Stop the thread; waiting and running requests fail."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            admitted = self._take()
            if admitted is None:
                break
            try:
                with self.backend.lock, torch.inference_mode():
                    for submission in admitted:
                        self._admit(submission)
                    self._step()
            except Exception as exc:  # a bug: fail what runs, keep serving
                logger.exception("batched decoding failed; %d answers fail", len(self._rows))
                for row in self._rows:
                    _fail(row.submission, exc)
                self._rows.clear()
                self._shared.clear()
        error = PolicyRuntimeError("the batch scheduler was closed")
        for row in self._rows:
            _fail(row.submission, error)
        for submission in self._waiting:
            _fail(submission, error)

    def _take(self) -> list[Submission] | None:
        """The requests to admit now (waiting for one when idle); None once closed."""
        with self._wake:
            while not self._rows and not self._waiting and not self._closed:
                self._wake.wait()
            if self._closed:
                return None
            if not self._rows:
                until = time.monotonic() + self.window_s
                while len(self._waiting) < self.max_batch and not self._closed:
                    if not self._wake.wait(max(0.0, until - time.monotonic())):
                        break
            room = self.max_batch - len(self._rows)
            return [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]

    def _admit(self, submission: Submission) -> None:
        """Prefill ``submission`` alone and start its answer (or fail it)."""
        if _expired(submission):
            self._end(submission)
            return
        request = submission.request
        queued_s = time.monotonic() - submission.submitted
        start = time.perf_counter()
        try:
            prompt = self.engine.encode(request.prompt)
            constraint = None
            if request.grammar is not None:
                constraint = self.backend.constraint(request.grammar)
            with self.backend.adapter(request.use_adapter) as tag:
                prefilled = self.engine.prefill(prompt, request.sampling, tag)
            decoder = RowDecoder(
                self.engine,
                None,
                prefilled.token_ids,
                request.sampling,
                constraint=constraint,
                on_text=submission.on_text,
            )
            now = time.perf_counter()
            row = _Row(submission, decoder, prefilled, queued_s, now - start, now)
            done = not self._advance(row, prefilled.logits, first=True)
        except Exception as exc:  # the request's own error (a bad prompt), not the scheduler's
            _fail(submission, exc)
            return
        if done:
            self._finish(row)
            return
        self._place(row, tag, prefilled.cache)
        self._rows.append(row)

    def _place(self, row: _Row, tag: str, cache: Any) -> None:
        """Put ``row`` in its adapter state's batch, or alone if its cache is too long to share.

        Runs right after the row's prefill: the prefix cache may hand the same cache object to
        the next request, so the row takes its key/values (or a copy) now.
        """
        length = len(row.decoder.sequence) - len(row.feed)
        shared = self._shared.get(tag)
        if shared is None:
            shared = self._shared[tag] = BatchGroup(self.engine.model, self.window)
        if shared.fits(length, len(row.feed)):
            shared.join([key_values(cache)])
            row.group = shared
            return
        row.group = BatchGroup(self.engine.model, self.window, solo=True)
        row.group.adopt(cache)

    def _step(self) -> None:
        """One forward pass per group; every row draws its next token; finished rows leave."""
        for group in self._groups():
            rows = self._live_rows(group)
            if not group.solo:
                rows = self._make_room(group, rows)
            if not rows:
                continue
            try:
                self._step_group(group, rows)
            except Exception as exc:  # a failed pass (e.g. out of memory) fails its rows only
                logger.exception("a batched decoding step failed; its %d answers fail", len(rows))
                for row in rows:
                    self._rows.remove(row)
                    _fail(row.submission, exc)
                group.keep([])

    def _step_group(self, group: BatchGroup, rows: list[_Row]) -> None:
        with self.backend.adapter(rows[0].submission.request.use_adapter):
            logits = group.forward([row.feed for row in rows])
        self._steps += 1
        self._row_steps += len(rows)
        keep = []
        for index, (row, row_logits) in enumerate(zip(rows, logits, strict=True)):
            row.decoder.forward_passes += 1
            if self._advance(row, row_logits):
                keep.append(index)
            else:
                self._finish(row)
        group.keep(keep)

    def _live_rows(self, group: BatchGroup) -> list[_Row]:
        """The rows of ``group``, after those cancelled or past their deadline left it."""
        rows = [row for row in self._rows if row.group is group]
        live = [index for index, row in enumerate(rows) if not _expired(row.submission)]
        for index in sorted(set(range(len(rows))) - set(live)):
            self._rows.remove(rows[index])
            self._end(rows[index].submission)
        group.keep(live)
        return [rows[index] for index in live]

    def _make_room(self, group: BatchGroup, rows: list[_Row]) -> list[_Row]:
        """Repack ``group`` before the step would outgrow its window; move too-long rows out."""
        if not rows:
            return rows
        width = max(len(row.feed) for row in rows)
        if group.fits(group.padded_length(), width):
            return rows
        group.repack()
        staying = []
        for index, row in enumerate(rows):
            if group.fits(group.lengths[index], width):
                staying.append(index)
                continue
            solo = BatchGroup(self.engine.model, self.window, solo=True)
            solo.join([group.extract(index)])
            row.group = solo
        group.keep(staying)
        return [rows[index] for index in staying]

    def _groups(self) -> Iterator[BatchGroup]:
        seen: list[BatchGroup] = list(self._shared.values())
        for row in self._rows:
            if row.group is not None and row.group.solo and row.group not in seen:
                seen.append(row.group)
        yield from seen

    def _advance(self, row: _Row, logits: torch.Tensor, first: bool = False) -> bool:
        """Draw ``row``'s next token from ``logits`` and set its feed; False when it is done.

        ``first``: the logits are the prompt's (the grammar's forced start comes first).
        """
        decoder = row.decoder
        try:
            feed = decoder.begin(logits) if first else decoder.advance(logits)
        except StopGeneration:
            decoder.stopped = True
            feed = None
        row.feed = feed or []
        return feed is not None

    def _finish(self, row: _Row) -> None:
        """Complete ``row``'s future with its answer."""
        generation = row.decoder.result(
            row.prefilled, row.prefill_s, time.perf_counter() - row.decode_start
        )
        completion = Completion(
            text=generation.text,
            timing=dataclasses.replace(generation.timing, overhead_s=row.queued_s),
            constrained=row.submission.request.grammar is not None,
            finished=generation.finished,
        )
        if row in self._rows:
            self._rows.remove(row)
        self._completed += 1
        if row.submission.future.set_running_or_notify_cancel():
            row.submission.future.set_result(completion)

    def _end(self, submission: Submission) -> None:
        """End a cancelled or expired request."""
        if submission.cancelled:
            submission.future.cancel()
            return
        self._timed_out += 1
        _fail(submission, GenerationTimeoutError("generation took too long (request deadline)"))


def _fail(submission: Submission, error: BaseException) -> None:
    future = submission.future
    if future.done():
        return
    if future.running() or future.set_running_or_notify_cancel():
        future.set_exception(error)


def _expired(submission: Submission) -> bool:
    return submission.cancelled or time.monotonic() > submission.deadline


def _cache_window(model: Any) -> int | None:
    """Longest cache the model's local attention layers keep whole (None: no local layers)."""
    text = model.config.get_text_config()
    window = getattr(text, "sliding_window", None)
    layer_types = getattr(text, "layer_types", None) or []
    if window is None or "sliding_attention" not in layer_types:
        return None
    return int(window) - 1


class SerialScheduler:
    """:class:`BatchScheduler`'s interface over any :class:`Backend`, one request at a time.

    For backends that cannot batch (a remote server, a test double): a worker thread answers the
    queued requests in order. A streamed request that is cancelled or past its deadline ends at
    its next piece of text; one not streamed runs to its end (its caller stops waiting).
    """

    def __init__(self, backend: Backend, max_waiting: int = 32) -> None:
        self.backend = backend
        self.max_waiting = max_waiting
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="generate")
        self._waiting = 0
        self._count = threading.Lock()
        self._completed = self._timed_out = 0

    def submit(
        self, request: GenerationRequest, on_text: TextSink | None, deadline: float
    ) -> Submission:
        """Queue ``request``; its future gives the :class:`Completion` (or the error)."""
        submission = Submission(request, on_text, deadline)
        with self._count:
            if self._waiting >= self.max_waiting:
                raise QueueFullError(
                    f"{self._waiting} requests are already waiting (max_pending); retry later"
                )
            self._waiting += 1
        self._worker.submit(self._answer, submission)
        return submission

    def stats(self) -> SchedulerStats:
        """Queue now; completions so far (no steps: the backend decodes alone)."""
        with self._count:
            return SchedulerStats(self._waiting, 0, 0, 0, self._completed, self._timed_out)

    def close(self) -> None:
        """Stop the worker; waiting requests are dropped."""
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _answer(self, submission: Submission) -> None:
        with self._count:
            self._waiting -= 1
        future = submission.future
        if _expired(submission) or not future.set_running_or_notify_cancel():
            _fail(submission, GenerationTimeoutError("generation took too long (request deadline)"))
            return

        def sink(piece: str) -> None:
            _check(submission)
            if submission.on_text is not None:
                submission.on_text(piece)

        try:
            streamed = sink if submission.on_text is not None else None
            future.set_result(self.backend.complete(submission.request, streamed))
        except Exception as exc:  # the request's error, reported through its future
            if isinstance(exc, GenerationTimeoutError):
                self._timed_out += 1
            future.set_exception(exc)
            return
        self._completed += 1


def _check(submission: Submission) -> None:
    """Raise when ``submission`` was cancelled or its deadline passed (ends its generation)."""
    if submission.cancelled:
        raise concurrent.futures.CancelledError
    if time.monotonic() > submission.deadline:
        raise GenerationTimeoutError("generation took too long (request deadline)")
