"""Pictures of near-field BEV occupancy grids with the ultrasonic cones and echoes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from omnifuse.structures.bev_grid import BEVGrid
from omnifuse.structures.calibration import UltrasonicSensor
from omnifuse.viz.draw import put_text

if TYPE_CHECKING:
    from omnifuse.datasets.occupancy_dataset import NearFieldOccupancyDataset

__all__ = ['draw_occupancy', 'write_occupancy_picture']


def _to_pixel(xy: np.ndarray, grid: BEVGrid, scale: int) -> np.ndarray:
    rows = (grid.extent - xy[..., 0]) / grid.resolution * scale
    cols = (grid.extent - xy[..., 1]) / grid.resolution * scale
    return np.stack([cols, rows], -1)


def draw_occupancy(grid_ids: np.ndarray, grid: BEVGrid, palette: Sequence[Sequence[int]], *,
                   sensors: Mapping[str, UltrasonicSensor] | None = None,
                   readings: Mapping[str, float] | None = None, title: str = '', scale: int = 3,
                   ego_size: tuple[float, float] = (4.2, 1.8), ego_center_x: float = 0.0) -> np.ndarray:
    """Draw a grid of class ids (top = forward, left = left) with sensor cones and echoes.

    Args:
        grid_ids: (H, W) uint8 class ids (255 = unknown, drawn dark grey).
        grid: the BEV grid of `grid_ids`.
        palette: RGB colour per class id.
        sensors: ultrasonic sensor poses by name, to overlay.
        readings: ultrasonic ranges [m] by sensor name (NaN = no echo), to overlay.
        title: written above the grid.
        scale: pixels per grid cell.
        ego_size: length, width of the ego outline [m].
        ego_center_x: the ego outline's centre x [m].

    Returns:
        (H*scale, W*scale [+ title], 3) uint8 RGB picture.
    """
    lut = np.full((256, 3), 40, dtype=np.uint8)
    lut[:len(palette)] = np.asarray(palette, dtype=np.uint8)
    img = cv2.resize(lut[grid_ids], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    # Metre grid lines for scale.
    for m in range(-int(grid.extent), int(grid.extent) + 1, 1):
        p = int(round((grid.extent - m) / grid.resolution * scale))
        shade = (90, 90, 90) if m % 5 else (140, 140, 140)
        cv2.line(img, (p, 0), (p, img.shape[0] - 1), shade, 1)
        cv2.line(img, (0, p), (img.shape[1] - 1, p), shade, 1)
    overlay = img.copy()
    for name, sensor in (sensors or {}).items():
        rng = (readings or {}).get(name)
        angles = np.linspace(sensor.yaw - sensor.half_angle, sensor.yaw + sensor.half_angle, 24)
        reach = sensor.max_range if rng is None or np.isnan(rng) else rng
        arc = np.stack([sensor.x + reach * np.cos(angles), sensor.y + reach * np.sin(angles)], -1)
        fan = np.concatenate([[[sensor.x, sensor.y]], arc], 0)
        pts = _to_pixel(fan, grid, scale).round().astype(np.int32)
        missing = rng is None
        color = (120, 120, 120) if rng is None else (255, 255, 255) if np.isnan(rng) else (255, 220, 0)
        cv2.fillPoly(overlay, [pts], (60, 160, 255) if not missing else (60, 60, 60))
        cv2.polylines(img, [pts], True, color, 1, cv2.LINE_AA)
        if rng is not None and not np.isnan(rng):
            cv2.polylines(img, [_to_pixel(arc, grid, scale).round().astype(np.int32)], False, (255, 40, 40), 2,
                          cv2.LINE_AA)
    img = cv2.addWeighted(overlay, 0.25, img, 0.75, 0)
    half_l, half_w = ego_size[0] / 2, ego_size[1] / 2
    ego = np.array([[ego_center_x + half_l, half_w], [ego_center_x + half_l, -half_w],
                    [ego_center_x - half_l, -half_w], [ego_center_x - half_l, half_w]])
    cv2.polylines(img, [_to_pixel(ego, grid, scale).round().astype(np.int32)], True, (255, 255, 255), 2)
    if title:
        put_text(img, title, (6, 18))
    return img


def write_occupancy_picture(dataset: NearFieldOccupancyDataset, frame_id: str, pred_ids: np.ndarray,
                            out: str | Path, class_colours: np.ndarray) -> None:
    """Write the picture of one predicted frame (`omnifuse occupancy --png-dir`) to `out` (PNG, folders created).

    The prediction grid with the ultrasonic cones and echoes, beside the grouped ground truth when the frame has
    an occupancy/<id>.png, above the frame's camera image scaled to their width.

    Args:
        dataset: the NearFieldOccupancyDataset the frame comes from (its reader, grid and meta).
        frame_id: the frame's id.
        pred_ids: (H, W) uint8 predicted simulator class ids.
        out: the PNG file to write.
        class_colours: (C, 3) RGB colour per simulator class id (free space is drawn dark grey).
    """
    from omnifuse.datasets.kitti import read_rgb_image, read_ultrasonic_file
    from omnifuse.datasets.occupancy_dataset import GROUP_OF_SIM_ID, groups_to_sim_ids, read_occupancy_png
    from omnifuse.viz.draw import side_by_side, stack_vertically

    palette = [tuple(c) for c in class_colours]
    palette[0] = (55, 55, 55)  # free space: dark grey
    reader = dataset.reader
    calib = reader.read_calib(frame_id)
    readings = read_ultrasonic_file(reader.path('ultrasonic', frame_id, '.txt'))
    condition = dataset.meta(frame_id).get('condition', '')
    panels = [draw_occupancy(pred_ids, dataset.grid, palette, sensors=calib.ultrasonic, readings=readings,
                             title=f'{frame_id} prediction ({condition})')]
    gt_path = reader.path('occupancy', frame_id, '.png')
    if gt_path.is_file():
        groups = GROUP_OF_SIM_ID[read_occupancy_png(gt_path, dataset.grid)]
        truth = np.where(groups < 0, 255, groups_to_sim_ids(np.maximum(groups, 0))).astype(np.uint8)
        panels.append(draw_occupancy(truth, dataset.grid, palette,
                                     sensors=calib.ultrasonic, readings=readings, title='truth (grouped)'))
    top = side_by_side(panels)
    image = read_rgb_image(reader.path('image_2', frame_id, '.png'))
    width = top.shape[1]
    image = cv2.resize(image, (width, max(1, round(image.shape[0] * width / image.shape[1]))),
                       interpolation=cv2.INTER_AREA)
    picture = stack_vertically([top, image])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
