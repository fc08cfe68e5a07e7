"""OpenMMLab-style entry point: `python tools/test.py CONFIG CHECKPOINT [--out DIR]` = `omnifuse test ...`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omnifuse.cli import main  # noqa: E402

if __name__ == '__main__':
    raise SystemExit(main(['test', *sys.argv[1:]]))
