"""Launch the MuJoCo WidowX tabletop with policy and controller.

ros2 launch vlm2vla_bringup sim.launch.py --show-args
vlm2vla-launch sim --show-args          (the same graph without ros2 launch)
"""

from vlm2vla_bringup.launch_description import generate


def generate_launch_description():
    return generate("sim")
