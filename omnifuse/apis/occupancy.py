"""Near-field occupancy of one SensorFrame with a trained NearFieldOccupancyNet.

A checkpoint exported by `omnifuse export` (.onnx, or OpenVINO .xml) runs with ONNX Runtime / OpenVINO
through the same numpy preprocessing (`occupancy_inputs`), without importing torch (omnifuse.deploy.runtime).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from omnifuse.datasets.occupancy_dataset import groups_to_sim_ids, occupancy_inputs
from omnifuse.defaults import OCCUPANCY
from omnifuse.errors import FormatError
from omnifuse.structures import SensorFrame
from omnifuse.structures.bev_grid import BEVGrid

if TYPE_CHECKING:
    from omnifuse.deploy.runtime import ExportedOccupancy
    from omnifuse.segmentation.nearfield_occupancy import NearFieldOccupancyNet

__all__ = ['NearFieldOccupancyPredictor', 'DEFAULT_CONFIG', 'DEFAULT_CHECKPOINT', 'to_ros_layout']

DEFAULT_CONFIG = OCCUPANCY.config  # the shipped model (omnifuse.defaults)
DEFAULT_CHECKPOINT = OCCUPANCY.checkpoint


def to_ros_layout(grid: np.ndarray) -> np.ndarray:
    """A BEVGrid image (row 0 = +x edge, column 0 = +y edge) in nav_msgs/OccupancyGrid order:
    row i along +y, column j along +x, cell (0, 0) at the (-extent, -extent) corner."""
    return np.ascontiguousarray(np.asarray(grid)[::-1, ::-1].T)


class NearFieldOccupancyPredictor:
    """Ultrasonic + camera BEV occupancy (0.1 m cells over ±10 m, see omnifuse.structures.bev_grid).

    Args:
        config, checkpoint: the model (default: the shipped fused model). An exported checkpoint (.onnx / .xml)
            carries its image scale and grid; the config is not read.
        device: torch device.
        camera: name of the camera to use; None takes 'image_2', else the first camera of the frame.
        backend: 'torch', 'onnxruntime' or 'openvino'; None = the checkpoint decides.
        num_threads: CPU threads of an exported model's backend (1 by default); the torch path leaves torch's
            setting alone.
    """

    def __init__(self, *, config: str | Path | None = None, checkpoint: str | Path | None = None,
                 device: str = 'cpu', camera: str | None = None, backend: str | None = None,
                 num_threads: int | None = 1) -> None:
        from omnifuse.deploy.runtime import ExportedOccupancy, choose_backend

        self.device = device
        self.camera = camera
        self.backend = choose_backend(checkpoint, backend)
        self.model: ExportedOccupancy | NearFieldOccupancyNet
        if self.backend != 'torch':
            self.model = ExportedOccupancy(checkpoint, backend=self.backend,  # type: ignore[arg-type]
                                           num_threads=num_threads)
            self.image_scale = self.model.image_scale
            self.grid = self.model.grid
            return
        from omnifuse.checkpoint import build_model
        from omnifuse.segmentation.nearfield_occupancy import NearFieldOccupancyNet

        model, cfg = build_model(config or DEFAULT_CONFIG, checkpoint=checkpoint or DEFAULT_CHECKPOINT,
                                 device=device, expected_type=NearFieldOccupancyNet)
        assert isinstance(model, NearFieldOccupancyNet)  # build_model refuses another type
        self.model = model
        data = cfg.test_dataloader.dataset
        self.image_scale = float(data.get('image_scale', 0.5))
        self.grid = BEVGrid(float(data.get('resolution', 0.1)), float(data.get('extent', 10.0)))

    def _camera_name(self, frame: SensorFrame) -> str | None:
        if frame.calib is None:
            raise FormatError(f'frame {frame.frame_id}: occupancy needs a calibration (ultrasonic poses)')
        names = [self.camera] if self.camera else ['image_2', *frame.images]
        for name in names:
            if name in frame.images and name in frame.calib.cameras:
                return name
        return None

    def predict_inputs(self, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(G, G) int64 group labels and (G, G) float32 occupied probability of one frame's
        `occupancy_inputs` (numpy, no batch dimension)."""
        if self.backend != 'torch':
            from omnifuse.deploy.runtime import ExportedOccupancy

            assert isinstance(self.model, ExportedOccupancy)  # set so by __init__
            return self.model.predict_inputs(inputs)
        import torch

        from omnifuse.segmentation.nearfield_occupancy import NearFieldOccupancyNet

        assert isinstance(self.model, NearFieldOccupancyNet)  # set so by __init__
        batch = {k: torch.from_numpy(np.asarray(v))[None].to(self.device) for k, v in inputs.items()}
        with torch.no_grad():
            occ, cls = self.model._logits(batch)
            labels = NearFieldOccupancyNet.predict_labels(occ, cls)[0].cpu().numpy()
            return labels, torch.sigmoid(occ)[0].cpu().numpy()

    def predict(self, frame: SensorFrame) -> tuple[np.ndarray, np.ndarray]:
        """(G, G) group labels (0 free, 1 vehicle, 2 pedestrian, 3 cyclist, 4 static) and occupied probability."""
        name = self._camera_name(frame)
        calib = frame.calib
        assert calib is not None  # _camera_name refuses a frame without one
        if name is not None:
            image, camera = frame.images[name], calib.cameras[name]
        else:  # no camera this frame: the model runs on the ultrasonic sensors alone
            first = next(iter(calib.cameras.values()), None)
            if first is None:
                from omnifuse.structures import CameraModel
                first = CameraModel(np.eye(3), np.eye(4), 1242, 375)
            image, camera = None, first
        inputs = occupancy_inputs(image, camera, frame.ultrasonic, calib.ultrasonic, self.grid,
                                  image_scale=self.image_scale)
        return self.predict_inputs(inputs)

    def predict_sim_ids(self, frame: SensorFrame) -> np.ndarray:
        """(G, G) uint8 grid in the simulator's class ids (the `occupancy/` file format)."""
        return groups_to_sim_ids(self.predict(frame)[0])

    def __call__(self, frame: SensorFrame) -> np.ndarray:
        """ROS OccupancyGrid layout: (G, G) uint8 occupancy percent, rows along +y, columns along +x,
        origin at (-extent, -extent)."""
        _, prob = self.predict(frame)
        return to_ros_layout(np.clip(np.round(prob * 100), 0, 100).astype(np.uint8))
