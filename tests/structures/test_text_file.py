"""`read_text_file`: the text, or one line naming the file and what it should have been."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnifuse.errors import FormatError
from omnifuse.structures.ego_poses import read_pose_file
from omnifuse.structures.kitti_labels import read_kitti_label
from omnifuse.structures.kitti_tracking import read_kitti_tracking
from omnifuse.structures.text_file import read_text_file


def test_text_or_a_message_naming_the_file(tmp_path: Path) -> None:
    good, binary = tmp_path / 'a.txt', tmp_path / 'b.txt'
    good.write_text('Car 0 0 0\n')
    binary.write_bytes(b'\xff\xfe\x00\x81')
    assert read_text_file(good, 'KITTI labels') == 'Car 0 0 0\n'
    for reader, what in ((read_kitti_label, 'KITTI labels'), (read_kitti_tracking, 'KITTI tracking files'),
                         (read_pose_file, 'KITTI pose files')):
        with pytest.raises(FormatError, match=rf'b\.txt: not a text file \({what} are UTF-8/ASCII text\)'):
            reader(binary)
