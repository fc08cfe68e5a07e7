"""Near-field occupancy of one SensorFrame with a trained NearFieldOccupancyNet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from omnifuse.checkpoint import CHECKPOINT_DIR, CONFIG_DIR, build_model
from omnifuse.datasets.occupancy import groups_to_sim_ids, occupancy_inputs
from omnifuse.errors import FormatError
from omnifuse.segmentation.occupancy import NearFieldOccupancyNet
from omnifuse.structures import SensorFrame
from omnifuse.structures.bev_grid import BEVGrid

__all__ = ['NearFieldOccupancyPredictor', 'DEFAULT_CONFIG', 'DEFAULT_CHECKPOINT', 'to_ros_layout']

DEFAULT_CONFIG = CONFIG_DIR / 'occupancy' / 'nearfield_fused_sim.py'
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / 'nearfield_fused_sim.pth'


def to_ros_layout(grid: np.ndarray) -> np.ndarray:
    """A BEVGrid image (row 0 = +x edge, column 0 = +y edge) in nav_msgs/OccupancyGrid order:
    row i along +y, column j along +x, cell (0, 0) at the (-extent, -extent) corner."""
    return np.ascontiguousarray(np.asarray(grid)[::-1, ::-1].T)


class NearFieldOccupancyPredictor:
    """Ultrasonic + camera BEV occupancy (0.1 m cells over ±10 m, see omnifuse.structures.bev_grid).

    Args:
        config, checkpoint: the model (default: the shipped fused model).
        device: torch device.
        camera: name of the camera to use; None takes 'image_2', else the first camera of the frame.
    """

    def __init__(self, *, config: str | Path | None = None, checkpoint: str | Path | None = None,
                 device: str = 'cpu', camera: str | None = None) -> None:
        model, cfg = build_model(config or DEFAULT_CONFIG, checkpoint=checkpoint or DEFAULT_CHECKPOINT,
                                 device=device, expected_type=NearFieldOccupancyNet)
        self.model = model
        self.device = device
        data = cfg.test_dataloader.dataset
        self.image_scale = float(data.get('image_scale', 0.5))
        self.grid = BEVGrid(float(data.get('resolution', 0.1)), float(data.get('extent', 10.0)))
        self.camera = camera

    def _camera_name(self, frame: SensorFrame) -> str | None:
        if frame.calib is None:
            raise FormatError(f'frame {frame.frame_id}: occupancy needs a calibration (ultrasonic poses)')
        names = [self.camera] if self.camera else ['image_2', *frame.images]
        for name in names:
            if name in frame.images and name in frame.calib.cameras:
                return name
        return None

    @torch.no_grad()
    def predict(self, frame: SensorFrame) -> tuple[np.ndarray, np.ndarray]:
        """(G, G) group labels (0 free, 1 vehicle, 2 pedestrian, 3 cyclist, 4 static) and occupied probability."""
        name = self._camera_name(frame)
        calib = frame.calib
        if name is not None:
            image, camera = frame.images[name], calib.cameras[name]
        else:  # no camera this frame: the model runs on the ultrasonic sensors alone
            camera = next(iter(calib.cameras.values()), None)
            if camera is None:
                from omnifuse.structures import CameraModel
                camera = CameraModel(np.eye(3), np.eye(4), 1242, 375)
            image = None
        inputs = occupancy_inputs(image, camera, frame.ultrasonic, calib.ultrasonic, self.grid,
                                  image_scale=self.image_scale)
        batch = {k: v[None].to(self.device) for k, v in inputs.items()}
        occ, cls = self.model._logits(batch)
        labels = NearFieldOccupancyNet.predict_labels(occ, cls)[0].cpu().numpy()
        return labels, torch.sigmoid(occ)[0].cpu().numpy()

    def predict_sim_ids(self, frame: SensorFrame) -> np.ndarray:
        """(G, G) uint8 grid in the simulator's class ids (the `occupancy/` file format)."""
        return groups_to_sim_ids(self.predict(frame)[0])

    def __call__(self, frame: SensorFrame) -> np.ndarray:
        """ROS OccupancyGrid layout: (G, G) uint8 occupancy percent, rows along +y, columns along +x,
        origin at (-extent, -extent)."""
        _, prob = self.predict(frame)
        return to_ros_layout(np.clip(np.round(prob * 100), 0, 100).astype(np.uint8))
