"""RGB-thermal and RGB-depth inputs for image segmentation: real-dataset readers and X-image builders.

Readers (real data, file boundary: OpenCV's BGR becomes RGB here):
    MFNet   one 4-channel PNG per frame: channels 0-2 colour, channel 3 thermal (8-bit); name suffix
            'D' = day, 'N' = night.
    PST900  separate RGB, thermal (8-bit, already projected into the RGB camera; black = no data)
            and label-id PNG (0 background, 1 fire extinguisher, 2 backpack, 3 hand drill, 4 survivor).
    M3FD, LLVIP   registered visible / infrared pairs (infrared stored as 3-channel grey; no labels).
All readers return an `RGBTSample`: rgb (H, W, 3) uint8 RGB, thermal (H, W) uint8 or uint16, label
(H, W) uint8 class ids or None.

X images registered to the RGB camera (what CMX consumes):
    `render_depth_image(points, camera, (H, W))`: LiDAR points -> sparse depth image [m], 0 = no return,
        the nearest point winning each pixel.
    `warp_thermal_to_camera(...)`: thermal image of another camera -> the RGB camera's pixels.
        Registration choice: per-pixel reprojection. Every RGB pixel gets a depth, lifted to 3D with
        the RGB camera, projected with the thermal camera and sampled bilinearly. The depth is the
        LiDAR depth where a LiDAR return is near (sparse depth densified by a 5x5 max filter on inverse
        depth, i.e. the nearest surface wins), and a fronto-parallel plane at `plane_depth` elsewhere.
        Without LiDAR this is exactly the plane-induced homography. Why: the parallax error of a
        plane homography is f * baseline * |1/z - 1/plane_depth| pixels, which is several pixels for
        near objects with a decimetre baseline; LiDAR depth removes it where it is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omnifuse.datasets.image_io import read_image_unchanged, read_rgb_image
from omnifuse.errors import FormatError, ShapeError
from omnifuse.structures import CameraModel

__all__ = ['RGBTSample', 'read_mfnet', 'read_pst900', 'read_rgbt_pair', 'read_thermal_image',
           'read_color_image', 'normalize_thermal', 'render_depth_image', 'warp_thermal_to_camera',
           'scaled_camera', 'PST900_CLASSES', 'MFNET_CLASSES']

PST900_CLASSES = ('background', 'fire_extinguisher', 'backpack', 'hand_drill', 'survivor')
MFNET_CLASSES = ('unlabeled', 'car', 'person', 'bike', 'curve', 'car_stop', 'guardrail', 'color_cone', 'bump')


@dataclass
class RGBTSample:
    """One registered RGB-thermal frame.

    Attributes:
        name: frame name (file stem).
        rgb: (H, W, 3) uint8 RGB.
        thermal: (H, W) uint8 or uint16, registered to `rgb`.
        label: (H, W) uint8 class ids, or None.
        class_names: names of the label ids, or None.
        condition: 'day', 'night' or None when unknown.
    """

    name: str
    rgb: np.ndarray
    thermal: np.ndarray
    label: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    condition: str | None = None


def read_color_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a colour, 4-channel (alpha dropped) or grey file."""
    return read_rgb_image(path)


def read_thermal_image(path: str | Path, *, max_channel_spread: float = 8.0) -> np.ndarray:
    """(H, W) uint8 or uint16 thermal image.

    Accepts single-channel 8/16-bit files and 3-channel grey files (as M3FD, LLVIP and PST900 store
    them; JPEG noise up to `max_channel_spread` grey levels on average is tolerated).

    Raises:
        FormatError: a colour (e.g. false-colour palette) image, or an unsupported depth.
    """
    img = read_image_unchanged(path)
    if img.dtype not in (np.uint8, np.uint16):
        raise FormatError(f'{path}: a thermal image must be 8- or 16-bit, found {img.dtype}')
    if img.ndim == 2:
        return img
    if img.shape[2] == 4:
        raise FormatError(f'{path}: a 4-channel image (MFNet?): read it with read_mfnet, or pass it as the RGB input')
    spread = float(np.abs(img[..., 0].astype(np.int32) - img[..., 1]).mean()
                   + np.abs(img[..., 1].astype(np.int32) - img[..., 2]).mean())
    if spread > max_channel_spread:
        raise FormatError(f'{path}: a thermal image must be grey, but its channels differ by {spread:.1f} '
                          'grey levels on average (a false-colour palette?)')
    return np.ascontiguousarray(img.mean(axis=2).round().astype(img.dtype))


def read_mfnet(path: str | Path) -> RGBTSample:
    """An MFNet 4-channel PNG (RGB + thermal); condition from the name suffix (D day, N night)."""
    path = Path(path)
    img = read_image_unchanged(path)
    if img.ndim != 3 or img.shape[2] != 4 or img.dtype != np.uint8:
        raise FormatError(f'{path}: an MFNet frame is an 8-bit 4-channel PNG, found shape {img.shape} {img.dtype}')
    rgb = np.ascontiguousarray(img[..., 2::-1])  # B G R A -> R G B
    thermal = np.ascontiguousarray(img[..., 3])
    suffix = path.stem[-1:].upper()
    condition = {'D': 'day', 'N': 'night'}.get(suffix)
    return RGBTSample(path.stem, rgb, thermal, None, MFNET_CLASSES, condition)


def _same_size(a: np.ndarray, b: np.ndarray, pa: str | Path, pb: str | Path) -> None:
    if a.shape[:2] != b.shape[:2]:
        raise FormatError(f'{pb}: size {b.shape[1]}x{b.shape[0]} differs from {pa} {a.shape[1]}x{a.shape[0]} '
                          '(the pair must be registered)')


def read_pst900(rgb_path: str | Path, thermal_path: str | Path, label_path: str | Path | None = None) -> RGBTSample:
    """A PST900 frame: RGB, thermal (projected into the RGB camera) and optional label ids 0..4."""
    rgb = read_color_image(rgb_path)
    thermal = read_thermal_image(thermal_path)
    _same_size(rgb, thermal, rgb_path, thermal_path)
    label = None
    if label_path is not None:
        raw = read_image_unchanged(label_path)
        if raw.ndim == 3:
            if not (np.array_equal(raw[..., 0], raw[..., 1]) and np.array_equal(raw[..., 1], raw[..., 2])):
                raise FormatError(f'{label_path}: expected a grey label-id image, found colour '
                                  '(the colour visualisation?)')
            raw = raw[..., 0]
        if raw.dtype != np.uint8:
            raise FormatError(f'{label_path}: label ids must be 8-bit, found {raw.dtype}')
        if raw.max() >= len(PST900_CLASSES):
            raise FormatError(f'{label_path}: label id {int(raw.max())} outside 0..{len(PST900_CLASSES) - 1}')
        _same_size(rgb, raw, rgb_path, label_path)
        label = raw
    return RGBTSample(Path(rgb_path).stem, rgb, thermal, label, PST900_CLASSES, None)


def read_rgbt_pair(visible_path: str | Path, infrared_path: str | Path, *, name: str | None = None,
                   condition: str | None = None) -> RGBTSample:
    """A registered visible / infrared pair (M3FD, LLVIP): no labels."""
    rgb = read_color_image(visible_path)
    thermal = read_thermal_image(infrared_path)
    _same_size(rgb, thermal, visible_path, infrared_path)
    return RGBTSample(name or Path(visible_path).stem, rgb, thermal, None, None, condition)


def normalize_thermal(thermal: np.ndarray, *, percentiles: tuple[float, float] = (1.0, 99.0),
                      valid: np.ndarray | None = None) -> np.ndarray:
    """Scale a thermal image to float32 [0, 1] between two percentiles of its (valid) pixels.

    Args:
        thermal: (H, W) uint8 / uint16 / float.
        percentiles: low and high percentile mapped to 0 and 1.
        valid: (H, W) bool pixels to take the statistics from (default: all).
    """
    t = np.asarray(thermal, dtype=np.float32)
    if t.ndim != 2:
        raise ShapeError(f'normalize_thermal: expected (H, W), got {t.shape}')
    sample = t[valid] if valid is not None and valid.any() else t.reshape(-1)
    lo, hi = np.percentile(sample, percentiles)
    if hi - lo < 1e-6:
        return np.zeros_like(t)
    return np.clip((t - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0).astype(np.float32)


def scaled_camera(camera: CameraModel, scale: float) -> CameraModel:
    """The same camera for an image resized by `scale` (pixel centres at integer coordinates)."""
    if scale == 1.0:
        return camera
    P = camera.P.copy()
    S = np.array([[scale, 0, 0.5 * scale - 0.5], [0, scale, 0.5 * scale - 0.5], [0, 0, 1.0]])
    return CameraModel(S @ P, camera.T_cam_lidar, int(round(camera.width * scale)),
                       int(round(camera.height * scale)))


def render_depth_image(points: np.ndarray, camera: CameraModel, size: tuple[int, int], *,
                       min_depth: float = 0.1) -> np.ndarray:
    """Sparse depth image of LiDAR points seen by `camera`.

    Args:
        points: (N, >=3) LiDAR-frame points.
        camera: the camera (P, T_cam_lidar).
        size: (H, W) of the image.
        min_depth: points closer than this along the optical axis [m] are dropped.

    Returns:
        (H, W) float32 depth along the optical axis [m]; 0 where no point projects; where several
        points fall in one pixel, the nearest.
    """
    h, w = size
    out = np.full(h * w, np.inf, dtype=np.float32)
    pts = np.asarray(points)
    if len(pts):
        uv, depth = camera.project(pts)
        with np.errstate(invalid='ignore'):
            u = np.floor(uv[:, 0] + 0.5)
            v = np.floor(uv[:, 1] + 0.5)
            ok = (depth > min_depth) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        flat = (v[ok].astype(np.int64) * w + u[ok].astype(np.int64))
        np.minimum.at(out, flat, depth[ok].astype(np.float32))
    out[np.isinf(out)] = 0.0
    return out.reshape(h, w)


def _densify(depth: np.ndarray, plane_depth: float, kernel: int = 5, iterations: int = 2) -> np.ndarray:
    import cv2

    inv = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-6), 0.0).astype(np.float32)
    grown = cv2.dilate(inv, np.ones((kernel, kernel), np.uint8), iterations=iterations)
    return np.where(grown > 0, 1.0 / np.maximum(grown, 1e-6), plane_depth).astype(np.float64)


def warp_thermal_to_camera(thermal: np.ndarray, thermal_camera: CameraModel, camera: CameraModel,
                           size: tuple[int, int], *, depth: np.ndarray | None = None,
                           plane_depth: float = 15.0, fill: float = 0.0) -> np.ndarray:
    """Resample a thermal image into the pixels of the RGB `camera` (see the module docstring).

    Args:
        thermal: (h_t, w_t) thermal image (any numeric dtype; float32 out).
        thermal_camera: calibration of the thermal camera (LiDAR frame).
        camera: calibration of the RGB camera (LiDAR frame).
        size: (H, W) of the RGB image.
        depth: optional (H, W) sparse depth [m] in the RGB camera (render_depth_image), 0 = unknown.
        plane_depth: depth assumed where no LiDAR depth is near [m].
        fill: value of RGB pixels the thermal camera does not see.

    Returns:
        (H, W) float32 thermal values in the RGB camera.
    """
    import cv2

    h, w = size
    if depth is not None and depth.shape != (h, w):
        raise ShapeError(f'warp_thermal_to_camera: depth {depth.shape} does not match size {(h, w)}')
    d = _densify(depth, plane_depth) if depth is not None else np.full((h, w), plane_depth)
    vv, uu = np.mgrid[0:h, 0:w]
    uv = np.stack([uu.reshape(-1), vv.reshape(-1)], 1).astype(np.float64)
    pts = camera.lift(uv, d.reshape(-1))  # (H*W, 3) LiDAR frame
    uv_t, z_t = thermal_camera.project(pts)
    bad = ~(z_t > 1e-3)
    uv_t[bad] = -1e4
    map_x = uv_t[:, 0].reshape(h, w).astype(np.float32)
    map_y = uv_t[:, 1].reshape(h, w).astype(np.float32)
    src = np.asarray(thermal, dtype=np.float32)
    return cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
