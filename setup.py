"""ament_python / pip build of omnifuse.

`pip install -e .` works without ROS; `colcon build` installs the same package into a ROS 2
workspace, with launch files and configs under share/omnifuse and the node under lib/omnifuse.
"""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'omnifuse'

# `pip install .[deploy]`: export to ONNX / OpenVINO (omnifuse export) and the torch-free runtime of the
# exported models (docs/deploy.md). scripts/setup_env.sh installs them, so `make test` has them.
DEPLOY = ['onnx>=1.16', 'onnxruntime>=1.18', 'openvino>=2024.0']


def tree(src: str) -> list[tuple[str, list[str]]]:
    """data_files entries that install every file below `src` into share/omnifuse/src."""
    entries = []
    for folder, _, files in os.walk(src):
        if files:
            entries.append((os.path.join('share', PACKAGE, folder),
                            [os.path.join(folder, f) for f in sorted(files) if not f.endswith('.pyc')]))
    return entries


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=['omnifuse', 'omnifuse.*']),
    package_data={'omnifuse': ['checkpoints/*.pth', 'ros_nodes/msg/*.msg', 'configs/**/*.py']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        *tree('configs'),
    ],
    install_requires=['setuptools'],
    extras_require={'deploy': DEPLOY},
    zip_safe=False,
    maintainer='omnifuse developers',
    maintainer_email='dev@omnifuse.invalid',
    description='Sensor-fusion perception stack: LiDAR, camera, thermal and ultrasonic.',
    license='Apache-2.0',
    python_requires='>=3.10',
    entry_points={
        'console_scripts': [
            'omnifuse = omnifuse.cli:main',
            'perception_node = omnifuse.ros_nodes.node:main',
        ],
    },
)
