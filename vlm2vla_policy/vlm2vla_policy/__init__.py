"""VLM2VLA policy: action language, VLM runtime, WidowX control (ROS-free) and thin ROS 2 nodes."""
