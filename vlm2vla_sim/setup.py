"""vlm2vla_sim: installable with colcon (ament_python) or plain ``pip install -e``."""

from setuptools import find_packages, setup

PACKAGE = "vlm2vla_sim"

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
        "mujoco",
        "pillow",
        "vlm2vla_policy",
    ],
    zip_safe=True,
    maintainer="vlm2vla maintainers",
    maintainer_email="maintainers@vlm2vla.org",
    description="MuJoCo WidowX 250s tabletop speaking the Interbotix driver interface",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "widowx_sim = vlm2vla_sim.nodes.widowx_sim_node:main",
        ]
    },
)
