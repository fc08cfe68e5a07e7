"""The linters as part of `make test` (and so of CI): ruff over the code, mypy over the typed core.

Settings and the reasons for each rule choice: pyproject.toml ([tool.ruff], [tool.mypy]); docs/architecture.md
(Linters). A failure prints the findings; `ruff check --fix` repairs the import order and a few others.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Everything that is Python in the repository (setup.py aside: the ament_python boilerplate).
RUFF_PATHS = ('omnifuse', 'tests', 'bench', 'scripts', 'tools', 'launch')

# The whole package (every module was made clean; see docs/architecture.md, Linters).
MYPY_PATHS = ('omnifuse',)


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    proc = _run(['ruff', 'check', '--no-cache', '--output-format', 'concise', *RUFF_PATHS])
    assert proc.returncode == 0, f'ruff check {" ".join(RUFF_PATHS)}:\n{proc.stdout}{proc.stderr}'


def test_mypy_finds_nothing_in_the_typed_core():
    proc = _run(['mypy', '--no-incremental', '--cache-dir', '/dev/null', *MYPY_PATHS])
    assert proc.returncode == 0, f'mypy {" ".join(MYPY_PATHS)}:\n{proc.stdout}{proc.stderr}'
