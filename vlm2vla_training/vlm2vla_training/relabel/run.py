"""The ``relabel`` stage: segments for every stored episode, resumably."""

from __future__ import annotations

import time

from tqdm import tqdm

from vlm2vla_training.episode import EpisodeError
from vlm2vla_training.relabel.base import Labeler, LabelerFatalError
from vlm2vla_training.report import RunReport
from vlm2vla_training.store import EpisodeStore


def relabel(
    store: EpisodeStore, labeler: Labeler, limit: int | None = None, progress: bool = True
) -> RunReport:
    """Label every episode of ``store`` that has no labels from ``labeler`` yet.

    Labels go to ``labels/<labeler.name>/<episode_id>.json``; an episode the labeler cannot label
    is skipped and reported; only :class:`LabelerFatalError` (e.g. a rejected API key) stops the
    run. ``limit`` caps the number of episodes labeled by this run. The report is written to
    ``reports/relabel-<name>.json`` and returned.
    """
    start = time.monotonic()
    store.check_version()
    report = RunReport("relabel", {"labeler": labeler.name, "store": str(store.root)})
    ids = store.episode_ids()
    for episode_id in tqdm(ids, desc=f"relabel {labeler.name}", unit="ep", disable=not progress):
        if store.has_labels(labeler.name, episode_id):
            report.already_done.append(episode_id)
            continue
        if limit is not None and len(report.done) + len(report.skipped) >= limit:
            break
        try:
            episode = store.load_episode(episode_id)
            segments = labeler.label(episode)
        except LabelerFatalError:
            raise
        except Exception as exc:  # one bad episode or answer must never end the run
            reason = str(exc) if isinstance(exc, EpisodeError) else f"{type(exc).__name__}: {exc}"
            report.skip(episode_id, str(store.episode_dir(episode_id)), reason)
            continue
        store.write_labels(
            labeler.name,
            episode_id,
            {
                "labeler": labeler.name,
                "episode_id": episode_id,
                "instruction": episode.instruction,
                "num_steps": episode.num_steps,
                "segments": [segment.to_dict() for segment in segments],
            },
        )
        report.done.append(episode_id)
    report.totals = labeler.totals()
    report.elapsed_s = time.monotonic() - start
    report.write(store.report_path(f"relabel-{labeler.name}"))
    return report
