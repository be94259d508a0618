"""The workspace's pytest plugin (``-p vlm2vla_policy.testing.pytest_plugin``).

Every test run gets its own ROS 2 domain, on localhost only.

Parallel runs on one machine (two developers, CI beside a session) therefore never see each
other's topics. Fast DDS uses UDP only (see below). Child processes started by tests inherit
these variables.
"""

import os

import pytest

from vlm2vla_policy.testing.runtime_fixtures import (
    camera_image,
    real_tokenizer_gemma3_dir,
    tiny_gemma3_dir,
    tiny_lora_dir,
    torch_one_thread,
)

__all__ = [
    "camera_image",
    "real_tokenizer_gemma3_dir",
    "tiny_gemma3_dir",
    "tiny_lora_dir",
    "torch_one_thread",
]

os.environ["ROS_DOMAIN_ID"] = os.environ.get("VLM2VLA_TEST_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# UDP only, no shared memory: the fault tests SIGKILL nodes, and a Fast DDS process killed while
# it holds a shared-memory port's lock (/dev/shm/sem.fastrtps_port*_mutex) leaves it locked, so a
# later participant on the same ports blocks forever inside DDS with the GIL held, where neither
# pytest's timeout nor Ctrl-C reaches it (eProsima/Fast-DDS#1144).
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_report_header(config: pytest.Config) -> str:
    """Show the isolation settings in the pytest header."""
    return (
        f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']} "
        f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE']} "
        f"FASTDDS_BUILTIN_TRANSPORTS={os.environ['FASTDDS_BUILTIN_TRANSPORTS']}"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests where no CUDA device is present."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is present")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
