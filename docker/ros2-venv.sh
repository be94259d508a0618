#!/usr/bin/env bash
# `ros2` of the images, installed as /opt/vlm2vla/venv/bin/ros2 (first on PATH): the distro's ros2
# CLI run by the venv's Python, so launch files and the processes they import see the venv's
# packages (torch, transformers, modern_robotics, transforms3d) as well as the distro's.
exec /opt/vlm2vla/venv/bin/python "/opt/ros/${ROS_DISTRO:?ROS_DISTRO is not set}/bin/ros2" "$@"
