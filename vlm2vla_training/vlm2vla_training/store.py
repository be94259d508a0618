"""The normalised on-disk episode store that ``convert`` writes and later stages read.

Layout under the store root::

    store.json                          format version of the store
    episodes/<episode_id>/episode.json  instruction, fps, source, frame file names, metadata
    episodes/<episode_id>/arrays.npz    states (N, 7) and actions (N - 1, 7): m, rad, base frame
    episodes/<episode_id>/frames/       000000.jpg ... (the source's JPEG/PNG bytes, unchanged)
    sources.jsonl                       one line per fully converted source (for resuming)
    labels/<labeler>/<episode_id>.json  segments written by ``relabel``
    reports/<stage>.json                run reports

An episode directory appears atomically (written under a temporary name, then renamed), so a crash
never leaves a half-written episode that a rerun would mistake for a finished one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_training.episode import Episode, EpisodeError
from vlm2vla_training.frames import FileFrames, decode_image, image_suffix

STORE_VERSION = 1
_PARTIAL_PREFIX = ".partial-"


class EpisodeStore:
    """Reads and writes episodes, labels and reports under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.episodes_dir = self.root / "episodes"
        self.labels_root = self.root / "labels"
        self.reports_dir = self.root / "reports"

    def create(self) -> EpisodeStore:
        """Create the directories and the version file if they do not exist; return self."""
        self.episodes_dir.mkdir(parents=True, exist_ok=True)
        version_file = self.root / "store.json"
        if version_file.exists():
            self.check_version()
        else:
            version_file.write_text(json.dumps({"store_version": STORE_VERSION}) + "\n")
        return self

    def check_version(self) -> None:
        """Raise when the root is not a store of a version this code reads."""
        version_file = self.root / "store.json"
        if not version_file.is_file():
            raise FileNotFoundError(
                f"{self.root} is not an episode store (no store.json); create one with "
                "`vlm2vla-train convert`"
            )
        found = json.loads(version_file.read_text()).get("store_version")
        if found != STORE_VERSION:
            raise ValueError(
                f"{self.root} is a version {found} store; this code reads version {STORE_VERSION}"
                ": convert the data again into a new store"
            )

    # Episodes ------------------------------------------------------------------------------

    def episode_dir(self, episode_id: str) -> Path:
        """Directory of one episode."""
        return self.episodes_dir / episode_id

    def has_episode(self, episode_id: str) -> bool:
        """True when the episode was written completely."""
        return (self.episode_dir(episode_id) / "episode.json").is_file()

    def episode_ids(self) -> list[str]:
        """Ids of every complete episode, sorted."""
        if not self.episodes_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.episodes_dir.iterdir()
            if not p.name.startswith(_PARTIAL_PREFIX) and (p / "episode.json").is_file()
        )

    def write_episode(self, episode: Episode, verify_frames: bool = True) -> Path:
        """Write ``episode`` (replacing an older copy); return its directory.

        With ``verify_frames`` every frame is fully decoded first, so a truncated or corrupt image
        raises EpisodeError here instead of surprising a later stage.
        """
        final = self.episode_dir(episode.episode_id)
        partial = self.episodes_dir / f"{_PARTIAL_PREFIX}{episode.episode_id}"
        shutil.rmtree(partial, ignore_errors=True)
        (partial / "frames").mkdir(parents=True)
        try:
            names = []
            for index in range(len(episode.frames)):
                data = episode.frames.encoded(index)
                try:
                    name = f"{index:06d}{image_suffix(data)}"
                    if verify_frames:
                        decode_image(data)
                except (OSError, ValueError) as exc:
                    raise EpisodeError(
                        f"{episode.source}: frame {index} is unreadable ({exc})"
                    ) from None
                (partial / "frames" / name).write_bytes(data)
                names.append(name)
            np.savez(partial / "arrays.npz", states=episode.states, actions=episode.actions)
            record = {
                "episode_id": episode.episode_id,
                "source": episode.source,
                "instruction": episode.instruction,
                "fps": episode.fps,
                "num_steps": episode.num_steps,
                "action_source": episode.action_source,
                "frames": names,
                "metadata": dict(episode.metadata),
            }
            (partial / "episode.json").write_text(json.dumps(record, indent=1) + "\n")
            if final.exists():
                shutil.rmtree(final)
            partial.replace(final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return final

    def load_episode(self, episode_id: str) -> Episode:
        """The stored episode; frames stay on disk until asked for."""
        directory = self.episode_dir(episode_id)
        try:
            record = json.loads((directory / "episode.json").read_text())
            with np.load(directory / "arrays.npz") as arrays:
                states, actions = arrays["states"], arrays["actions"]
        except (OSError, ValueError, KeyError) as exc:
            raise EpisodeError(f"{directory}: stored episode unreadable ({exc})") from None
        return Episode(
            episode_id=record["episode_id"],
            source=record["source"],
            instruction=record["instruction"],
            fps=record["fps"],
            states=states,
            actions=actions,
            frames=FileFrames([directory / "frames" / name for name in record["frames"]]),
            action_source=record["action_source"],
            metadata=record.get("metadata", {}),
        )

    # Sources (resuming convert) --------------------------------------------------------------

    def done_sources(self, reader: str) -> set[str]:
        """Source ids of ``reader`` converted completely by earlier runs."""
        path = self.root / "sources.jsonl"
        if not path.is_file():
            return set()
        done = set()
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("reader") == reader:
                    done.add(row["source_id"])
        return done

    def mark_source_done(self, reader: str, source_id: str, episode_ids: Iterable[str]) -> None:
        """Record that every episode of a source is in the store."""
        row = {"reader": reader, "source_id": source_id, "episode_ids": list(episode_ids)}
        with (self.root / "sources.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    # Labels --------------------------------------------------------------------------------

    def labels_dir(self, labeler: str) -> Path:
        """Directory of one labeler's segment files."""
        return self.labels_root / labeler

    def label_path(self, labeler: str, episode_id: str) -> Path:
        """Segment file of one episode."""
        return self.labels_dir(labeler) / f"{episode_id}.json"

    def has_labels(self, labeler: str, episode_id: str) -> bool:
        """True when the labeler has written segments for the episode."""
        return self.label_path(labeler, episode_id).is_file()

    def write_labels(self, labeler: str, episode_id: str, record: dict[str, Any]) -> Path:
        """Write one episode's label record atomically; return the path."""
        path = self.label_path(labeler, episode_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{_PARTIAL_PREFIX}{path.name}")
        partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        partial.replace(path)
        return path

    def read_labels(self, labeler: str, episode_id: str) -> dict[str, Any]:
        """The label record of one episode (raises FileNotFoundError when there is none)."""
        return json.loads(self.label_path(labeler, episode_id).read_text(encoding="utf-8"))

    def report_path(self, stage: str) -> Path:
        """Where the report of a stage goes."""
        return self.reports_dir / f"{stage}.json"
