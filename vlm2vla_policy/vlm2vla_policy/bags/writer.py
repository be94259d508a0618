"""Write a rosbag2 (Jazzy) MCAP bag: ``<dir>/<dir>_0.mcap`` plus ``metadata.yaml``.

As rosbag2's MCAP storage writes it: profile ``ros2``, one ``ros2msg`` schema per type
(:func:`~vlm2vla_policy.bags.msgtypes.message_definition`), one ``cdr`` channel per topic with
``offered_qos_profiles`` and ``topic_type_hash`` (RIHS01) in its metadata, a ``rosbag2`` metadata
record, and ``metadata.yaml`` version 9. ``ros2 bag play|info`` read it on a ROS install.

Compression is per MCAP chunk (:data:`COMPRESSIONS`; ``metadata.yaml`` says none, as rosbag2 does
for storage-level compression). Compressed chunks carry their CRC; uncompressed ones skip it
(rosbags' writer computes none either), since the CRC would cost more than writing the chunk.
Times are nanoseconds since the epoch.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import TracebackType

import yaml
from mcap.writer import CompressionType, Writer
from rosbags.interfaces import Qos

from vlm2vla_policy.bags import msgtypes
from vlm2vla_policy.bags.qos import qos_list, qos_yaml

METADATA_VERSION = 9  # rosbag2 Jazzy's metadata version: QoS policies by name
STORAGE = "mcap"
COMPRESSIONS = {
    "none": CompressionType.NONE,
    "zstd": CompressionType.ZSTD,
    "lz4": CompressionType.LZ4,
}
DEFAULT_COMPRESSION = "zstd"  # why: see the package docstring
CHUNK_SIZE_BYTES = 1024 * 1024  # a chunk is closed once it holds more than this (uncompressed)


@dataclass
class _Topic:
    name: str
    type_name: str
    channel_id: int
    offered_qos: tuple[Qos, ...]
    count: int = 0


class BagWriter:
    """Append messages to a new bag directory; use as a context manager.

    ``path`` must not exist yet (like ``ros2 bag record -o``). ``compression`` is one of
    :data:`COMPRESSIONS` (``vlm2vla-bag --compression``).
    """

    def __init__(self, path: str | Path, compression: str = DEFAULT_COMPRESSION) -> None:
        """Create the bag directory and open its MCAP file."""
        if compression not in COMPRESSIONS:
            raise ValueError(
                f"compression must be one of {', '.join(COMPRESSIONS)} (--compression), "
                f"got {compression!r}"
            )
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} already exists; choose another output path")
        self.path.mkdir(parents=True)
        self.compression = compression
        self.file_name = f"{self.path.name}_0.mcap"
        self._stream = (self.path / self.file_name).open("wb")
        self._writer = Writer(
            self._stream,
            chunk_size=CHUNK_SIZE_BYTES,
            compression=COMPRESSIONS[compression],
            enable_crcs=compression != "none",
        )
        self._writer.start(profile="ros2", library=f"vlm2vla_policy.bags mcap-{version('mcap')}")
        self._schemas: dict[str, int] = {}
        self._topics: dict[str, _Topic] = {}
        self._first_ns: int | None = None
        self._last_ns = 0

    def add_topic(self, topic: str, type_name: str, offered_qos: Qos | Sequence[Qos] = ()) -> None:
        """Declare ``topic`` of ``type_name`` with the QoS profile(s) its publishers offered."""
        type_name = msgtypes.ensure_type(type_name)
        if topic in self._topics:
            if self._topics[topic].type_name != type_name:
                raise ValueError(
                    f"topic {topic} already recorded as {self._topics[topic].type_name}"
                )
            return
        profiles = (offered_qos,) if isinstance(offered_qos, Qos) else tuple(offered_qos)
        if type_name not in self._schemas:
            definition = msgtypes.message_definition(type_name).encode()
            self._schemas[type_name] = self._writer.register_schema(
                type_name, "ros2msg", definition
            )
        channel = self._writer.register_channel(
            topic,
            "cdr",
            self._schemas[type_name],
            {
                "offered_qos_profiles": qos_yaml(profiles),
                "topic_type_hash": msgtypes.type_hash(type_name),
            },
        )
        self._topics[topic] = _Topic(topic, type_name, channel, profiles)

    def write(self, topic: str, message: bytes | memoryview | object, log_time_ns: int) -> None:
        """Append one message of a declared topic, received at ``log_time_ns``.

        ``message`` is either its CDR bytes as they came off the wire (a raw subscription), or a
        message object of the bags' typestore (:func:`~vlm2vla_policy.bags.message_class`).
        """
        entry = self._topics.get(topic)
        if entry is None:
            raise KeyError(f"topic {topic} was not declared; call add_topic first")
        if isinstance(message, (bytes, bytearray, memoryview)):
            data = message
        elif getattr(message, "__msgtype__", entry.type_name) != entry.type_name:
            raise TypeError(f"topic {topic} records {entry.type_name}, not {message.__msgtype__}")
        else:
            data = msgtypes.serialize(message)
        self._writer.add_message(entry.channel_id, log_time_ns, data, log_time_ns, entry.count)
        entry.count += 1
        self._first_ns = log_time_ns if self._first_ns is None else min(self._first_ns, log_time_ns)
        self._last_ns = max(self._last_ns, log_time_ns)

    @property
    def message_count(self) -> int:
        """Messages written so far."""
        return sum(t.count for t in self._topics.values())

    def close(self) -> None:
        """Finish the MCAP file and write ``metadata.yaml``."""
        info = self._metadata()
        self._writer.add_metadata(
            "rosbag2", {"serialized_metadata": yaml.safe_dump(info, sort_keys=False)}
        )
        self._writer.finish()
        self._stream.close()
        document = {"rosbag2_bagfile_information": info}
        (self.path / "metadata.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    def _metadata(self) -> dict:
        start = self._first_ns or 0
        span_ns = max(0, self._last_ns - start)
        topics = [
            {
                "topic_metadata": {
                    "name": t.name,
                    "type": t.type_name,
                    "serialization_format": "cdr",
                    "offered_qos_profiles": qos_list(t.offered_qos),
                    "type_description_hash": msgtypes.type_hash(t.type_name),
                },
                "message_count": t.count,
            }
            for t in self._topics.values()
        ]
        return {
            "version": METADATA_VERSION,
            "storage_identifier": STORAGE,
            "duration": {"nanoseconds": span_ns},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": self.message_count,
            "topics_with_message_count": topics,
            "compression_format": "",
            "compression_mode": "",
            "relative_file_paths": [self.file_name],
            "files": [
                {
                    "path": self.file_name,
                    "starting_time": {"nanoseconds_since_epoch": start},
                    "duration": {"nanoseconds": span_ns},
                    "message_count": self.message_count,
                }
            ],
            "custom_data": None,
            "ros_distro": "jazzy",
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
