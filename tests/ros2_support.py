"""Running a real ROS 2 from the tests: find /opt/ros/<distro>, build this repository with colcon in a
workspace, run `ros2 ...` commands and long-running processes in the sourced environment.

Everything goes through subprocesses with `setup.bash` sourced, as a ROS user's shell would; the
project's venv Python (this interpreter) runs colcon and the node, so the overlay's entry points use
it (docs/ros.md). Nothing here imports rclpy.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

__all__ = ['RECIPE', 'SKIP_REASON', 'Ros', 'find_ros_setup', 'sourced_env', 'copy_package', 'build_workspace']

RECIPE = REPO.parent / 'shared' / 'ros2' / 'README.md'
SKIP_REASON = (f'no ROS 2 installation (/opt/ros/<distro>/setup.bash); build ROS 2 Jazzy with the recipe '
               f'{RECIPE} to run the tests against a real ROS 2')
SOURCES = ('package.xml', 'setup.py', 'setup.cfg', 'resource', 'omnifuse', 'configs', 'launch')
# What a ROS 2 shell should not inherit from the test process.
_SCRUB = ('PYTHONPATH', 'AMENT_PREFIX_PATH', 'CMAKE_PREFIX_PATH', 'COLCON_PREFIX_PATH', 'ROS_DISTRO',
          'ROS_VERSION', 'ROS_PYTHON_VERSION', 'LD_LIBRARY_PATH', 'RMW_IMPLEMENTATION')
CYCLONEDDS_URI = ('<CycloneDDS><Domain><Internal><SocketReceiveBufferSize min="4MB"/></Internal></Domain>'
                  '</CycloneDDS>')


def find_ros_setup(root: Path = Path('/opt/ros')) -> Path | None:
    """`/opt/ros/<distro>/setup.bash` of the first installed distribution (jazzy preferred)."""
    found = sorted(root.glob('*/setup.bash'), key=lambda p: (p.parent.name != 'jazzy', p.parent.name))
    return found[0] if found else None


def sourced_env(setups: Sequence[Path], base: dict[str, str]) -> dict[str, str]:
    """The environment after `source`-ing each setup.bash in turn on top of `base`."""
    script = ' && '.join(f'source {s}' for s in setups) + ' >/dev/null && env -0'
    out = subprocess.run(['bash', '-c', script], env=base, capture_output=True, check=True, timeout=60).stdout
    return dict(item.split('=', 1) for item in out.decode().split('\0') if '=' in item)


def _base_env(log_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    # The venv first: `python` and colcon are the project's; ROS's bin is put ahead of it by setup.bash.
    env['PATH'] = f'{Path(sys.executable).parent}:{env.get("PATH", "/usr/bin:/bin")}'
    env.update({'ROS_DOMAIN_ID': str(random.Random(os.getpid()).randint(11, 90)),
                'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST', 'ROS_LOG_DIR': str(log_dir),
                'PYTHONUNBUFFERED': '1', 'RCUTILS_COLORIZED_OUTPUT': '0', 'CYCLONEDDS_URI': CYCLONEDDS_URI})
    return env


def copy_package(ws: Path) -> Path:
    """Copy what colcon needs of this repository into `ws/src/omnifuse` (returned)."""
    pkg = ws / 'src' / 'omnifuse'
    pkg.mkdir(parents=True)
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, pkg / name, ignore=shutil.ignore_patterns('__pycache__', '*.egg-info'))
        else:
            shutil.copy2(src, pkg / name)
    return pkg


def build_workspace(ws: Path, setup: Path) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """Copy the package into `ws/src/omnifuse`, `colcon build` it, return (result, overlay env)."""
    copy_package(ws)
    env = sourced_env([setup], _base_env(ws / 'ros_log'))
    colcon = Path(sys.executable).parent / 'colcon'
    result = subprocess.run([str(colcon), 'build', '--base-paths', 'src', '--event-handlers', 'console_direct-'],
                            cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    overlay = sourced_env([setup, ws / 'install' / 'setup.bash'], _base_env(ws / 'ros_log')) \
        if result.returncode == 0 else env
    return result, overlay


@dataclass
class Ros:
    """A sourced ROS 2 environment (underlay + the omnifuse overlay) and helpers to drive it."""

    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Run a command to completion (text output, no check)."""
        return subprocess.run(list(args), cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def ros2(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """`ros2 ARGS...`."""
        return self.run('ros2', *args, timeout=timeout)

    def start(self, *args: str, log: Path) -> subprocess.Popen:
        """Start a long-running command in its own process group, output to `log`."""
        # A shell's background job (`make test &`, nohup) starts with SIGINT ignored, and an ignored signal stays
        # ignored across exec: the node would never see the Ctrl-C that stops it. With Python's handler here the
        # children start with the default action.
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        handle = log.open('w')
        return subprocess.Popen(list(args), cwd=self.cwd, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)

    @staticmethod
    def stop(proc: subprocess.Popen, *, sig: int = signal.SIGINT, group: bool = False, timeout: float = 30.0) -> int:
        """Send `sig` and wait; kill the group if it hangs.

        `group=False` signals the process only: Ctrl-C for `ros2 launch`, which stops its nodes itself.
        `group=True` signals the whole process group, as a terminal's Ctrl-C does: `ros2 run` leaves the
        signal to its child.
        """
        if proc.poll() is None:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                return -9
        return int(proc.returncode)

    @staticmethod
    def wait_until(check: Callable[[], bool], *, timeout: float, every: float = 0.5) -> bool:
        """Poll `check` until it holds or `timeout` seconds pass."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if check():
                return True
            time.sleep(every)
        return check()

    def lifecycle_state(self, node: str = '/perception_node') -> str:
        """`ros2 lifecycle get NODE` -> 'active', 'inactive', ... ('' when the node does not answer)."""
        out = self.ros2('lifecycle', 'get', node, timeout=30)
        return out.stdout.split()[0] if out.returncode == 0 and out.stdout.strip() else ''

    def wait_state(self, state: str, *, node: str = '/perception_node', timeout: float = 120.0) -> bool:
        """Wait until the lifecycle node reports `state`."""
        return self.wait_until(lambda: self.lifecycle_state(node) == state, timeout=timeout, every=1.0)
