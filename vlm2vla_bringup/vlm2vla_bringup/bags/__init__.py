"""``vlm2vla-bag``: the rclpy tools (``record``, ``play``) and the sample bag.

The files (rosbag2 layout, MCAP storage) are written and read by ``vlm2vla_policy.bags``, which
needs no ROS graph; ``record`` and ``play`` are the rclpy parts on top.
"""
