import subprocess
import sys
from pathlib import Path

import pytest

from omnifuse import defaults


@pytest.mark.parametrize('model', [defaults.DETECTION, defaults.SEGMENTATION, defaults.OCCUPANCY])
def test_every_shipped_model_has_its_config_and_weights(model: defaults.ShippedModel) -> None:
    assert model.config.is_file() and model.checkpoint.is_file()


def test_every_listed_checkpoint_is_shipped() -> None:
    for path in (*defaults.SEGMENTATION_CHECKPOINTS.values(), defaults.DETECTION_16BEAM_THERMAL):
        assert path.is_file()
    assert set(defaults.SHIPPED) == {'detector', 'segmenter', 'occupancy'}


def test_defaults_import_without_torch() -> None:
    code = ('import sys\n'
            'class Blocked:\n'
            '    def find_spec(self, name, path=None, target=None):\n'
            '        if name.split(".")[0] == "torch":\n'
            '            raise ImportError("torch blocked")\n'
            'sys.meta_path.insert(0, Blocked())\n'
            'from omnifuse import defaults\n'
            'print(defaults.SCORE_THRESHOLD)\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == defaults.SCORE_THRESHOLD


def test_the_entry_points_read_the_table() -> None:
    from omnifuse.apis import detection, occupancy, segmentation
    from omnifuse.commands import detect

    assert detection.DEFAULT_CHECKPOINT == detect.DEFAULT_CHECKPOINT == defaults.DETECTION.checkpoint
    assert detection.FrameDetector.__init__.__kwdefaults__['score_threshold'] == defaults.SCORE_THRESHOLD
    assert occupancy.DEFAULT_CHECKPOINT == defaults.OCCUPANCY.checkpoint
    assert segmentation.default_checkpoint(defaults.SEGMENTATION.config) == defaults.SEGMENTATION.checkpoint
