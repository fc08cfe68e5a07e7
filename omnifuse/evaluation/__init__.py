__all__: list[str] = []

# Waymo (omnifuse/evaluation/waymo.py, waymo_metric.py)
from omnifuse.evaluation.waymo import WaymoObjects, compute_mean_average_precision, evaluate_waymo  # noqa: E402
from omnifuse.evaluation.waymo_metric import WaymoMetric  # noqa: E402

__all__ += ['WaymoObjects', 'compute_mean_average_precision', 'evaluate_waymo', 'WaymoMetric']

# KITTI (omnifuse/evaluation/kitti*.py)
from omnifuse.evaluation.kitti import evaluate_kitti, get_thresholds  # noqa: E402
from omnifuse.evaluation.kitti_convert import lidar_detections_to_kitti  # noqa: E402
from omnifuse.evaluation.kitti_metric import KittiMetric  # noqa: E402
from omnifuse.evaluation.kitti_result import KittiResult  # noqa: E402

__all__ += ['evaluate_kitti', 'get_thresholds', 'lidar_detections_to_kitti', 'KittiMetric', 'KittiResult']

# Near-field occupancy (omnifuse/evaluation/occupancy.py, occupancy_metric.py)
from omnifuse.evaluation.occupancy import OccupancyScores  # noqa: E402
from omnifuse.evaluation.occupancy_metric import OccupancyMetric  # noqa: E402

__all__ += ['OccupancyScores', 'OccupancyMetric']

# Segmentation (omnifuse/evaluation/segmentation.py, seg_metric.py)
from omnifuse.evaluation.seg_metric import SegMetric  # noqa: E402

__all__ += ['SegMetric']

# Point segmentation (omnifuse/evaluation/point_seg_metric.py)
from omnifuse.evaluation.point_seg_metric import PointSegMetric  # noqa: E402

__all__ += ['PointSegMetric']
