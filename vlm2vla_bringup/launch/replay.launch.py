"""Launch a bag as camera and instruction source; controller in dry-run.

ros2 launch vlm2vla_bringup replay.launch.py --show-args
vlm2vla-launch replay --show-args          (the same graph without ros2 launch)
"""

from vlm2vla_bringup.launch_description import generate


def generate_launch_description():
    return generate("replay")
