"""Read messages of an MCAP bag (a rosbag2 directory or a single ``.mcap`` file) without ROS."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mcap.reader import make_reader


@dataclass(frozen=True)
class BagMessage:
    """One recorded message: serialized CDR ``data`` of ``type_name`` on ``topic``."""

    topic: str
    type_name: str  # pkg/msg/Type
    data: bytes  # CDR with its 4-byte encapsulation header, as published
    log_time_ns: int  # receive time, nanoseconds since epoch


def bag_files(path: str | Path) -> list[Path]:
    """The MCAP files of a bag: the file itself, or a directory's ``*.mcap`` in order."""
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.mcap"))
    if not files:
        raise FileNotFoundError(f"no .mcap file in {path}; pass a bag directory or an .mcap file")
    return files


def read_bag(
    path: str | Path, topics: list[str] | None = None, start_offset_s: float = 0.0
) -> Iterator[BagMessage]:
    """Yield the bag's messages in log-time order, optionally only ``topics``.

    ``start_offset_s`` skips the first seconds of the bag (measured from its first message).
    """
    first_ns: int | None = None
    for file in bag_files(path):
        with file.open("rb") as stream:
            reader = make_reader(stream)
            for schema, channel, message in reader.iter_messages(
                topics=topics, log_time_order=True
            ):
                if first_ns is None:
                    first_ns = message.log_time
                if message.log_time - first_ns < start_offset_s * 1e9:
                    continue
                type_name = schema.name if schema else ""
                yield BagMessage(channel.topic, type_name, message.data, message.log_time)


def bag_topics(path: str | Path) -> dict[str, str]:
    """Map each topic of the bag to its message type (``pkg/msg/Type``)."""
    topics: dict[str, str] = {}
    for file in bag_files(path):
        with file.open("rb") as stream:
            summary = make_reader(stream).get_summary()
            if summary is None:
                continue
            for channel in summary.channels.values():
                schema = summary.schemas.get(channel.schema_id)
                topics[channel.topic] = schema.name if schema else ""
    return topics
