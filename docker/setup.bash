# Environment of the vlm2vla images (sourced by the entrypoint, the health check and ~/.bashrc):
# ROS 2, then the Interbotix workspace, then this workspace; the venv is first on PATH (image ENV).
# shellcheck shell=bash
# shellcheck disable=SC1090,SC1091
source "/opt/ros/${ROS_DISTRO:?ROS_DISTRO is not set}/setup.bash"
if [ -f /opt/interbotix_ws/install/setup.bash ]; then
  source /opt/interbotix_ws/install/setup.bash
fi
source /opt/vlm2vla/install/setup.bash
# Console scripts (vlm2vla-train, vlm2vla-launch, vlm2vla-bag, vlm2vla-serve) live in
# install/<pkg>/lib/<pkg>, where `ros2 run` looks; put them on PATH too.
for _bin in /opt/vlm2vla/install/*/lib/vlm2vla_*; do
  case ":$PATH:" in *":$_bin:"*) ;; *) PATH="$_bin:$PATH" ;; esac
done
export PATH
unset _bin
