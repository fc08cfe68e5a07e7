"""`omnifuse bag`: real KITTI frames (camera + LiDAR + calibration) written as a ROS 2 bag read back as the
same frames through the node's own assembler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnifuse.cli import main as cli_main
from omnifuse.datasets.kitti import KittiReader
from omnifuse.ros_nodes.bag_io import read_bag_frames


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_real_kitti_frames_round_trip_through_a_jazzy_bag(shared_data: Path, tmp_path: Path, storage: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = shared_data / 'kitti_real' / 'highway_2011_09_26'
    ids = ['000000', '000003']
    out = tmp_path / 'hw.bag'
    assert cli_main(['bag', '--kitti-root', str(root), '--out', str(out), '--frames', ','.join(ids),
                     '--storage', storage]) == 0
    assert 'wrote 2 frames as a ROS 2 jazzy bag' in capsys.readouterr().out
    frames = [af.frame for af in read_bag_frames(out)]
    reader = KittiReader(root)
    assert len(frames) == 2
    for got, frame_id in zip(frames, ids, strict=True):
        want = reader.read(frame_id)
        np.testing.assert_array_equal(got.points[:, :4], want.points)
        np.testing.assert_array_equal(got.images['front'], want.images['image_2'])
        cam, ref = got.calib.cameras['front'], want.calib.cameras['image_2']
        np.testing.assert_allclose(cam.P, ref.P, atol=1e-9)
        np.testing.assert_allclose(cam.T_cam_lidar, ref.T_cam_lidar, atol=1e-6)  # via a quaternion
    assert frames[1].stamp_ns - frames[0].stamp_ns == 100_000_000  # 10 Hz


def test_bag_refuses_an_existing_output_and_unknown_frames(shared_data: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    root = str(shared_data / 'kitti')
    assert cli_main(['bag', '--kitti-root', root, '--out', str(tmp_path), '--frames', '000000']) == 2
    assert 'exists already' in capsys.readouterr().err
    assert cli_main(['bag', '--kitti-root', root, '--out', str(tmp_path / 'b'), '--frames', '000000,999999']) == 2
    assert '999999 not in' in capsys.readouterr().err
