"""vlm2vla_training: installs with colcon (ament_python) or plain ``pip install -e``; no ROS."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "vlm2vla_training"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        # Named training configs (paper, debug) and launcher configs; fit looks here when
        # installed without the source tree.
        (f"share/{PACKAGE}/configs", glob("configs/*.yaml") + glob("configs/*.json")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "setuptools",
        "numpy",
        "pyyaml",
        "pillow",
        "tqdm",
        "datasets",
        "vlm2vla_policy",
    ],
    extras_require={
        "train": [
            "torch",
            "transformers>=4.50",
            "peft",
            "accelerate",
            "datasets",
            "tensorboard",
            "matplotlib",
        ],
        "rlds": ["tensorflow-datasets"],
        "video": ["av"],
        "test": ["pytest"],
    },
    zip_safe=True,
    maintainer="vlm2vla maintainers",
    maintainer_email="maintainers@vlm2vla.org",
    description="ROS-independent data, relabeling, LoRA training and evaluation for VLM2VLA",
    license="Apache-2.0",
    entry_points={"console_scripts": ["vlm2vla-train = vlm2vla_training.cli:main"]},
)
