"""LeRobot datasets, format v3.x (the current one) and v2.x, read without the lerobot package.

v3 packs many episodes per file: ``data/chunk-*/file-*.parquet`` rows carry ``episode_index``,
``meta/episodes/chunk-*/file-*.parquet`` says where each episode lies (data file, video file and its
start time), ``meta/tasks.parquet`` maps task strings to indices; videos are
``videos/<key>/chunk-*/file-*.mp4``. In v2 each episode is one parquet file
(``data/chunk-*/episode_*.parquet``) with tasks and episodes in ``meta/*.jsonl``. Rows are one per
observation: ``observation.state``, ``action``, ``frame_index``, ``task_index`` and, for image
features, a struct of PNG/JPEG ``bytes`` (or a ``path``). Videos are decoded with imageio's PyAV
plugin when ``av`` is installed. Bridge conversions have an 8-D state with a pad before the gripper;
it is mapped to Bridge's 7-D layout (see :class:`LeRobotConfig`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vlm2vla_training.episode import Episode, EpisodeError, recompute_actions, safe_episode_id
from vlm2vla_training.frames import EncodedFrames, encode_jpeg
from vlm2vla_training.readers.base import ReadOptions, Source, check_episode

NAME = "lerobot"
_DEFAULT_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
_V3_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
_V3_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"


@dataclass(frozen=True)
class LeRobotConfig:
    """Settings of the LeRobot reader."""

    # Column of the robot state.
    state_key: str = "observation.state"
    # Column of the commanded action (7-D [dx, dy, dz, droll, dpitch, dyaw, gripper]).
    action_key: str = "action"
    # Indices of [x, y, z, roll, pitch, yaw, gripper] in the state column; None = automatic:
    # a 7-D state as is, an 8-D state without its pad at index 6 (Bridge conversions).
    state_indices: tuple[int, ...] | None = None
    # JPEG quality of frames decoded from videos (1-95).
    jpeg_quality: int = 95


class VideoFrames:
    """Frames of one episode's video, decoded on first access (needs the ``av`` package)."""

    def __init__(self, path: Path, frame_indices: Sequence[int], jpeg_quality: int) -> None:
        self.path = path
        self.frame_indices = list(frame_indices)
        self.jpeg_quality = jpeg_quality

    def __len__(self) -> int:
        return len(self.frame_indices)

    @cached_property
    def _video(self) -> np.ndarray:
        try:
            import imageio.v3 as iio

            video = iio.imread(self.path, index=None, plugin="pyav")
        except ImportError:
            raise EpisodeError(
                f"{self.path}: decoding LeRobot videos needs PyAV: pip install av"
            ) from None
        except Exception as exc:  # any decoder failure makes this episode unusable
            raise EpisodeError(f"{self.path}: cannot decode video ({exc})") from None
        if len(video) <= max(self.frame_indices):
            raise EpisodeError(
                f"{self.path}: {len(video)} frames, the episode needs frame "
                f"{max(self.frame_indices)} (truncated video)"
            )
        return video

    def image(self, index: int) -> Image.Image:
        """Frame ``index`` of the episode, RGB."""
        return Image.fromarray(self._video[self.frame_indices[index]]).convert("RGB")

    def encoded(self, index: int) -> bytes:
        """Frame ``index`` as JPEG bytes."""
        return encode_jpeg(self._video[self.frame_indices[index]], self.jpeg_quality)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _read_parquet_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in paths:
        rows.extend(pq.read_table(path).to_pylist())
    return rows


class LeRobotReader:
    """Reads a LeRobot v3.x or v2.x dataset directory (the one holding ``meta/info.json``)."""

    name = NAME
    config_class = LeRobotConfig

    def __init__(
        self, root: Path, options: ReadOptions, config: LeRobotConfig | None = None
    ) -> None:
        self.root = Path(root)
        self.options = options
        self.config = config or LeRobotConfig()
        info_path = self.root / "meta" / "info.json"
        if not info_path.is_file():
            raise FileNotFoundError(f"{info_path} not found; pass a LeRobot dataset directory")
        self.info: dict[str, Any] = json.loads(info_path.read_text(encoding="utf-8"))
        version = str(self.info.get("codebase_version", "v2.0"))
        if not version.startswith(("v2", "v3")):
            raise ValueError(
                f"{self.root}: LeRobot format {version} is not supported (v3.x and v2.x are)"
            )
        self.v3 = version.startswith("v3")
        self.features: dict[str, Any] = self.info.get("features", {})
        if self.v3:
            task_rows = _read_parquet_rows([self.root / "meta" / "tasks.parquet"])
            episode_rows = _read_parquet_rows(
                sorted(self.root.glob("meta/episodes/chunk-*/file-*.parquet"))
            )
        else:
            task_rows = _read_jsonl(self.root / "meta" / "tasks.jsonl")
            episode_rows = _read_jsonl(self.root / "meta" / "episodes.jsonl")
        self.tasks = {
            int(row["task_index"]): str(row.get("task", row.get("__index_level_0__", "")))
            for row in task_rows
        }
        self.episodes_meta = {int(row["episode_index"]): row for row in episode_rows}
        self.episode_tasks = {
            index: [str(t) for t in row.get("tasks") or []]
            for index, row in self.episodes_meta.items()
        }

    @cached_property
    def camera_key(self) -> str:
        """The image or video feature read (ReadOptions.camera or the first one by name)."""
        visual = sorted(k for k, v in self.features.items() if v.get("dtype") in ("image", "video"))
        key = self.options.camera or (visual[0] if visual else None)
        if key is None or key not in visual:
            raise ValueError(
                f"{self.root}: camera {key!r} is not an image/video feature; choose one of {visual}"
            )
        return key

    @cached_property
    def episode_indices(self) -> list[int]:
        """Episode indices, from meta/episodes.jsonl or else the parquet file names."""
        if self.episode_tasks:
            indices = sorted(self.episode_tasks)
        else:
            indices = sorted(
                int(p.stem.removeprefix("episode_"))
                for p in self.root.glob("data/*/episode_*.parquet")
            )
        return indices[: self.options.limit] if self.options.limit else indices

    def count(self) -> int:
        """Number of episodes."""
        return len(self.episode_indices)

    def sources(self) -> Iterator[Source]:
        """One source per episode index."""
        for index in self.episode_indices:
            path = self._data_path(index)
            yield Source(f"episode_{index:06d}", str(path), partial(self.read, index))

    def _path(self, key: str, default: str, index: int, **extra: str) -> Path:
        template = self.info.get(key) or default
        chunk = index // int(self.info.get("chunks_size", 1000))
        return self.root / template.format(episode_chunk=chunk, episode_index=index, **extra)

    def _v3_path(self, key: str, default: str, prefix: str, index: int, **extra: str) -> Path:
        row = self.episodes_meta.get(index)
        if row is None or f"{prefix}/chunk_index" not in row:
            raise EpisodeError(f"{self.root}: meta/episodes has no {prefix} location of {index}")
        template = self.info.get(key) or default
        return self.root / template.format(
            chunk_index=int(row[f"{prefix}/chunk_index"]),
            file_index=int(row[f"{prefix}/file_index"]),
            **extra,
        )

    def _data_path(self, index: int) -> Path:
        if self.v3:
            return self._v3_path("data_path", _V3_DATA_PATH, "data", index)
        return self._path("data_path", _DEFAULT_DATA_PATH, index)

    def _table(self, index: int, path: Path) -> dict[str, list[Any]]:
        """The rows of episode ``index`` (v3 files hold several episodes), as columns."""
        import pyarrow.parquet as pq

        try:
            if self.v3:
                filters = [("episode_index", "=", index)]
                return pq.read_table(path, filters=filters).to_pydict()
            return pq.read_table(path).to_pydict()
        except Exception as exc:  # a truncated or corrupt parquet file is a bad episode
            raise EpisodeError(f"{path}: cannot read parquet ({exc})") from None

    def _state_indices(self, dim: int) -> list[int]:
        if self.config.state_indices is not None:
            return list(self.config.state_indices)
        if dim == 7:
            return list(range(7))
        if dim == 8:
            return [0, 1, 2, 3, 4, 5, 7]
        raise EpisodeError(
            f"{self.root}: {self.config.state_key} is {dim}-D; set LeRobotConfig.state_indices to "
            "the columns of [x, y, z, roll, pitch, yaw, gripper]"
        )

    def read(self, index: int) -> list[Episode]:
        """Read episode ``index``; raises EpisodeError for bad data."""
        path = self._data_path(index)
        if not path.is_file():
            raise EpisodeError(f"{path} is missing")
        table = self._table(index, path)
        if not table.get(self.config.state_key):
            raise EpisodeError(f"{path}: no rows of episode {index}")
        for key in (self.config.state_key, self.config.action_key):
            if key not in table:
                raise EpisodeError(f"{path}: no column {key!r}; columns are {sorted(table)}")
        raw_states = np.asarray(table[self.config.state_key], dtype=np.float64)
        if raw_states.ndim != 2:
            raise EpisodeError(f"{path}: {self.config.state_key} is not a list of vectors")
        states = raw_states[:, self._state_indices(raw_states.shape[1])]
        commanded = np.asarray(table[self.config.action_key], dtype=np.float64)
        if commanded.shape != (len(states), 7):
            raise EpisodeError(f"{path}: actions have shape {commanded.shape}, need (N, 7)")
        if self.options.actions.source == "raw":
            actions = commanded[:-1]
        else:
            actions = recompute_actions(
                states, commanded[:, 6], self.options.actions.gripper_threshold
            )
        episode = Episode(
            episode_id=safe_episode_id(f"{NAME}/{self.root.name}/episode_{index:06d}"),
            source=str(path),
            instruction=self._instruction(index, table),
            fps=float(self.info.get("fps", 5)),
            states=states,
            actions=actions,
            frames=self._frames(index, table, path),
            action_source=self.options.actions.source,
            metadata={"camera": self.camera_key},
        )
        return [check_episode(episode, self.options)]

    def _instruction(self, index: int, table: dict[str, list[Any]]) -> str:
        task_indices = table.get("task_index")
        if task_indices and int(task_indices[0]) in self.tasks:
            return self.tasks[int(task_indices[0])].strip()
        tasks = self.episode_tasks.get(index, [])
        return tasks[0].strip() if tasks else ""

    def _frames(self, index: int, table: dict[str, list[Any]], path: Path) -> Any:
        key = self.camera_key
        if self.features[key]["dtype"] == "video":
            frame_indices = table.get("frame_index") or list(
                range(len(table[self.config.state_key]))
            )
            offset = 0
            if self.v3:  # the episode starts at from_timestamp in a shared video file
                video = self._v3_path("video_path", _V3_VIDEO_PATH, f"videos/{key}", index,
                                      video_key=key)  # fmt: skip
                start_s = float(self.episodes_meta[index].get(f"videos/{key}/from_timestamp", 0))
                offset = round(start_s * float(self.info.get("fps", 5)))
            else:
                video = self._path("video_path", "", index, video_key=key)
            frames = [offset + int(i) for i in frame_indices]
            return VideoFrames(video, frames, self.config.jpeg_quality)
        if key not in table:
            raise EpisodeError(f"{path}: no column {key!r} for image feature {key}")
        blobs = []
        for cell in table[key]:
            data = cell.get("bytes") if isinstance(cell, dict) else cell
            if not data and isinstance(cell, dict) and cell.get("path"):
                data = (self.root / cell["path"]).read_bytes()
            if not isinstance(data, bytes) or not data:
                raise EpisodeError(f"{path}: an image cell of {key!r} holds no bytes")
            blobs.append(data)
        return EncodedFrames(blobs)
