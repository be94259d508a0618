"""Continuous batching: requests decoded together, one forward pass a step for all of them.

The scheduler runs on a thread of its own. A request waits in a bounded queue; an idle
scheduler waits up to ``window_s`` for as many requests as last ran together, then admits up to
``max_batch``. Prompts admitted together are prefilled in one pass, images included; a prompt
whose prefix is in the prefix cache (a robot's chunk prompt after its plan prompt, same image)
runs only the rest, in a pass of its own kind. Each answer then decodes in the batch of its
adapter state (a request for the base model cannot share a pass with the adapter's): at every
step, requests that arrived meanwhile join, every running answer draws its next token under its
own grammar, sampling settings and stop conditions, and one forward pass per batch feeds them
all; finished answers leave at once. So a new request never waits for a whole batch to finish,
and a batch of eight costs little more than one where a step is dominated by per-pass overhead
or memory traffic (docs/performance.md has the measured ratios).

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
from vlm2vla_policy.runtime.batch_group import BatchGroup, cache_of, key_values
from vlm2vla_policy.runtime.errors import PolicyRuntimeError
from vlm2vla_policy.runtime.generation import (
    EncodedPrompt,
    Prefill,
    RowDecoder,
    StopGeneration,
)
from vlm2vla_policy.runtime.prefix_cache import PrefixHit

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
    # Seconds the request waited in the queue.
    queued_s: float
    # time.perf_counter() at admission; then (see :meth:`started`) when decoding began.
    start: float
    decoder: RowDecoder | None = None
    prefilled: Prefill | None = None
    # Seconds from admission to the first logits of the answer (encoding and prefill).
    prefill_s: float = 0.0
    # Tokens to run at the next step.
    feed: list[int] = field(default_factory=list)
    group: BatchGroup | None = None
    # True while the feed is the rest of the prompt (its logits start the answer).
    prefilling: bool = False

    def started(self) -> None:
        """Note that the prompt is in: the answer's decoding starts now."""
        now = time.perf_counter()
        self.prefill_s, self.start = now - self.start, now


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
    them (more raise :class:`QueueFullError`); ``window_s``: how long an idle scheduler waits,
    after the first request, for as many as ran together before it went idle (robots whose
    answers ended together send their next requests together; a lone robot never waits).
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
        # Per adapter state, the rows running the rest of their prompt this step.
        self._prefill: dict[str, BatchGroup] = {}
        self._closed = False
        # Most requests running at once since the scheduler was last idle.
        self._busy = 0
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
                    self._admit(admitted)
                    self._step()
            except Exception as exc:  # a bug: fail what runs, keep serving
                logger.exception("batched decoding failed; %d answers fail", len(self._rows))
                for row in self._rows:
                    _fail(row.submission, exc)
                self._rows.clear()
                self._shared.clear()
                self._prefill.clear()
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
                # Clients that were served together come back together: wait (at most the
                # window) for as many as were busy last time. A lone client never waits.
                company = min(self._busy, self.max_batch)
                until = time.monotonic() + self.window_s
                while len(self._waiting) < company and not self._closed:
                    if not self._wake.wait(max(0.0, until - time.monotonic())):
                        break
                self._busy = 0
            room = self.max_batch - len(self._rows)
            taken = [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
            self._busy = max(self._busy, len(self._rows) + len(taken))
            return taken

    def _admit(self, submissions: list[Submission]) -> None:
        """Start the answers of ``submissions`` (or fail them).

        A prompt whose prefix (its image with it) is in the prefix cache starts from that
        prefix's key/values and runs its remaining text in the next step. The other prompts of
        one adapter state are prefilled together, images included, in one pass (one too long to
        share a padded cache, alone).
        """
        fresh: dict[str, list[tuple[_Row, EncodedPrompt]]] = {}
        for submission in submissions:
            started = self._start(submission)
            if started is not None:
                row, prompt, tag = started
                fresh.setdefault(tag, []).append((row, prompt))
        for tag, rows in fresh.items():
            self._prefill_together(tag, rows)

    def _start(self, submission: Submission) -> tuple[_Row, EncodedPrompt, str] | None:
        """Encode ``submission``; start it from a cached prefix, or return it for a prefill."""
        if _expired(submission):
            self._end(submission)
            return None
        request = submission.request
        row = _Row(submission, time.monotonic() - submission.submitted, time.perf_counter())
        try:
            prompt = self.engine.encode(request.prompt)
            self.engine.check_context(prompt, request.sampling)
            constraint = None
            if request.grammar is not None:
                constraint = self.backend.constraint(request.grammar)
            ids = prompt.input_ids[0].tolist()
            row.decoder = RowDecoder(
                self.engine,
                None,
                ids,
                request.sampling,
                constraint=constraint,
                on_text=submission.on_text,
            )
            with self.backend.adapter(request.use_adapter) as tag:
                hit = self.engine.lookup(prompt, tag)
        except Exception as exc:  # the request's own error (a bad prompt), not the scheduler's
            _fail(submission, exc)
            return None
        shared = self._shared_group(tag)
        if hit is None and shared.fits(len(ids), 1):
            return row, prompt, tag
        if hit is not None and shared.fits(hit.length, len(ids) - hit.length):
            self._join_with_prefix(row, prompt, hit, tag)
        else:
            self._prefill_alone(tag, row, prompt, hit)
        return None

    def _prefill_alone(
        self, tag: str, row: _Row, prompt: EncodedPrompt, hit: PrefixHit | None = None
    ) -> None:
        """Prefill ``row``'s prompt by itself (after ``hit``'s prefix) and start it."""
        try:
            with self.backend.adapter(row.submission.request.use_adapter):
                row.prefilled = self.engine.prefill(prompt, tag, hit)
            row.started()
            self._begin(row, tag, row.prefilled.logits, row.prefilled.cache)
        except Exception as exc:  # the request's own error (its text sink), not the scheduler's
            _fail(row.submission, exc)

    def _prefill_together(self, tag: str, rows: list[tuple[_Row, EncodedPrompt]]) -> None:
        """Prefill the prompts of ``rows`` (adapter state ``tag``) in one pass; start them."""
        group = BatchGroup(self.engine.model, self.window)
        try:
            with self.backend.adapter(rows[0][0].submission.request.use_adapter):
                logits = group.prefill([prompt for _, prompt in rows])
        except Exception as exc:  # e.g. out of memory: these requests fail, not the server
            logger.exception("a batched prefill of %d prompts failed", len(rows))
            for row, _ in rows:
                _fail(row.submission, exc)
            return
        for index, ((row, prompt), row_logits) in enumerate(zip(rows, logits, strict=True)):
            cache = cache_of(self.engine.model, group.extract(index))
            ids = prompt.input_ids[0].tolist()
            if self.engine.prefix_cache is not None:
                self.engine.prefix_cache.store(tag, ids, prompt.image_keys, cache)
            row.prefilled = Prefill(cache=cache, token_ids=ids, reused=0, logits=row_logits)
            row.started()
            try:
                self._begin(row, tag, row_logits, cache)
            except Exception as exc:  # the request's own text sink failed
                _fail(row.submission, exc)

    def _begin(self, row: _Row, tag: str, logits: torch.Tensor, cache: Any) -> None:
        """Draw ``row``'s first token from its prompt's ``logits``; put it in its batch."""
        if not self._advance(row, logits, first=True):
            self._finish(row)
            return
        self._place(row, tag, cache)
        self._rows.append(row)

    def _join_with_prefix(self, row: _Row, prompt: EncodedPrompt, hit: PrefixHit, tag: str) -> None:
        """Start ``row`` from ``hit``'s key/values: the prompt's rest runs in the next step.

        The rests of the prompts admitted together run in one pass (a prefill batch, apart from
        the answers being decoded, which would otherwise carry the long rest as padding); the
        rows then join the decoding batch.

        The prefix goes back into the prefix cache (unchanged: the row copies it), so the next
        prompt with the same prefix finds it too.
        """
        ids = prompt.input_ids[0].tolist()
        row.prefilled = Prefill(cache=None, token_ids=ids, reused=hit.length, logits=None)
        row.feed, row.prefilling = ids[hit.length :], True
        if tag not in self._prefill:
            self._prefill[tag] = BatchGroup(self.engine.model, self.window)
        row.group = self._prefill[tag]
        row.group.join([key_values(hit.cache)])
        self.engine.prefix_cache.store(tag, ids[: hit.length], prompt.image_keys, hit.cache)
        self._rows.append(row)

    def _shared_group(self, tag: str) -> BatchGroup:
        """The batch of the adapter state ``tag`` (made on first use)."""
        if tag not in self._shared:
            self._shared[tag] = BatchGroup(self.engine.model, self.window)
        return self._shared[tag]

    def _place(self, row: _Row, tag: str, cache: Any) -> None:
        """Put ``row`` in its adapter state's batch, or alone if its cache is too long to share.

        Runs right after the row's prefill: the prefix cache may hand the same cache object to
        the next request, so the row takes its key/values (or a copy) now.
        """
        length = len(row.decoder.sequence) - len(row.feed)
        shared = self._shared_group(tag)
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
                tag = self._prefill_tag(group)
                if tag is not None:
                    self._to_decoding(group, tag, [row for row in rows if row in self._rows])
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
            first = row.prefilling
            if first:
                row.prefilling = False
                row.started()
            else:
                row.decoder.forward_passes += 1
            if self._advance(row, row_logits, first=first):
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

    def _prefill_tag(self, group: BatchGroup) -> str | None:
        """The adapter state of ``group`` if it is a prefill batch, else None."""
        return next((tag for tag, prefill in self._prefill.items() if prefill is group), None)

    def _to_decoding(self, group: BatchGroup, tag: str, rows: list[_Row]) -> None:
        """Move the rows of a prefill batch (their prompts now in) to the decoding batch."""
        states = [group.extract(index) for index in range(group.size)]
        group.keep([])
        shared = self._shared_group(tag)
        for row, row_states in zip(rows, states, strict=True):
            length = len(row.decoder.sequence) - len(row.feed)
            if shared.fits(length, len(row.feed)):
                row.group = shared
            else:
                row.group = BatchGroup(self.engine.model, self.window, solo=True)
            row.group.join([row_states])

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
        seen: list[BatchGroup] = [*self._prefill.values(), *self._shared.values()]
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
            row.prefilled, row.prefill_s, time.perf_counter() - row.start
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
