"""Lazy reader of Waymo Open Dataset frames in mmdet3d's KITTI-format layout.

    <root>/waymo_infos_{train,val,test}.pkl          mmdet3d v1.x infos: calibration, labels, stamps
    <root>/training/velodyne/<id>.bin                 float32 x y z intensity elongation timestamp (N, 6)
    <root>/training/image_0 .. image_4/<id>.{png,jpg} CAM_FRONT, CAM_FRONT_LEFT, CAM_FRONT_RIGHT,
                                                      CAM_SIDE_LEFT, CAM_SIDE_RIGHT

Frame ids are the velodyne file stems ('0000000'; mmdet3d prefixes val frames with 1, test with 2).
Calibration and labels come from the info files (boxes: LiDAR frame, bottom centre in the file,
geometric centre in omnifuse). Points keep all six columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omnifuse.datasets.infos import InfoReader
from omnifuse.errors import FormatError

__all__ = ['WaymoReader', 'WAYMO_CAMERAS', 'find_waymo_infos']

# info camera name -> image folder of mmdet3d's KITTI-format Waymo
WAYMO_CAMERAS = {
    'CAM_FRONT': 'image_0',
    'CAM_FRONT_LEFT': 'image_1',
    'CAM_FRONT_RIGHT': 'image_2',
    'CAM_SIDE_LEFT': 'image_3',
    'CAM_SIDE_RIGHT': 'image_4',
}
WAYMO_POINT_FEATURES = 6


def find_waymo_infos(root: str | Path) -> list[Path]:
    """The `waymo_infos_*.pkl` files directly in `root` (sorted), FormatError when there are none."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(2, 'No such directory (Waymo root)', str(root))
    found = sorted(p for p in root.glob('waymo_infos_*.pkl') if p.is_file())
    if not found:
        raise FormatError(f'{root}: no waymo_infos_*.pkl info file (mmdet3d KITTI-format Waymo layout); '
                          'pass the info file explicitly')
    return found


class WaymoReader(InfoReader):
    """Waymo frames in mmdet3d's KITTI layout: `reader.read('1000000') -> SensorFrame`.

    Args:
        root: the layout's root (holding `<split>/velodyne` and the info files).
        info_files: info .pkl files; None takes every `waymo_infos_*.pkl` in root.
        split: sub-folder of the point and image files ('training' holds train and val, 'testing' test).
        load_images: read the camera images listed in the infos.

    The frame holds points (N, 6) float32 (x y z intensity elongation timestamp), images by info camera
    name ('CAM_FRONT', ...: (H, W, 3) uint8 RGB), calib with those cameras, labels from `instances`,
    and stamp_ns from the info's `timestamp` [us].
    """

    def __init__(self, root: str | Path, *, info_files: str | Path | Sequence[str | Path] | None = None,
                 split: str = 'training', load_images: bool = True) -> None:
        root = Path(root)
        infos = find_waymo_infos(root) if info_files is None else info_files
        super().__init__(infos, data_root=root, lidar_dir=f'{split}/velodyne',
                         camera_dirs={name: f'{split}/{folder}' for name, folder in WAYMO_CAMERAS.items()},
                         num_point_features=WAYMO_POINT_FEATURES, box_frame='lidar',
                         load_images=load_images, dataset='waymo')
        self.root = root
