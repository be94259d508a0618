"""vlm2vla_policy: installable with colcon (ament_python) or plain ``pip install -e``."""

from setuptools import find_packages, setup

PACKAGE = "vlm2vla_policy"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    python_requires=">=3.10",
    install_requires=[
        "setuptools",
        "numpy",
        "opencv-python-headless",
        "pyyaml",
        "rosbags",
        "mcap",
        "zstandard",
        "lz4",
    ],
    extras_require={
        "runtime": ["torch", "transformers>=4.50", "peft", "accelerate", "pillow"],
        "serve": ["starlette", "uvicorn"],
        "test": ["pytest", "hypothesis"],
    },
    zip_safe=True,
    maintainer="vlm2vla maintainers",
    maintainer_email="maintainers@vlm2vla.org",
    description="VLM2VLA policy library and ROS 2 nodes",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "controller_node = vlm2vla_policy.nodes.controller_node:main",
            "policy_node = vlm2vla_policy.nodes.policy_node:main",
            "fake_xs_driver = vlm2vla_policy.testing.fake_driver:main",
            "vlm2vla-serve = vlm2vla_policy.serving.cli:main",
            "vlm2vla-prepare-270m = vlm2vla_policy.testing.tiny_gemma3:main",
        ]
    },
)
