"""Benchmarks of the running graph (real processes, real DDS), printed as a table and JSON.

1. Controller timing at 5 Hz: the period between JointGroupCommands received by a subscriber
   (fake driver + controller_node), error against the nominal 0.2 s, p50/p99.
2. Policy node: latency from publishing an instruction to the first JointGroupCommand, and the
   node's overhead: a cycle's wall time without the robot's execution time, divided by the time
   spent inside the Policy calls of that cycle (plan + chunk + verify), both from PolicyStatus.
   1.0 means the node adds nothing to the model's time.

    python vlm2vla_bringup/bench/bench_graph.py --out graph.json [--model DIR] [--cycles 10]
Without --model a tiny random Gemma-3 is built in a temporary directory.
"""

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from geometry_msgs.msg import Vector3
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String

from interbotix_xs_msgs.msg import JointGroupCommand
from vlm2vla_bringup.bags.sample import CAMERA_TOPIC, write_sample_bag
from vlm2vla_msgs.action import ExecuteChunk
from vlm2vla_msgs.msg import ActionChunk, PolicyStatus
from vlm2vla_policy.nodes.action_client import ThreadSafeActionClient
from vlm2vla_policy.nodes.qos import LATCHED, STATUS
from vlm2vla_policy.processes import ros_executable, stop_process
from vlm2vla_policy.testing.lease import LeaseHeartbeat, new_goal_id


def start(package: str, executable: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [ros_executable(package, executable), "--ros-args", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def controller_timing(node: Node, commands: list[float], seconds: float) -> dict:
    """Send one long chunk, heartbeating its lease as policy_node does; measure the period."""
    client = ThreadSafeActionClient(node, ExecuteChunk, "/controller_node/execute_chunk")
    heartbeat = LeaseHeartbeat(node)
    assert wait_until(heartbeat.matched, 30.0), "controller_node does not read chunk_steps"
    assert client.wait_for_server(timeout_sec=30.0), "controller_node did not come up"
    steps = int(seconds / 0.2 / 2)
    chunk = ActionChunk(
        translations_m=[Vector3(x=0.0, y=0.02 * (-1) ** (i // 2), z=0.0) for i in range(steps)],
        gripper=[1.0] * steps,
    )
    commands.clear()
    goal_id = heartbeat.hold(new_goal_id())
    goal = client.send_goal_async(ExecuteChunk.Goal(chunk=chunk), goal_uuid=goal_id)
    wait_until(goal.done, 10.0)
    result = goal.result().get_result_async()
    wait_until(result.done, seconds * 3)
    heartbeat.release(goal_id)
    periods = np.diff(commands)
    errors_ms = np.abs(periods - 0.2) * 1000.0
    return {
        "commands": len(commands),
        "period_p50_ms": percentile(list(periods * 1000), 50),
        "period_error_p50_ms": percentile(list(errors_ms), 50),
        "period_error_p99_ms": percentile(list(errors_ms), 99),
        "succeeded": bool(result.result().result.success),
    }


def policy_timing(node: Node, commands: list[float], cycles: int) -> dict:
    """Instruction-to-motion latency and the node's overhead, from PolicyStatus."""
    status: list[PolicyStatus] = []
    node.create_subscription(PolicyStatus, "/vlm2vla/status", status.append, STATUS)
    instruction = node.create_publisher(String, "/vlm2vla/instruction", LATCHED)
    assert wait_until(lambda: any(s.state_name == "idle" for s in status), 180.0)
    latencies, ratios, model_s = [], [], []
    for i in range(cycles):
        commands.clear()
        status.clear()
        said = time.monotonic()
        instruction.publish(String(data=f"pick up the red block {i}"))
        if wait_until(lambda: commands, 60.0):
            latencies.append(commands[0] - said)
        wait_until(lambda: any(s.state_name in ("done", "failed") for s in status), 120.0)
        seen = set()
        for s in status:
            if s.last_cycle_s > 0 and s.last_cycle_s not in seen:
                seen.add(s.last_cycle_s)
                inside = s.plan_s + s.chunk_s + s.verify_s
                ratios.append((s.last_cycle_s - s.execute_s) / inside)
                model_s.append(inside)
    return {
        "instruction_to_first_command_p50_s": percentile(latencies, 50),
        "policy_calls_per_cycle_p50_s": percentile(model_s, 50),
        "node_overhead_ratio_p50": percentile(ratios, 50),
        "cycles": len(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_graph.json")
    parser.add_argument("--model", default="", help="Gemma-3 dir; default: a tiny random one")
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="controller run length")
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    work = Path(tempfile.mkdtemp(prefix="bench_graph_"))
    model = args.model
    if not model:
        from vlm2vla_policy.testing.tiny_gemma3 import save_tiny_gemma3

        model = str(save_tiny_gemma3(work / "tiny"))
    bag = write_sample_bag(work / "camera", seconds=10.0)

    rclpy.init()
    node = Node("bench_graph")
    commands: list[float] = []
    node.create_subscription(
        JointGroupCommand, "/wx250s/commands/joint_group",
        lambda _: commands.append(time.monotonic()), 100,
    )  # fmt: skip
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    # The timing chunk is one goal (2 cm steps, two periods each): the limits must let it run.
    procs = [
        start("vlm2vla_policy", "fake_xs_driver"),
        start("vlm2vla_policy", "controller_node", "-p", "move_to_start:=false",
              "-p", f"max_chunk_steps:={max(100, int(args.seconds / 0.4))}",
              "-p", f"max_chunk_duration_s:={max(60.0, 2 * args.seconds)}"),
    ]  # fmt: skip
    try:
        control = controller_timing(node, commands, args.seconds)
        procs.append(
            start("vlm2vla_policy", "policy_node", "-r", f"image:={CAMERA_TOPIC}",
                  "-p", f"model:={model}", "-p", "verifier:=none")
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                ["vlm2vla-bag", "play", str(bag), "--loop", "--topics", CAMERA_TOPIC],
                stdout=subprocess.DEVNULL,
            )
        )
        graph = policy_timing(node, commands, args.cycles)
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        executor.shutdown()
        rclpy.try_shutdown()
    results = {"controller_5hz": control, "policy_node": graph, "model": model}
    print(f"{'metric':45s} value")
    for section, values in (("controller", control), ("policy", graph)):
        for key, value in values.items():
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            print(f"{section + '.' + key:45s} {shown}")
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
