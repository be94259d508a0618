"""ROS 2 bags (rosbag2 Jazzy layout, MCAP storage) written and read without ROS.

Every writer and reader of the project goes through this package: ``vlm2vla-bag`` (its rclpy
``record`` and ``play`` live in vlm2vla_bringup and use this for the files), the simulator's
demonstration recorder, the synthetic training bags and ``vlm2vla-train convert --reader mcap``.

Design:

- Message definitions and CDR: rosbags' typestore (:mod:`.msgtypes`). It holds the Jazzy
  standard types and registers the project's from their ``.msg`` files, so there is one source
  of definitions. Its serializer writes exactly the message (``rclpy.serialize_message`` leaves
  uninitialised bytes after some messages, which strict readers reject), its RIHS01 hashes equal
  the ones the ROS interface packages install, and it decodes uint8 arrays as numpy arrays
  without copying element by element.
- Container: the ``mcap`` package's writer and reader, which do chunk compression with none,
  zstd or lz4 and an index for reading by topic and time. rosbags' own rosbag2 writer only offers
  zstd, and its MCAP writer neither records a type hash per channel nor lz4.
- QoS: each topic records its publishers' offered profiles (:mod:`.qos`), as rosbag2 Jazzy
  does, so a replayed latched instruction is latched again.
- Default compression zstd: what rosbag2's MCAP storage writes by default; it makes the
  simulator's rendered frames many times smaller (lz4 much less so, noisy camera frames hardly
  at all), and on the project's two-core machine, loaded by other work, it still writes camera
  frames far faster than one camera produces them (benchmark ``bench/bench_bags.py``, figures
  in ``docs/experiments.md``). ``lz4`` writes faster, for when recording competes with heavy
  CPU work; ``none`` is the fastest and largest.
"""

from vlm2vla_policy.bags.msgtypes import (
    UnknownMessageTypeError,
    deserialize,
    message_class,
    message_definition,
    serialize,
    type_hash,
)
from vlm2vla_policy.bags.qos import LATCHED, RELIABLE, SENSOR, STACK_TOPICS, STATUS
from vlm2vla_policy.bags.reader import BagMessage, BagReader, TopicInfo, read_bag
from vlm2vla_policy.bags.writer import COMPRESSIONS, DEFAULT_COMPRESSION, BagWriter

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_COMPRESSION",
    "LATCHED",
    "RELIABLE",
    "SENSOR",
    "STACK_TOPICS",
    "STATUS",
    "BagMessage",
    "BagReader",
    "BagWriter",
    "TopicInfo",
    "UnknownMessageTypeError",
    "deserialize",
    "message_class",
    "message_definition",
    "read_bag",
    "serialize",
    "type_hash",
]
