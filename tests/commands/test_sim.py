"""`omnifuse sim`: KITTI layout with a contact sheet, a ROS 2 bag that reads back, clean errors."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np

from omnifuse.cli import main
from omnifuse.datasets.kitti import KittiReader


def test_sim_writes_kitti_and_a_contact_sheet(tmp_path, capsys):
    out, png = tmp_path / 'sim', tmp_path / 'sheet.png'
    code = main(['sim', '--out', str(out), '--frames', '2', '--seed', '3', '--condition', 'mixed',
                 '--azimuth-step', '0.18', '--png', str(png)])
    assert code == 0
    assert 'wrote 2 frames' in capsys.readouterr().out
    reader = KittiReader(out)
    assert len(reader) == 2
    frame = reader.read('000001')
    assert frame.points.shape[0] > 50_000  # 0.18 deg azimuth: half the default density
    assert frame.images['image_2'].shape == (375, 1242, 3) and frame.thermal['thermal'].dtype == np.uint16
    assert len(frame.ultrasonic) == 12 and frame.labels is not None and len(frame.labels) > 0
    sheet = cv2.imread(str(png))
    assert sheet is not None and sheet.shape[0] > 700 and sheet.shape[1] > 1200 and sheet.std() > 20


def test_sim_writes_a_ros2_bag_that_reads_back(tmp_path):
    from rosbags.highlevel import AnyReader

    out = tmp_path / 'run_bag'
    code = main(['sim', '--out', str(out), '--frames', '2', '--format', 'bag', '--azimuth-step', '0.36'])
    assert code == 0
    with AnyReader([out]) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics['/sensors/lidar/points'] == 'sensor_msgs/msg/PointCloud2'
        assert '/tf_static' in topics
        assert sum(t.startswith('/sensors/ultrasonic/') for t in topics) == 12
        stamps = []
        for conn, _, raw in reader.messages(connections=[c for c in reader.connections
                                                         if c.topic == '/sensors/lidar/points']):
            msg = reader.deserialize(raw, conn.msgtype)
            stamps.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
            assert msg.width * msg.height > 10_000
        assert np.diff(stamps).tolist() == [100_000_000]


def test_sim_bad_arguments_exit_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, '-m', 'omnifuse', 'sim', '--out', str(tmp_path / 'x'), '--frames', '0'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith('omnifuse: error:') and '--frames' in proc.stderr
    assert 'Traceback' not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    exists = tmp_path / 'exists'
    exists.mkdir()
    assert main(['sim', '--out', str(exists), '--frames', '1', '--format', 'bag']) == 2
