"""The ``build`` stage: labeled episodes -> samples -> a Hugging Face ``datasets`` dataset.

Output layout under the output directory::

    build_config.json   the settings the shards were built with (a rerun must match them)
    shards/<id>.arrow   one Arrow stream file of rows per episode (resuming skips episodes that
                        have one; the final dataset memory-maps them, so memory stays flat)
    dataset/            DatasetDict {"train", "eval"} (``datasets.load_from_disk``)
    build_info.json     format version, language config, split episode ids, counts

Rows: ``episode_id``, ``stage``, ``frames`` (indices of the images), ``messages`` (the prompt and
the answer as a chat, TRL's SFT format, with image placeholders), ``images`` (the frames, JPEG/PNG
bytes decoded to PIL on access), ``answer`` and ``info`` (JSON). The split is by episode: an
episode's samples are all in train or all in eval. The same store, labels, config and seed give
the same dataset.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shutil
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vlm2vla_policy.settings import nonempty, section, setting, validate
from vlm2vla_training.built_dataset import DATASET_DIR, SPLITS, write_build_info
from vlm2vla_training.episode import Episode, EpisodeError
from vlm2vla_training.relabel.segments import segments_from_dicts
from vlm2vla_training.report import RunReport
from vlm2vla_training.samples import Sample, SampleBuilder, SampleConfig
from vlm2vla_training.store import EpisodeStore


@dataclass(frozen=True)
class BuildConfig:
    """Settings of the build stage."""

    labels: str = setting(
        "heuristic",
        "whose segments to use: a labeler name under labels/ of the store (heuristic, teacher)",
        check=nonempty,
    )
    seed: int = setting(0, "seed of the episode split and of the verification negatives")
    eval_fraction: float = setting(
        0.1,
        "fraction of episodes held out for eval (at least one when > 0 and there are >= 2)",
        low=0.0,
        below=1.0,
    )
    samples: SampleConfig = section(SampleConfig, "what samples each episode gives")

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready), the language config with its format version."""
        data = dataclasses.asdict(self)
        data["samples"]["language"] = self.samples.language.to_dict()
        data["samples"]["stages"] = list(self.samples.stages)
        return data


def features() -> Any:
    """The ``datasets.Features`` of a sample row."""
    from datasets import Features, Image, List, Value

    content = {"type": Value("string"), "text": Value("string")}
    return Features(
        {
            "episode_id": Value("string"),
            "stage": Value("string"),
            "frames": List(Value("int32")),
            "messages": List({"role": Value("string"), "content": List(content)}),
            "images": List(Image()),
            "answer": Value("string"),
            "info": Value("string"),
        }
    )


def split_episodes(episode_ids: list[str], seed: int, eval_fraction: float) -> dict[str, list[str]]:
    """Episode ids per split: ordered by a seeded hash, the first ``eval_fraction`` go to eval."""
    ranked = sorted(episode_ids, key=lambda e: hashlib.sha256(f"{seed}:{e}".encode()).hexdigest())
    n_eval = round(eval_fraction * len(ranked))
    if eval_fraction > 0 and len(ranked) >= 2:
        n_eval = min(max(n_eval, 1), len(ranked) - 1)
    return {"train": sorted(ranked[n_eval:]), "eval": sorted(ranked[:n_eval])}


def sample_rows(episode: Episode, samples: list[Sample]) -> list[dict[str, Any]]:
    """Dataset rows of ``samples``; images are the episode's encoded frames, not re-encoded."""
    encoded: dict[int, bytes] = {}
    rows = []
    for sample in samples:
        images = []
        for index in sample.frames:
            if index not in encoded:
                encoded[index] = episode.frames.encoded(index)
            images.append({"bytes": encoded[index], "path": None})
        rows.append(
            {
                "episode_id": sample.episode_id,
                "stage": sample.stage,
                "frames": list(sample.frames),
                "messages": sample.example.conversation(),
                "images": images,
                "answer": sample.example.answer,
                "info": json.dumps(sample.info, sort_keys=True),
            }
        )
    return rows


def episode_rng(seed: int, episode_id: str) -> np.random.Generator:
    """Random generator of one episode: fixed by the seed and the id, independent of order."""
    return np.random.default_rng([seed, zlib.crc32(episode_id.encode())])


def _check_config(out_dir: Path, config: BuildConfig) -> None:
    path = out_dir / "build_config.json"
    wanted = config.to_dict()
    if path.is_file():
        found = json.loads(path.read_text())
        if found != wanted:
            raise ValueError(
                f"{out_dir} was built with other settings ({path}); build into a new --out "
                "directory, or delete that one to rebuild"
            )
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(wanted, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence the per-shard "Saving the dataset" bars of ``datasets`` (ours shows progress)."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def build(
    store: EpisodeStore, out_dir: Path, config: BuildConfig, progress: bool = True
) -> RunReport:
    """Build the dataset of every labeled episode of ``store`` into ``out_dir``.

    Episodes without labels or with unusable ones are skipped and reported; episodes whose shard
    exists are not rebuilt. Returns the report (also written to ``out_dir/build_report.json``),
    whose totals hold samples per stage and split and the throughput in examples per second.
    """
    with _quiet_datasets():
        return _build(store, Path(out_dir), config, progress)


def _build(store: EpisodeStore, out_dir: Path, config: BuildConfig, progress: bool) -> RunReport:
    start = time.monotonic()
    store.check_version()
    _check_config(out_dir, config)
    report = RunReport("build", {"store": str(store.root), "out": str(out_dir), **config.to_dict()})
    builder = SampleBuilder(config.samples)
    built_rows = _build_shards(
        store, out_dir / "shards", config=config, builder=builder, report=report, progress=progress
    )
    ready = [e for e in store.episode_ids() if _shard_path(out_dir / "shards", e).is_file()]
    splits = split_episodes(ready, config.seed, config.eval_fraction)
    counts = _assemble(out_dir, splits)
    elapsed = time.monotonic() - start
    report.elapsed_s = elapsed
    report.totals = {
        "samples": counts,
        "episodes": {name: len(splits[name]) for name in SPLITS},
        "rows_built_this_run": built_rows,
        "examples_per_s": round(built_rows / elapsed, 1) if elapsed > 0 else 0.0,
        "dropped": dict(builder.dropped),
        "labeled_plans": dict(builder.plan_checks),  # agreement with their chunks
    }
    write_build_info(out_dir, config.samples.language, config.to_dict(), splits, counts)
    report.write(out_dir / "build_report.json")
    return report


def write_shard(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as one Arrow stream file (what ``Dataset.from_file`` reads), atomically."""
    import pyarrow as pa

    schema = features().arrow_schema
    table = pa.Table.from_pylist(rows, schema=schema)
    partial = path.with_name(f".partial-{path.name}")
    with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table)
    partial.replace(path)


def _shard_path(shards: Path, episode_id: str) -> Path:
    return shards / f"{episode_id}.arrow"


def _build_shards(
    store: EpisodeStore,
    shards: Path,
    *,
    config: BuildConfig,
    builder: SampleBuilder,
    report: RunReport,
    progress: bool,
) -> int:
    """Write one shard per labeled episode that has none yet; return the rows written."""
    shards.mkdir(exist_ok=True)
    built_rows = 0
    for episode_id in tqdm(store.episode_ids(), desc="build", unit="ep", disable=not progress):
        shard = _shard_path(shards, episode_id)
        if shard.is_file():
            report.already_done.append(episode_id)
            continue
        if not store.has_labels(config.labels, episode_id):
            reason = f"no {config.labels!r} labels; run `vlm2vla-train relabel` first"
            report.skip(episode_id, str(store.episode_dir(episode_id)), reason)
            continue
        try:
            episode = store.load_episode(episode_id)
            segments = segments_from_dicts(store.read_labels(config.labels, episode_id)["segments"])
            samples = builder.build(episode, segments, episode_rng(config.seed, episode_id))
            if not samples:
                raise EpisodeError(f"{episode_id}: no sample could be built")
            rows = sample_rows(episode, samples)
        except Exception as exc:  # one bad episode must never end the run
            reason = str(exc) if isinstance(exc, (EpisodeError, ValueError)) else repr(exc)
            report.skip(episode_id, str(store.episode_dir(episode_id)), reason)
            continue
        write_shard(shard, rows)
        built_rows += len(rows)
        report.done.append(episode_id)
    return built_rows


def _assemble(out_dir: Path, splits: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """Concatenate the shards of each split into ``out_dir/dataset``; return stage counts."""
    from datasets import Dataset, DatasetDict, DatasetInfo, concatenate_datasets

    info = DatasetInfo(features=features())
    parts = {}
    for name in SPLITS:
        pieces = [
            Dataset.from_file(str(_shard_path(out_dir / "shards", e)), info=info)
            for e in splits[name]
        ]
        parts[name] = (
            concatenate_datasets(pieces) if pieces else Dataset.from_list([], features=features())
        )
    final, partial = out_dir / DATASET_DIR, out_dir / ".partial-dataset"
    shutil.rmtree(partial, ignore_errors=True)
    DatasetDict(parts).save_to_disk(str(partial))
    shutil.rmtree(final, ignore_errors=True)
    partial.replace(final)
    return {name: dict(sorted(Counter(parts[name]["stage"]).items())) for name in SPLITS}
