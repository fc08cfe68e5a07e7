"""The shipped models and the defaults every entry point shares: one table, importable without torch.

The CLI (`omnifuse detect`, `segment`, `occupancy`, `demo`), the inference APIs (`omnifuse.apis`) and the
ROS core read them from here; nothing else spells a shipped checkpoint's name.

    task          config (trained with)                          weights (omnifuse/checkpoints/)
    detection     configs/logonet/fast_lidar-cam_1xb2-40e_sim.py  fast_lidar-cam_sim.pth
    segmentation  configs/cmx/rgbt_cmx.py                         cmx_rgbt_sim.pth (and one per configs/cmx config)
    occupancy     configs/occupancy/nearfield_fused_sim.py        nearfield_fused_sim.pth

The ROS node's parameters (its detector's score threshold among them) have their own source, the shipped
configs/ros/perception.yaml (omnifuse.ros_nodes.params); its empty `checkpoint` entries mean the weights here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omnifuse.install_paths import CHECKPOINT_DIR, CONFIG_DIR

__all__ = ['ShippedModel', 'DETECTION', 'SEGMENTATION', 'OCCUPANCY', 'SHIPPED', 'SEGMENTATION_CHECKPOINTS',
           'DETECTION_16BEAM_THERMAL', 'SCORE_THRESHOLD']


@dataclass(frozen=True)
class ShippedModel:
    """A model shipped with the package.

    Attributes:
        config: the config it was trained with (a checkpoint that embeds its config wins over this one).
        checkpoint: its weights, in omnifuse/checkpoints/.
    """

    config: Path
    checkpoint: Path


DETECTION = ShippedModel(CONFIG_DIR / 'logonet' / 'fast_lidar-cam_1xb2-40e_sim.py',
                         CHECKPOINT_DIR / 'fast_lidar-cam_sim.pth')
SEGMENTATION = ShippedModel(CONFIG_DIR / 'cmx' / 'rgbt_cmx.py', CHECKPOINT_DIR / 'cmx_rgbt_sim.pth')
OCCUPANCY = ShippedModel(CONFIG_DIR / 'occupancy' / 'nearfield_fused_sim.py',
                         CHECKPOINT_DIR / 'nearfield_fused_sim.pth')

# The default model of each ROS model role (configs/ros/perception.yaml: models.<role>).
SHIPPED: dict[str, ShippedModel] = {'detector': DETECTION, 'segmenter': SEGMENTATION, 'occupancy': OCCUPANCY}

# The weights shipped for each config of configs/cmx, by config name (trained on the simulator,
# docs/results_cmx.md).
SEGMENTATION_CHECKPOINTS: dict[str, Path] = {
    'rgbt_cmx': SEGMENTATION.checkpoint,
    'rgb_only': CHECKPOINT_DIR / 'cmx_rgb_sim.pth',
    'rgbd_cmx': CHECKPOINT_DIR / 'cmx_rgbd_sim.pth',
}

# The 16-beam LiDAR + camera + thermal detector (its config is embedded; `omnifuse demo` shows it).
DETECTION_16BEAM_THERMAL = CHECKPOINT_DIR / 'fast_lidar16-cam-thermal_sim.pth'

# Detections with a lower score are dropped by `omnifuse detect` (--score-thr) and `apis.FrameDetector`.
SCORE_THRESHOLD = 0.1
