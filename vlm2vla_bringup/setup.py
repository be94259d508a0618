"""vlm2vla_bringup: installable with colcon (ament_python) or plain ``pip install -e``."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "vlm2vla_bringup"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    python_requires=">=3.10",
    install_requires=["setuptools", "pyyaml", "numpy", "rosbags", "vlm2vla_policy"],
    zip_safe=True,
    maintainer="vlm2vla maintainers",
    maintainer_email="maintainers@vlm2vla.org",
    description="Launch, configuration, bag tools and the operator command of the VLM2VLA stack",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "vlm2vla-bag = vlm2vla_bringup.bags.cli:main",
            "vlm2vla-launch = vlm2vla_bringup.runner:main",
            "vlm2vla = vlm2vla_bringup.operator.cli:main",
        ]
    },
)
