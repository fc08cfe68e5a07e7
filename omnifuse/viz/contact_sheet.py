"""A contact sheet of every simulated sensor for a few frames (one PNG, for looking at the data).

Per frame: the camera with 2D boxes, the thermal image (8-bit AGC, inferno) with projected boxes, the LiDAR
bird's-eye view coloured by class with the 3D boxes, the near-field occupancy grid with the ultrasonic
cones and echoes, the camera and thermal semantic masks and the class legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from omnifuse.datasets.sim import classes as C
from omnifuse.datasets.sim.labels import OCC_RANGE, OCC_SIZE
from omnifuse.datasets.sim.thermal import thermal_to_8bit
from omnifuse.structures import SensorFrame
from omnifuse.structures.geometry import bev_corners
from omnifuse.viz.colors import class_color, class_palette

__all__ = ['contact_sheet', 'colorize']

_PAL = class_palette(C.SEMANTIC_CLASSES)  # by semantic class id
_BEV = dict(x_min=-20.0, x_max=55.0, y_half=40.0, ppm=5.0)


def colorize(classes: np.ndarray) -> np.ndarray:
    """(H, W) uint8 class ids -> (H, W, 3) uint8 RGB (the class palette, viz.colors; unknown ids white)."""
    pal = np.full((256, 3), 255, np.uint8)
    pal[:len(_PAL)] = _PAL
    return pal[classes]


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5,
          rgb: tuple[int, int, int] = (255, 255, 255)) -> None:
    import cv2

    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = org
    img[max(0, y - h - 2):y + base, max(0, x - 2):x + w + 2] //= 3
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, rgb, 1, cv2.LINE_AA)


def _camera_panel(frame: SensorFrame) -> np.ndarray:
    import cv2

    img = frame.images['image_2'].copy()
    labels = frame.labels
    if labels is not None:
        for name, box, occ in zip(labels.names, labels.bbox_2d, labels.occluded, strict=True):
            if box[2] <= box[0]:
                continue
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), class_color(name), 2)
            if name != 'DontCare':
                _text(img, f'{name[:3]} o{occ}', (x1, max(12, y1 - 3)), 0.4, class_color(name))
    return img


def _thermal_panel(frame: SensorFrame, height: int) -> np.ndarray:
    import cv2

    raw = frame.thermal['thermal']
    img = cv2.applyColorMap(thermal_to_8bit(raw), cv2.COLORMAP_INFERNO)[..., ::-1].copy()
    cam = frame.calib.thermal.get('thermal') if frame.calib else None
    labels = frame.labels
    if cam is not None and labels is not None and len(labels):
        keep = [i for i, n in enumerate(labels.names) if n != 'DontCare']
        boxes = labels.boxes[np.array(keep, int)] if keep else None
        if boxes is not None and len(boxes):
            proj = boxes.project_to_image(cam)
            for i, b in zip(keep, proj, strict=True):
                if np.all(np.isfinite(b)) and b[2] > b[0] and b[3] > b[1]:
                    cv2.rectangle(img, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])),
                                  class_color(labels.names[i]), 1)
    w = int(round(img.shape[1] * height / img.shape[0]))
    return cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)


def _bev_panel(frame: SensorFrame) -> np.ndarray:
    import cv2

    x0, x1, yh, ppm = _BEV['x_min'], _BEV['x_max'], _BEV['y_half'], _BEV['ppm']
    H, W = int((x1 - x0) * ppm), int(2 * yh * ppm)
    img = np.full((H, W, 3), 18, np.uint8)

    def to_px(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ((yh - y) * ppm).astype(np.int32), ((x1 - x) * ppm).astype(np.int32)

    pts = frame.points
    assert pts is not None, 'a simulator frame has points'
    cls = getattr(frame, 'point_labels', None)
    cols, rows = to_px(pts[:, 0], pts[:, 1])
    ok = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
    if cls is not None:
        cls = np.asarray(cls)
        colour = np.clip(colorize(cls).astype(np.int32) + 70, 0, 255).astype(np.uint8)
        flat = (cls == C.ROAD) | (cls == C.SIDEWALK) | (cls == C.TERRAIN)
        colour[flat] = (75, 75, 75)
        order = np.argsort(~flat[ok], kind='stable')  # ground first, objects drawn over it
        img[rows[ok][order], cols[ok][order]] = colour[ok][order]
    else:
        img[rows[ok], cols[ok]] = (200, 200, 200)
    for r in (10, 20, 30, 40, 50):
        cv2.circle(img, tuple(int(v) for v in to_px(np.array(0.0), np.array(0.0))), int(r * ppm), (60, 60, 60), 1)
    if frame.labels is not None:
        for name, corners in zip(frame.labels.names, bev_corners(frame.labels.boxes.data), strict=True):
            pc, pr = to_px(corners[:, 0], corners[:, 1])
            poly = np.stack([pc, pr], 1).reshape(-1, 1, 2)
            cv2.polylines(img, [poly], True, class_color(name), 1, cv2.LINE_AA)
            cv2.line(img, tuple(int(v) for v in poly[0, 0]), tuple(int(v) for v in poly[1, 0]), (255, 255, 255), 1)
    cx, cy = to_px(np.array(0.0), np.array(0.0))
    cv2.rectangle(img, (int(cx) - 4, int(cy) - 11), (int(cx) + 4, int(cy) + 11), (255, 255, 255), -1)
    _text(img, 'LiDAR BEV', (6, 16))
    return img


def _occupancy_panel(frame: SensorFrame, size: int) -> np.ndarray:
    import cv2

    occ = getattr(frame, 'occupancy', None)
    base = colorize(occ) if occ is not None else np.zeros((OCC_SIZE, OCC_SIZE, 3), np.uint8)
    img = cv2.resize(base, (size, size), interpolation=cv2.INTER_NEAREST)
    ppm = size / (2 * OCC_RANGE)

    def to_px(x: float, y: float) -> tuple[int, int]:
        return int(round((OCC_RANGE - y) * ppm)), int(round((OCC_RANGE - x) * ppm))

    overlay = img.copy()
    calib = frame.calib
    if calib is not None:
        for name, us in calib.ultrasonic.items():
            r = frame.ultrasonic.get(name, math.nan)
            reach = us.max_range if not math.isfinite(r) else r
            angles = np.linspace(us.yaw - us.half_angle, us.yaw + us.half_angle, 16)
            pts = [to_px(us.x, us.y)] + [to_px(us.x + reach * math.cos(a), us.y + reach * math.sin(a)) for a in angles]
            colour = (255, 255, 255) if not math.isfinite(r) else (255, 220, 0)
            cv2.fillPoly(overlay, [np.array(pts, np.int32).reshape(-1, 1, 2)], colour)
            if math.isfinite(r):
                arc = np.array([to_px(us.x + r * math.cos(a), us.y + r * math.sin(a)) for a in angles], np.int32)
                cv2.polylines(img, [arc.reshape(-1, 1, 2)], False, (255, 0, 0), 2, cv2.LINE_AA)
    img = cv2.addWeighted(overlay, 0.25, img, 0.75, 0)
    for name, us in (calib.ultrasonic.items() if calib is not None else ()):
        r = frame.ultrasonic.get(name, math.nan)
        if math.isfinite(r):
            angles = np.linspace(us.yaw - us.half_angle, us.yaw + us.half_angle, 16)
            arc = np.array([to_px(us.x + r * math.cos(a), us.y + r * math.sin(a)) for a in angles], np.int32)
            cv2.polylines(img, [arc.reshape(-1, 1, 2)], False, (255, 0, 0), 2, cv2.LINE_AA)
    ex0, ey0 = to_px(2.55, 0.9)
    ex1, ey1 = to_px(-2.05, -0.9)
    cv2.rectangle(img, (ex0, ey0), (ex1, ey1), (255, 255, 255), 2)
    _text(img, 'occupancy +-10 m, ultrasonic', (6, 16), 0.45)
    return img


def _legend(height: int, width: int) -> np.ndarray:
    img = np.full((height, width, 3), 30, np.uint8)
    rows = math.ceil(len(C.SEMANTIC_CLASSES) / 2)
    step = max(14, (height - 10) // rows)
    for i, name in enumerate(C.SEMANTIC_CLASSES):
        col, row = divmod(i, rows)
        x, y = 8 + col * (width // 2), 8 + row * step
        img[y:y + 12, x:x + 12] = _PAL[i]
        _text(img, name, (x + 18, y + 11), 0.42)
    return img


def _frame_block(frame: SensorFrame) -> np.ndarray:
    import cv2

    assert frame.points is not None, 'a simulator frame has points'
    cam = _camera_panel(frame)
    H = cam.shape[0]
    th = _thermal_panel(frame, H)
    top = np.concatenate([cam, th], 1)
    W = top.shape[1]
    bev = _bev_panel(frame)
    bev = cv2.resize(bev, (int(bev.shape[1] * H / bev.shape[0]), H), interpolation=cv2.INTER_AREA)
    occ = _occupancy_panel(frame, H)
    rest = W - bev.shape[1] - occ.shape[1]
    sem = getattr(frame, 'semantic_2', None)
    semt = getattr(frame, 'semantic_thermal', None)
    half = H // 2
    right = np.full((H, rest, 3), 30, np.uint8)
    if sem is not None:
        s2 = cv2.resize(colorize(sem), (rest, half), interpolation=cv2.INTER_NEAREST)
        right[:half] = s2
    bottom_w = 0
    if semt is not None:
        st = colorize(semt)
        bottom_w = min(rest // 2, int(half * st.shape[1] / st.shape[0]))
        right[half:half + half, :bottom_w] = cv2.resize(st, (bottom_w, half), interpolation=cv2.INTER_NEAREST)
    right[half:, bottom_w:] = _legend(H - half, rest - bottom_w)
    _text(right, 'semantic image_2', (6, 16), 0.45)
    _text(right, 'semantic thermal', (6, half + 16), 0.45)
    bottom = np.concatenate([bev, occ, right], 1)
    title = np.full((26, W, 3), 45, np.uint8)
    meta = frame.meta
    n_obj = 0 if frame.labels is None else sum(n != 'DontCare' for n in frame.labels.names)
    n_echo = sum(math.isfinite(v) for v in frame.ultrasonic.values())
    _text(title, f'frame {frame.frame_id}  seq {meta.get("sequence", "-")}  seed {meta.get("seed", "-")}  '
                 f'condition {meta.get("condition", "-")}  faults {meta.get("faults", {}) or "none"}  '
                 f'{len(frame.points)} points  {n_obj} objects  {n_echo}/{len(frame.ultrasonic)} echoes',
          (8, 18), 0.5)
    return np.concatenate([title, top, bottom], 0)


def contact_sheet(frames: Sequence[SensorFrame]) -> np.ndarray:
    """(H, W, 3) uint8 RGB sheet with one block per frame (see the module docstring)."""
    if not frames:
        raise ValueError('contact_sheet needs at least one frame')
    blocks = [_frame_block(f) for f in frames]
    width = max(b.shape[1] for b in blocks)
    padded = [np.pad(b, ((0, 4), (0, width - b.shape[1]), (0, 0))) for b in blocks]
    return np.concatenate(padded, 0)
