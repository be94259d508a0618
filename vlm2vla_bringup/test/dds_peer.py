"""The far side of the DDS smoke test, run as a separate process.

Turns every received ``vlm2vla_msgs/ActionChunk`` into an ``interbotix_xs_msgs/JointGroupCommand``
(the chunk's translations flattened) and serves ``RobotInfo`` like the Interbotix driver does.
"""

import rclpy
from rclpy.node import Node

from interbotix_xs_msgs.msg import JointGroupCommand
from interbotix_xs_msgs.srv import RobotInfo
from vlm2vla_msgs.msg import ActionChunk

ARM_JOINTS = ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate"]


class Peer(Node):
    def __init__(self) -> None:
        super().__init__("dds_smoke_peer", namespace="wx250s")
        self.pub = self.create_publisher(JointGroupCommand, "commands/joint_group", 10)
        self.create_subscription(ActionChunk, "/smoke/action_chunk", self.on_chunk, 10)
        self.create_service(RobotInfo, "get_robot_info", self.on_info)

    def on_chunk(self, msg: ActionChunk) -> None:
        cmd = [v for t in msg.translations_m for v in (t.x, t.y, t.z)]
        self.pub.publish(JointGroupCommand(name=msg.subtask, cmd=cmd))

    def on_info(self, request: RobotInfo.Request, response: RobotInfo.Response):
        response.mode = "position"
        response.profile_type = "time"
        response.joint_names = ARM_JOINTS if request.name == "arm" else []
        response.num_joints = len(response.joint_names)
        response.name = [request.name]
        return response


def main() -> None:
    rclpy.init()
    node = Peer()
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
