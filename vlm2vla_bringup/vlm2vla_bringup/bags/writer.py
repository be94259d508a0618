"""Write a rosbag2-compatible MCAP bag: ``<dir>/<dir>_0.mcap`` plus ``metadata.yaml``.

Messages are stored as serialized CDR with the ``ros2`` MCAP profile and ``ros2msg`` schemas, as
rosbag2's MCAP storage does, so ``ros2 bag play <dir>`` and ``ros2 bag info`` read it on a ROS
install, and this package's ``vlm2vla-bag play`` reads it here.
"""

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import yaml
from mcap.writer import CompressionType, Writer

from vlm2vla_bringup.bags.msgdefs import message_definition, normalize_type, type_hash

METADATA_VERSION = 8  # rosbag2 Jazzy reads 1..9; 8 adds per-topic type hashes
STORAGE = "mcap"


@dataclass
class _Topic:
    name: str
    type_name: str
    channel_id: int
    offered_qos: str
    count: int = 0


class BagWriter:
    """Append serialized messages to a new bag directory; use as a context manager.

    ``path`` must not exist yet (like ``ros2 bag record -o``). Times are nanoseconds since epoch.
    """

    def __init__(self, path: str | Path) -> None:
        """Create the bag directory and open its MCAP file."""
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} already exists; choose another output path")
        self.path.mkdir(parents=True)
        self.file_name = f"{self.path.name}_0.mcap"
        self._stream = (self.path / self.file_name).open("wb")
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="vlm2vla_bringup")
        self._schemas: dict[str, int] = {}
        self._topics: dict[str, _Topic] = {}
        self._first_ns: int | None = None
        self._last_ns = 0

    def add_topic(self, topic: str, type_name: str, offered_qos: str = "") -> None:
        """Declare ``topic`` of ``type_name`` (``pkg/msg/Type``); ``offered_qos``: rosbag2 YAML."""
        type_name = normalize_type(type_name)
        if topic in self._topics:
            if self._topics[topic].type_name != type_name:
                raise ValueError(
                    f"topic {topic} already recorded as {self._topics[topic].type_name}"
                )
            return
        if type_name not in self._schemas:
            self._schemas[type_name] = self._writer.register_schema(
                type_name, "ros2msg", message_definition(type_name).encode()
            )
        channel = self._writer.register_channel(
            topic,
            "cdr",
            self._schemas[type_name],
            {"offered_qos_profiles": offered_qos, "topic_type_hash": type_hash(type_name)},
        )
        self._topics[topic] = _Topic(topic, type_name, channel, offered_qos)

    def write(self, topic: str, data: bytes, log_time_ns: int) -> None:
        """Append one serialized (CDR) message of a declared topic, received at ``log_time_ns``."""
        entry = self._topics.get(topic)
        if entry is None:
            raise KeyError(f"topic {topic} was not declared; call add_topic first")
        self._writer.add_message(entry.channel_id, log_time_ns, data, log_time_ns, entry.count)
        entry.count += 1
        self._first_ns = log_time_ns if self._first_ns is None else min(self._first_ns, log_time_ns)
        self._last_ns = max(self._last_ns, log_time_ns)

    def close(self) -> None:
        """Finish the MCAP file and write ``metadata.yaml``."""
        self._writer.finish()
        self._stream.close()
        (self.path / "metadata.yaml").write_text(yaml.safe_dump(self._metadata(), sort_keys=False))

    def _metadata(self) -> dict:
        start = self._first_ns or 0
        span_ns = max(0, self._last_ns - start)
        count = sum(t.count for t in self._topics.values())
        topics = [
            {
                "topic_metadata": {
                    "name": t.name,
                    "type": t.type_name,
                    "serialization_format": "cdr",
                    "offered_qos_profiles": t.offered_qos,
                    "type_description_hash": type_hash(t.type_name),
                },
                "message_count": t.count,
            }
            for t in self._topics.values()
        ]
        return {
            "rosbag2_bagfile_information": {
                "version": METADATA_VERSION,
                "storage_identifier": STORAGE,
                "duration": {"nanoseconds": span_ns},
                "starting_time": {"nanoseconds_since_epoch": start},
                "message_count": count,
                "topics_with_message_count": topics,
                "compression_format": "",
                "compression_mode": "",
                "relative_file_paths": [self.file_name],
                "files": [
                    {
                        "path": self.file_name,
                        "starting_time": {"nanoseconds_since_epoch": start},
                        "duration": {"nanoseconds": span_ns},
                        "message_count": count,
                    }
                ],
                "custom_data": {},
                "ros_distro": "jazzy",
            }
        }

    def __enter__(self) -> "BagWriter":
        """Return the writer."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the bag, also on error (what was written stays readable)."""
        self.close()
