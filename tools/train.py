"""OpenMMLab-style entry point: `python tools/train.py CONFIG [options]` = `omnifuse train CONFIG [options]`.

Distributed: `torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omnifuse.cli import main  # noqa: E402

if __name__ == '__main__':
    raise SystemExit(main(['train', *sys.argv[1:]]))
