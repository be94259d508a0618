# Shared settings of the workspace scripts (sourced, not executed).
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLM2VLA_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3.11}"
# The workspace's packages, given to colcon explicitly so it never crawls .venv or build outputs.
PACKAGE_PATHS=(vlm2vla_msgs vlm2vla_policy vlm2vla_bringup vlm2vla_training vlm2vla_sim vlm2vla_experiments compat)

# A system ROS 2 install (Jazzy or Humble under /opt/ros) wins over the PyPI wheels.
system_ros_setup() {
  local distro
  for distro in ${ROS_DISTRO:-} jazzy humble; do
    if [ -n "$distro" ] && [ -f "/opt/ros/$distro/setup.bash" ]; then
      echo "/opt/ros/$distro/setup.bash"
      return 0
    fi
  done
  return 1
}
