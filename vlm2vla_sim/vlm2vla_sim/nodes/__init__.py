"""ROS 2 nodes of the simulator (the only modules of vlm2vla_sim that import rclpy)."""
