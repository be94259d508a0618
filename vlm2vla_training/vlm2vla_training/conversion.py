"""The ``convert`` stage: a reader's episodes into the normalised episode store, resumably."""

from __future__ import annotations

import time
from typing import Any

from tqdm import tqdm

from vlm2vla_training.episode import Episode, EpisodeError
from vlm2vla_training.readers.base import Reader, ReaderUnavailableError
from vlm2vla_training.report import RunReport
from vlm2vla_training.store import EpisodeStore


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, EpisodeError) else f"{type(exc).__name__}: {exc}"


def convert(
    reader: Reader,
    store: EpisodeStore,
    settings: dict[str, Any] | None = None,
    verify_frames: bool = True,
    progress: bool = True,
) -> RunReport:
    """Write every episode of ``reader`` into ``store``; skip and report bad ones.

    Sources converted completely by an earlier run are not read again, and episodes already in
    the store are not rewritten. A source with a bad episode is retried by the next run. Only a
    missing optional dependency (:class:`ReaderUnavailableError`) stops the run. The report is
    written to ``reports/convert-<reader>.json`` of the store and returned.
    """
    start = time.monotonic()
    store.create()
    report = RunReport("convert", dict(settings or {}, reader=reader.name))
    done = store.done_sources(reader.name)
    with tqdm(
        total=reader.count(), desc=f"convert {reader.name}", unit="src", disable=not progress
    ) as bar:
        for source in reader.sources():
            bar.update(1)
            if source.source_id in done:
                report.already_done.append(source.source_id)
                continue
            try:
                results = source.load()
            except ReaderUnavailableError:
                raise
            except Exception as exc:  # bad data of one source must never end the run
                report.skip(source.source_id, source.location, _reason(exc))
                continue
            written = [
                episode_id
                for item in results
                if (episode_id := _store_one(item, source.location, store, report, verify_frames))
            ]
            if len(written) == len(results):
                store.mark_source_done(reader.name, source.source_id, written)
            bar.set_postfix(done=len(report.done), skipped=len(report.skipped))
    report.elapsed_s = time.monotonic() - start
    report.totals = {"episodes_in_store": len(store.episode_ids())}
    report.write(store.report_path(f"convert-{reader.name}"))
    return report


def _store_one(
    item: Episode | EpisodeError,
    location: str,
    store: EpisodeStore,
    report: RunReport,
    verify_frames: bool,
) -> str | None:
    """Write one read result; return its id, or None (and record why) when it is bad."""
    if isinstance(item, EpisodeError):
        report.skip(location, location, str(item))
        return None
    if store.has_episode(item.episode_id):
        report.already_done.append(item.episode_id)
        return item.episode_id
    try:
        store.write_episode(item, verify_frames=verify_frames)
    except Exception as exc:  # unreadable frames etc.: skip this episode, keep going
        report.skip(item.episode_id, item.source, _reason(exc))
        return None
    report.done.append(item.episode_id)
    return item.episode_id
