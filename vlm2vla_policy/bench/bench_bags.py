"""Benchmark bag writing and reading: vlm2vla_policy.bags against rosbags' writer and reader.

Both sides get the same inputs: --images 640x480 rgb8 ``sensor_msgs/Image`` messages (objects of
the typestore; a camera-like frame: smooth gradients, a block, sensor noise of 2 grey levels),
serialized by the typestore on both sides. Cases:

- write: ours (``BagWriter``) with none, zstd, lz4 chunk compression; rosbags' ``Writer`` with
  MCAP storage, uncompressed and zstd (storage compression, its only MCAP choice);
- read: each side reads and decodes the bag it wrote (ours: ``BagReader.decoded``; rosbags:
  ``Reader.messages`` + ``deserialize_cdr``).

Repetitions are interleaved (every case once per round, the order rotated each round) and each
figure is the median over --rounds. Each bag is deleted after it was read, so no case waits for
the writeback of another's. MB/s counts the raw image bytes (640 x 480 x 3 per image), also for
the compressed bags; size is the bag's size over those bytes. The load average is printed before
and after. Run from the repository root:

    python vlm2vla_policy/bench/bench_bags.py --images 100 --rounds 7 --out bench_bags.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer

from vlm2vla_policy.bags import BagReader, BagWriter, message_class
from vlm2vla_policy.bags.messages import rgb8_image
from vlm2vla_policy.bags.msgtypes import typestore

WIDTH, HEIGHT = 640, 480
IMAGE_BYTES = WIDTH * HEIGHT * 3
IMAGE = "sensor_msgs/msg/Image"
TOPIC = "/camera/image_raw"
CAMERA_RATE_MB_S = IMAGE_BYTES * 5 / 1e6  # one camera at 5 Hz


def camera_frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` distinct camera-like frames (HEIGHT x WIDTH x 3 uint8)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    scene = np.stack([x * 255 // WIDTH, y * 255 // HEIGHT, (x + y) * 255 // (WIDTH + HEIGHT)], -1)
    frames = []
    for i in range(count):
        frame = scene.astype(np.float64)
        top, left = 200 + i % 40, 250 + (3 * i) % 80
        frame[top : top + 80, left : left + 100] = (200, 30, 30)
        frames.append(np.clip(frame + rng.normal(0.0, 2.0, frame.shape), 0, 255).astype(np.uint8))
    return frames


def write_ours(path: Path, images: list, compression: str) -> None:
    with BagWriter(path, compression) as bag:
        bag.add_topic(TOPIC, IMAGE)
        for i, image in enumerate(images):
            bag.write(TOPIC, image, i)


def write_rosbags(path: Path, images: list, compressed: bool) -> None:
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    if compressed:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    store = typestore()
    with writer:
        connection = writer.add_connection(TOPIC, IMAGE, typestore=store)
        for i, image in enumerate(images):
            writer.write(connection, i, store.serialize_cdr(image, IMAGE))


def read_ours(path: Path) -> int:
    return sum(1 for _ in BagReader(path).decoded())


def read_rosbags(path: Path) -> int:
    store = typestore()
    count = 0
    with Reader(path) as reader:
        for connection, _, raw in reader.messages():
            store.deserialize_cdr(raw, connection.msgtype)
            count += 1
    return count


def bag_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("*.mcap"))


def run(images: int, rounds: int) -> dict:
    frames = camera_frames(min(images, 20))
    messages = [rgb8_image(frames[i % len(frames)], i) for i in range(images)]
    message_class(IMAGE)
    writes: dict[str, Callable[[Path], None]] = {
        "ours none": lambda p: write_ours(p, messages, "none"),
        "ours zstd": lambda p: write_ours(p, messages, "zstd"),
        "ours lz4": lambda p: write_ours(p, messages, "lz4"),
        "rosbags none": lambda p: write_rosbags(p, messages, compressed=False),
        "rosbags zstd": lambda p: write_rosbags(p, messages, compressed=True),
    }
    names = list(writes)
    write_s: dict[str, list[float]] = {name: [] for name in names}
    read_s: dict[str, list[float]] = {name: [] for name in names}
    sizes: dict[str, int] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(rounds):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for name in order:
                path = Path(tmp) / name.replace(" ", "_")
                start = time.perf_counter()
                writes[name](path)
                write_s[name].append(time.perf_counter() - start)
                sizes[name] = bag_size(path)
                reader = read_ours if name.startswith("ours") else read_rosbags
                start = time.perf_counter()
                count = reader(path)
                read_s[name].append(time.perf_counter() - start)
                shutil.rmtree(path)  # no bag waits for writeback while the next case runs
                if count != images:
                    raise RuntimeError(f"{name}: read {count} of {images} images")
    load_after = os.getloadavg()
    megabytes = images * IMAGE_BYTES / 1e6

    def figures(times: list[float]) -> dict[str, float]:
        median = statistics.median(times)
        return {"median_s": median, "mb_per_s": megabytes / median, "images_per_s": images / median}

    return {
        "images": images,
        "rounds": rounds,
        "image": f"{WIDTH}x{HEIGHT} rgb8",
        "camera_rate_mb_s": CAMERA_RATE_MB_S,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "versions": {p: metadata.version(p) for p in ("rosbags", "mcap", "zstandard", "lz4")},
        "cases": {
            name: {
                "write": figures(write_s[name]),
                "read": figures(read_s[name]),
                "size_ratio": sizes[name] / (images * IMAGE_BYTES),
            }
            for name in names
        },
    }


def print_table(result: dict) -> None:
    print(
        f"{result['images']} x {result['image']} images, median of {result['rounds']} rounds; "
        f"load average {result['load_average_before'][0]:.2f} before, "
        f"{result['load_average_after'][0]:.2f} after ({result['cpu_count']} CPUs)"
    )
    print(f"{'case':14s} {'write MB/s':>11s} {'write img/s':>12s} {'read MB/s':>10s} "
          f"{'read img/s':>11s} {'size':>6s}")  # fmt: skip
    for name, case in result["cases"].items():
        write, read = case["write"], case["read"]
        print(
            f"{name:14s} {write['mb_per_s']:11.0f} {write['images_per_s']:12.0f} "
            f"{read['mb_per_s']:10.0f} {read['images_per_s']:11.0f} {case['size_ratio']:6.2f}"
        )
    cases = result["cases"]
    ours, theirs = cases["ours none"]["write"], cases["rosbags none"]["write"]
    zstd = cases["ours zstd"]["write"]["mb_per_s"]
    print(
        f"uncompressed write, ours / rosbags: {ours['mb_per_s'] / theirs['mb_per_s']:.2f} x; "
        f"ours zstd / camera at 5 Hz ({result['camera_rate_mb_s']:.1f} MB/s): "
        f"{zstd / result['camera_rate_mb_s']:.0f} x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100, help="images per bag")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved repetitions")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    result = run(args.images, args.rounds)
    print_table(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
