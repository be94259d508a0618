"""Read a bag (a rosbag2 directory or a single ``.mcap`` file) without ROS.

Topics with their types, QoS and message counts, the time range, and the messages as raw CDR or
decoded with the bags' typestore. Topics and counts come from each MCAP file's summary (a file
without one, e.g. cut short by a crash, is scanned). Types the typestore does not know are
registered from the schemas the bag stores. Times are nanoseconds since the epoch.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import yaml
from mcap.exceptions import EndOfFile, McapError
from mcap.reader import NonSeekingReader, make_reader
from mcap.records import Channel, Message, Schema
from mcap.summary import Summary
from rosbags.interfaces import Qos

from vlm2vla_policy.bags import msgtypes
from vlm2vla_policy.bags.qos import parse_offered_qos

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class TopicInfo:
    """One recorded topic."""

    name: str
    type_name: str  # pkg/msg/Type
    message_count: int
    offered_qos: tuple[Qos, ...]  # the publishers' profiles, as recorded
    type_hash: str  # RIHS01, or "" when the bag did not record it


@dataclass(frozen=True)
class BagMessage:
    """One recorded message: serialized CDR ``data`` of ``type_name`` on ``topic``."""

    topic: str
    type_name: str  # pkg/msg/Type
    data: bytes  # CDR with its 4-byte encapsulation header, as published
    log_time_ns: int  # receive time

    def decode(self) -> object:
        """The message as an object of the bags' typestore."""
        return msgtypes.deserialize(self.data, self.type_name)


def bag_files(path: str | Path) -> list[Path]:
    """The MCAP files of a bag: the file itself, or a directory's files in recording order."""
    path = Path(path)
    if path.is_file():
        return [path]
    metadata = path / "metadata.yaml"
    if metadata.is_file():
        info = yaml.safe_load(metadata.read_text())["rosbag2_bagfile_information"]
        if info.get("storage_identifier") != "mcap":
            raise ValueError(f"{path} is a {info.get('storage_identifier')} bag; only mcap is read")
        return [path / Path(name).name for name in info["relative_file_paths"]]
    files = sorted(path.glob("*.mcap"))
    if not files:
        raise FileNotFoundError(f"no .mcap file in {path}; pass a bag directory or an .mcap file")
    return files


def _summary(stream: BinaryIO) -> Summary | None:
    """The file's summary with statistics, or None (a file cut short has none: scan it)."""
    try:
        summary = make_reader(stream).get_summary()
    except (McapError, EndOfFile, ValueError):
        summary = None
    stream.seek(0)
    return summary if summary is not None and summary.statistics is not None else None


def _iter_file(
    stream: BinaryIO,
    summary: Summary | None,
    topics: list[str] | None = None,
    starting_at_ns: int | None = None,
) -> Iterator[tuple[Schema | None, Channel, Message]]:
    """The file's messages, in log-time order by its index (``summary``).

    A file cut short has no summary: its messages come in file order up to where it ends, then
    the error that says where it stopped.
    """
    if summary is None:
        reader = NonSeekingReader(stream)
        return reader.iter_messages(topics, starting_at=starting_at_ns, log_time_order=False)
    return make_reader(stream).iter_messages(topics, starting_at=starting_at_ns)


def _type_name(schema: Schema | None) -> str:
    """The schema's type, registered from the bag's definition when the typestore lacks it."""
    if schema is None:
        raise ValueError("a channel of this bag has no schema; it is not a rosbag2 bag")
    if schema.encoding == "ros2msg":
        return msgtypes.ensure_type(schema.name, schema.data.decode())
    return msgtypes.normalize_type(schema.name)


class BagReader:
    """A bag's topics and messages; each iteration opens the files afresh."""

    def __init__(self, path: str | Path) -> None:
        """Find the bag's MCAP files (raises FileNotFoundError when there are none)."""
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} does not exist; pass a bag directory or .mcap")
        self.files = bag_files(self.path)

    @cached_property
    def topics(self) -> dict[str, TopicInfo]:
        """Every topic of the bag, by name."""
        counts: dict[str, int] = {}
        channels: dict[str, tuple[Channel, Schema | None]] = {}
        for file in self.files:
            with file.open("rb") as stream:
                summary = _summary(stream)
                if summary is None:
                    for schema, channel, _ in _iter_file(stream, None):
                        channels.setdefault(channel.topic, (channel, schema))
                        counts[channel.topic] = counts.get(channel.topic, 0) + 1
                    continue
                for channel in summary.channels.values():
                    schema = summary.schemas.get(channel.schema_id)
                    channels.setdefault(channel.topic, (channel, schema))
                    count = summary.statistics.channel_message_counts.get(channel.id, 0)
                    counts[channel.topic] = counts.get(channel.topic, 0) + count
        return {
            topic: TopicInfo(
                topic,
                _type_name(schema),
                counts.get(topic, 0),
                parse_offered_qos(channel.metadata.get("offered_qos_profiles")),
                channel.metadata.get("topic_type_hash", ""),
            )
            for topic, (channel, schema) in channels.items()
        }

    @cached_property
    def time_range_ns(self) -> tuple[int, int]:
        """Log times of the first and the last message ((0, 0) for an empty bag)."""
        times = []
        for file in self.files:
            with file.open("rb") as stream:
                summary = _summary(stream)
                if summary is None:
                    times += [m.log_time for _, _, m in _iter_file(stream, None)]
                elif summary.statistics.message_count:
                    stats = summary.statistics
                    times += [stats.message_start_time, stats.message_end_time]
        return (min(times), max(times)) if times else (0, 0)

    @property
    def message_count(self) -> int:
        """Messages in the bag."""
        return sum(t.message_count for t in self.topics.values())

    def messages(
        self, topics: Iterable[str] | None = None, start_offset_s: float = 0.0
    ) -> Iterator[BagMessage]:
        """Yield the messages in log-time order (per file), optionally only ``topics``.

        ``start_offset_s`` skips the first seconds of the bag (from its first message).
        """
        wanted = None if topics is None else list(topics)
        start = None
        if start_offset_s:
            start = self.time_range_ns[0] + round(start_offset_s * _NS_PER_S)
        for file in self.files:
            with file.open("rb") as stream:
                names: dict[int, str] = {}
                for schema, channel, message in _iter_file(stream, _summary(stream), wanted, start):
                    if channel.schema_id not in names:
                        names[channel.schema_id] = _type_name(schema)
                    type_name = names[channel.schema_id]
                    yield BagMessage(channel.topic, type_name, message.data, message.log_time)

    def decoded(
        self, topics: Iterable[str] | None = None, start_offset_s: float = 0.0
    ) -> Iterator[tuple[BagMessage, object]]:
        """Like :meth:`messages`, each with its decoded message."""
        for message in self.messages(topics, start_offset_s):
            yield message, message.decode()


def read_bag(
    path: str | Path, topics: Iterable[str] | None = None, start_offset_s: float = 0.0
) -> Iterator[BagMessage]:
    """The messages of the bag at ``path`` (see :meth:`BagReader.messages`)."""
    return BagReader(path).messages(topics, start_offset_s)
