"""Run Python code in a subprocess whose import system refuses torch and spconv: the exported (ONNX Runtime /
OpenVINO) paths must work there. The code fails if torch got imported anyway."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO

__all__ = ['BLOCK_TORCH', 'run_cli_without_torch', 'run_without_torch']

# Put first in a script: from here on `import torch` (and spconv) raise ImportError.
BLOCK_TORCH = textwrap.dedent('''
    import importlib.abc, sys

    class _Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('torch', 'spconv'):
                raise ImportError(f'{name} is blocked in this test')
            return None

    sys.meta_path.insert(0, _Blocked())
''')

_CLI = BLOCK_TORCH + textwrap.dedent('''
    from omnifuse.cli import main
    code = main(sys.argv[1:])
    assert 'torch' not in sys.modules, 'torch was imported'
    sys.exit(code)
''')


def run_without_torch(code: str, *args: str) -> subprocess.CompletedProcess:
    """`python -c BLOCK_TORCH + code args...` in the repository, one OpenMP thread, 300 s at most."""
    return subprocess.run([sys.executable, '-c', BLOCK_TORCH + textwrap.dedent(code), *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'))


def run_cli_without_torch(*args: str) -> subprocess.CompletedProcess:
    """`omnifuse ARGS...` with torch and spconv blocked (exit code: the command's; torch imported: failure)."""
    return subprocess.run([sys.executable, '-c', _CLI, *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'))
