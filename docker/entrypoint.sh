#!/usr/bin/env bash
# Entrypoint of the vlm2vla images: set up ROS 2 and both workspaces, then run the command
# (default: ros2 launch vlm2vla_bringup robot.launch.py).
set -e
# shellcheck disable=SC1091
source /opt/vlm2vla/setup.bash
exec "$@"
