# Source this file to use the workspace: `source scripts/env.sh`.
# Activates the venv, points ament/CMake at the ROS 2 wheels (or sources the system ROS 2), and
# overlays the colcon install space when it exists.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if _ros_setup="$(system_ros_setup)"; then
  # shellcheck disable=SC1090
  source "$_ros_setup"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
if [ -z "${_ros_setup:-}" ]; then
  export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
fi
if [ -f "$ROOT/install/local_setup.bash" ]; then
  # shellcheck disable=SC1091
  source "$ROOT/install/local_setup.bash"
  # Console scripts (vlm2vla-bag, vlm2vla-train, ...) live in install/<pkg>/lib/<pkg>, where
  # `ros2 run` looks; put them on PATH too, since the ros2 CLI is not always installed.
  for _bin in "$ROOT"/install/*/lib/vlm2vla_*; do
    [ -d "$_bin" ] && case ":$PATH:" in *":$_bin:"*) ;; *) PATH="$_bin:$PATH" ;; esac
  done
  export PATH
  unset _bin
fi
unset _ros_setup
