"""Dataset readers: KITTI object layout, mmdet3d info files, KITTI-format Waymo, point cloud files.

Every reader is lazy (the index is built from a listing or an info file; a frame is read when asked
for) and returns `omnifuse.structures.SensorFrame`s. Info .pkl files are read with a restricted
unpickler (builtins and numpy only).
"""

from omnifuse.datasets.infos import InfoFile, InfoReader, load_info_file, load_pickle
from omnifuse.datasets.kitti import KittiReader, read_bin_points, read_rgb_image, read_ultrasonic_file
from omnifuse.datasets.labels_io import (
    kitti_to_object_labels,
    object_labels_to_kitti,
    read_object_labels,
    write_object_labels,
)
from omnifuse.datasets.pointcloud_io import read_point_cloud, write_point_cloud
from omnifuse.datasets.waymo import WaymoReader

__all__ = ['InfoFile', 'InfoReader', 'KittiReader', 'WaymoReader', 'kitti_to_object_labels', 'load_info_file',
           'load_pickle', 'object_labels_to_kitti', 'read_bin_points', 'read_object_labels', 'read_point_cloud',
           'read_rgb_image', 'read_ultrasonic_file', 'write_object_labels', 'write_point_cloud']

# Registered training datasets (importing registers them in omnifuse's DATASETS).
from omnifuse.datasets.occupancy_dataset import NearFieldOccupancyDataset  # noqa: E402
from omnifuse.datasets.rgbx_seg import RGBXSegDataset  # noqa: E402

__all__ += ['NearFieldOccupancyDataset', 'RGBXSegDataset']

# The detection and point-segmentation datasets need torch. The torch-free runtime of exported models
# (omnifuse.deploy, docs/deploy.md) imports the readers and the numpy preprocessing above without it.
try:
    import torch as _torch  # noqa: F401
    _HAVE_TORCH = True
except ImportError:
    _HAVE_TORCH = False
if _HAVE_TORCH:
    from omnifuse.datasets import transforms  # noqa: E402,F401  (registers the detection transforms)
    from omnifuse.datasets.det_dataset import KittiDetDataset, WaymoDetDataset  # noqa: E402
    from omnifuse.datasets.point_seg_dataset import PointSegDataset  # noqa: E402

    __all__ += ['KittiDetDataset', 'PointSegDataset', 'WaymoDetDataset']
