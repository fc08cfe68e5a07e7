"""The CLI's one place for errors: bad input is one line and exit 2, anything unexpected one line and exit 1
(the traceback only with --debug)."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnifuse.cli import main
from tests.conftest import REPO


def test_another_models_checkpoint_in_detect_is_one_line_naming_it(kitti_root: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = REPO / 'omnifuse' / 'checkpoints' / 'cmx_rgbt_sim.pth'
    assert main(['detect', '--kitti-root', str(kitti_root), '--checkpoint', str(ckpt), '--out', str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and str(ckpt) in err and 'CMXSegmentor' in err and 'not a 3D detector' in err


def test_an_existing_file_where_a_folder_is_expected_is_exit_2(kitti_root: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / 'pred'
    blocker.write_text('not a folder')
    code = main(['detect', '--kitti-root', str(kitti_root), '--frame', '000000', '--out', str(blocker)])
    err = capsys.readouterr().err
    assert code == 2 and 'Traceback' not in err and str(blocker) in err


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import omnifuse.commands.bag as bag

    def boom(args):
        raise ZeroDivisionError('the bug')
    monkeypatch.setattr(bag, 'run', boom)
    assert main(['bag', '--kitti-root', 'x', '--out', 'y']) == 1
    err = capsys.readouterr().err
    assert err.strip() == 'omnifuse: unexpected error: ZeroDivisionError: the bug (run with --debug for the traceback)'
    with pytest.raises(ZeroDivisionError):
        main(['--debug', 'bag', '--kitti-root', 'x', '--out', 'y'])


@pytest.mark.parametrize('name,word', [('folder', 'is a folder'), ('pic.txt', 'unknown picture type'),
                                       ('file/pic.png', 'is a file, not a folder')])
def test_picture_outputs_are_checked_before_the_work(kitti_root: Path, tmp_path: Path, name: str, word: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / 'folder').mkdir()
    (tmp_path / 'file').write_text('x')
    for argv in (['inspect', 'kitti', '--root', str(kitti_root), '--frame', '000000'],
                 ['sim', '--out', str(tmp_path / 'never'), '--frames', '1']):
        assert main([*argv, '--png', str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert word in err and err.count('\n') == 1
    assert not (tmp_path / 'never').exists()  # refused before anything was simulated


@pytest.mark.parametrize('device,word', [('cuda:0', 'CUDA is not available'), ('gpu7', 'not a torch device'),
                                         ('meta', 'runs on cpu or cuda')])
def test_a_device_this_torch_cannot_use_is_one_line(kitti_root: Path, tmp_path: Path, device: str, word: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if device == 'cuda:0' and torch.cuda.is_available():  # a GPU machine: ask for one GPU too many instead
        device, word = f'cuda:{torch.cuda.device_count()}', 'GPU(s)'
    assert main(['detect', '--kitti-root', str(kitti_root), '--frame', '000000', '--out', str(tmp_path / 'p'),
                 '--device', device]) == 2
    err = capsys.readouterr().err
    assert word in err and '--device' in err and err.count('\n') == 1


def test_detect_needs_no_labels_but_a_camera_calibration(kitti_root: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / 'kitti' / 'training'
    for folder in ('velodyne', 'image_2', 'calib', 'label_2'):
        (root / folder).mkdir(parents=True)
        for src in (kitti_root / 'training' / folder).glob('00000[02].*'):
            if not (folder == 'label_2' and src.stem == '000002'):  # one label file missing
                (root / folder / src.name).write_bytes(src.read_bytes())
    assert main(['detect', '--kitti-root', str(tmp_path / 'kitti'), '--out', str(tmp_path / 'pred')]) == 0
    assert sorted(p.name for p in (tmp_path / 'pred').iterdir()) == ['000000.txt', '000002.txt']
    capsys.readouterr()
    calib = root / 'calib' / '000000.txt'
    calib.write_text(''.join(line + '\n' for line in calib.read_text().splitlines() if not line.startswith('P2')))
    assert main(['detect', '--kitti-root', str(tmp_path / 'kitti'), '--frame', '000000',
                 '--out', str(tmp_path / 'pred2')]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith('omnifuse')]
    assert len(err) == 1 and str(calib) in err[0] and 'no camera image_2' in err[0]


@pytest.mark.parametrize('text, expected', [
    ('', 'defines no model'),
    ("model = dict(type='NoSuchModel')\n", "model type 'NoSuchModel' is not registered (models: "),
])
def test_a_config_without_a_registered_model_is_one_line(text: str, expected: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / 'c.py'
    config.write_text(text)
    assert main(['train', str(config), '--work-dir', str(tmp_path / 'w')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and str(config) in err and expected in err
    assert not (tmp_path / 'w').exists()


def test_a_cfg_option_of_the_wrong_kind_is_refused_before_training(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = REPO / 'configs' / 'logonet' / 'fast_lidar_1xb2-4e_sim.py'
    code = main(['train', str(config), '--work-dir', str(tmp_path / 'w'), '--data-root', str(tmp_path),
                 '--cfg-options', 'train_cfg.max_epochs=abc'])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == ("omnifuse: error: --cfg-options train_cfg.max_epochs='abc': expected a number "
                                 '(the config has 4)')


@pytest.mark.parametrize('metadata', [bytes(range(128, 256)), b'rosbag2_bagfile_information:\n  version: [\n',
                                      b'foo: 1\n'])
def test_a_garbage_bag_metadata_is_one_line_naming_the_bag(metadata: bytes, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / 'bag'
    bag.mkdir()
    (bag / 'metadata.yaml').write_bytes(metadata)
    assert main(['replay', str(bag), str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and str(bag) in err and 'Traceback' not in err
    assert not (tmp_path / 'out').exists()


@pytest.fixture()
def mfnet_pair(shared_data: Path) -> Path:
    """A real RGB-thermal pair (4-channel MFNet PNG) from the shared data."""
    return shared_data / 'rgbt' / 'MFNet' / '01234N.png'


def test_segment_with_weights_for_other_inputs_is_refused_naming_both(mfnet_pair: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = REPO / 'omnifuse' / 'checkpoints' / 'cmx_rgbd_sim.pth'  # depth weights, default (thermal) config
    code = main(['segment', '--rgb', str(mfnet_pair), '--checkpoint', str(ckpt), '--png', str(tmp_path / 's.png')])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count('\n') == 0
    assert str(ckpt) in err and "'depth'" in err and 'rgbt_cmx.py' in err and "'thermal'" in err
    assert not (tmp_path / 's.png').exists()


def test_a_depth_model_on_an_rgb_thermal_png_says_it_runs_on_rgb_alone(mfnet_pair: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(['segment', '--rgb', str(mfnet_pair), '--config', str(REPO / 'configs' / 'cmx' / 'rgbd_cmx.py'),
                 '--png', str(tmp_path / 's.png')])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert 'carries a thermal channel, but the model wants depth' in captured.err
    assert 'X missing' in captured.out and (tmp_path / 's.png').is_file()


@pytest.mark.parametrize('option, name, expected', [
    ('--png', 'folder', 'is a folder'), ('--png', 'out.txt', "unknown picture type '.txt'"),
    ('--labels', 'ids.jpg', 'lossless .png'),
])
def test_segment_outputs_are_checked_before_the_model_runs(option: str, name: str, expected: str, mfnet_pair: Path,
                                                           tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / 'folder').mkdir()
    assert main(['segment', '--rgb', str(mfnet_pair), option, str(tmp_path / name)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and option in err and expected in err
