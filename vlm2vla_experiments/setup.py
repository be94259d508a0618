"""vlm2vla_experiments: installable with colcon (ament_python) or plain ``pip install -e``."""

from setuptools import find_packages, setup

PACKAGE = "vlm2vla_experiments"

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
        "pillow",
        "vlm2vla_policy",
        "vlm2vla_training",
        "vlm2vla_sim",
    ],
    zip_safe=True,
    maintainer="vlm2vla maintainers",
    maintainer_email="maintainers@vlm2vla.org",
    description="Experiments on the policy: the demo, closed-loop evaluation in the simulator, "
    "run comparison, demonstration recording and the paper's small-scale experiments",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "vlm2vla-sim-record = vlm2vla_experiments.record_cli:main",
            "vlm2vla-sim-eval = vlm2vla_experiments.eval_cli:main",
            "vlm2vla-demo = vlm2vla_experiments.demo:main",
            "vlm2vla-experiment = vlm2vla_experiments.paper.cli:main",
        ]
    },
)
