"""`omnifuse detect` on KITTI-layout frames: the console line says what the label files hold (the Waymo output,
tracking and input normalisation have their own test modules)."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_detect_says_how_many_detections_the_kitti_files_leave_out(shared_data: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from omnifuse.cli import main
    from omnifuse.structures.kitti_labels import read_kitti_label

    out = tmp_path / 'pred'
    assert main(['detect', '--kitti-root', str(shared_data / 'kitti'), '--out', str(out)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    total = int(line.split(' detection(s)')[0].split()[-1])
    written = sum(len(read_kitti_label(p)) for p in out.glob('*.txt'))
    assert f'; {written} written to {out}' in line
    if written < total:  # the real scans have detections behind and beside the camera
        assert f'({total - written} outside the camera image or the LiDAR range' in line
