"""MCAP bags readable by ``ros2 bag play`` (rosbag2's default storage), written without rosbag2.

The file layer (``msgdefs``, ``writer``, ``reader``) needs no ROS graph; ``record`` and ``play``
are the rclpy tools on top (``vlm2vla-bag record|play``).
"""

from vlm2vla_bringup.bags.reader import BagMessage, read_bag
from vlm2vla_bringup.bags.writer import BagWriter

__all__ = ["BagMessage", "BagWriter", "read_bag"]
