"""Launch the real WidowX 250s: Interbotix driver (when installed), policy and controller.

ros2 launch vlm2vla_bringup robot.launch.py --show-args
vlm2vla-launch robot --show-args          (the same graph without ros2 launch)
"""

from vlm2vla_bringup.launch_description import generate


def generate_launch_description():
    return generate("robot")
