#!/usr/bin/env bash
# colcon build of the workspace. The compat copy of interbotix_xs_msgs is skipped where the real
# Interbotix package is already on the ament path (a ROS install with the Interbotix workspace).
set -eo pipefail
source "$(dirname "$0")/env.sh"  # before `set -u`: ROS setup files use unset variables
set -u
cd "$ROOT"

skip=()
if "$VENV/bin/python" scripts/find_package.py interbotix_xs_msgs --exclude "$ROOT/install"; then
  echo "== real interbotix_xs_msgs found; not building compat/interbotix_xs_msgs"
  skip=(--packages-skip interbotix_xs_msgs)
fi
echo "== colcon build"
colcon build --symlink-install --base-paths "${PACKAGE_PATHS[@]}" "${skip[@]}" \
  --event-handlers console_cohesion- summary+ status- \
  --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python"
