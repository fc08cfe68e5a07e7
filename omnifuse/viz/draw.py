"""Drawing helpers (OpenCV only): points and 3D boxes on camera images, bird's-eye views, layouts.

Images are (H, W, 3) uint8 RGB in and out; functions return a new image unless they say otherwise.
Box corners follow `omnifuse.structures.geometry.box_corners` (0-3 bottom, 4-7 top; 0, 1, 4, 5 the
front face, which is drawn with a cross so the heading is visible).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from omnifuse.errors import ShapeError
from omnifuse.structures import CameraModel
from omnifuse.viz.colors import colormap, depth_colors

__all__ = ['BOX_EDGES', 'project_box_edges', 'draw_points_on_image', 'draw_boxes_on_image', 'draw_bev',
           'side_by_side', 'stack_vertically', 'text_panel', 'depth_colorbar', 'put_text', 'text_width']

# 12 box edges, then the 2 diagonals of the front face (0, 1, 4, 5).
BOX_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
                      [0, 4], [1, 5], [2, 6], [3, 7], [0, 5], [1, 4]])
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


def _rgb(color: Sequence[int] | np.ndarray) -> tuple[int, int, int]:
    c = [int(v) for v in color]
    return (c[0], c[1], c[2])


def _check_image(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ShapeError(f'expected an (H, W, 3) uint8 RGB image, got {arr.shape} {arr.dtype}')
    return arr


def text_width(text: str, *, scale: float = 0.5, thickness: int = 1) -> int:
    """Width in pixels of `text` as put_text draws it."""
    import cv2

    return int(cv2.getTextSize(text, _FONT, scale, thickness)[0][0])


def put_text(img: np.ndarray, text: str, org: tuple[int, int], *, color: Sequence[int] = (255, 255, 255),
             scale: float = 0.5, thickness: int = 1, background: Sequence[int] | None = (0, 0, 0)) -> None:
    """Write `text` in place with its baseline-left at `org` (x, y), on a filled box when `background`."""
    import cv2

    (w, h), base = cv2.getTextSize(text, _FONT, scale, thickness)
    x, y = int(org[0]), int(org[1])
    if background is not None:
        cv2.rectangle(img, (x - 2, y - h - 3), (x + w + 2, y + base + 1), _rgb(background), -1)
    cv2.putText(img, text, (x, y), _FONT, scale, _rgb(color), thickness, cv2.LINE_AA)


def draw_points_on_image(img: np.ndarray, uv: np.ndarray, depth: np.ndarray, *, max_depth: float = 60.0,
                         radius: int = 1, colors: np.ndarray | None = None) -> np.ndarray:
    """Draw projected points coloured by depth (near red, far blue), far points first.

    Args:
        img: (H, W, 3) uint8 RGB.
        uv: (N, 2) pixel coordinates.
        depth: (N,) depth [m]; points with depth <= 0 or outside the image are skipped.
        max_depth: depth mapped to the far end of the colormap.
        radius: dot radius in pixels (0 = single pixel).
        colors: (N, 3) uint8 RGB to use instead of the depth colours.

    Returns:
        a new image.
    """
    out = _check_image(img).copy()
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    depth = np.asarray(depth, dtype=np.float64).reshape(-1)
    if len(uv) != len(depth):
        raise ShapeError(f'draw_points_on_image: {len(uv)} pixels but {len(depth)} depths')
    h, w = out.shape[:2]
    with np.errstate(invalid='ignore'):
        ok = (depth > 0) & np.isfinite(uv).all(1)
        ok &= (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    idx = np.nonzero(ok)[0]
    idx = idx[np.argsort(-depth[idx], kind='stable')]  # far first, near drawn on top
    if colors is None:
        rgb = depth_colors(depth[idx], max_depth=max_depth)
    else:
        rgb = np.asarray(colors, np.uint8)[idx]
    px = np.floor(uv[idx]).astype(np.int64)
    r = max(int(radius), 0)
    offsets = [(dx, dy) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dx * dx + dy * dy <= r * r]
    for dx, dy in offsets:
        x = px[:, 0] + dx
        y = px[:, 1] + dy
        keep = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        # numpy assigns repeated indices in order: the last (nearest) point wins.
        out[y[keep], x[keep]] = rgb[keep]
    return out


def project_box_edges(corners: np.ndarray, camera: CameraModel, *, near: float = 0.1) -> np.ndarray:
    """Project box edges into an image, clipping each edge where it crosses the near plane.

    Args:
        corners: (N, 8, 3) corners in the LiDAR frame (`Boxes3D.corners()`).
        camera: the camera.
        near: depth [m] of the clipping plane.

    Returns:
        (N, 14, 2, 2) segments [(u0, v0), (u1, v1)] in pixels for the edges of `BOX_EDGES`;
        NaN where an edge lies wholly behind the plane.
    """
    c = np.asarray(corners, dtype=np.float64)
    if c.ndim != 3 or c.shape[1:] != (8, 3):
        raise ShapeError(f'project_box_edges: expected (N, 8, 3) corners, got {c.shape}')
    T = camera.T_cam_lidar
    cam = c @ T[:3, :3].T + T[:3, 3]  # (N, 8, 3) camera frame
    a = cam[:, BOX_EDGES[:, 0]]  # (N, E, 3)
    b = cam[:, BOX_EDGES[:, 1]]
    za, zb = a[..., 2:3], b[..., 2:3]
    hidden = ((za < near) & (zb < near))[..., 0]
    # Hidden edges (both ends behind, possibly za == zb) give NaN here and are masked below.
    with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
        t = (near - za) / (zb - za)  # where the edge meets z = near
        cross = a + t * (b - a)
        a2 = np.where(za < near, cross, a)
        b2 = np.where(zb < near, cross, b)
        seg = np.stack([a2, b2], 2)  # (N, E, 2, 3)
        seg[hidden] = 1.0  # placeholder in front of the camera, overwritten with NaN below
        hom = seg @ camera.P[:, :3].T + camera.P[:, 3]
        uv = hom[..., :2] / hom[..., 2:3]
    uv[hidden] = np.nan
    return uv


def draw_boxes_on_image(img: np.ndarray, corners_uv: np.ndarray,
                        colors: Sequence[Sequence[int]] | None = None,
                        labels: Sequence[str] | None = None, *, thickness: int = 2) -> np.ndarray:
    """Draw projected 3D boxes (12 edges + a cross on the front face) with optional labels.

    Args:
        img: (H, W, 3) uint8 RGB.
        corners_uv: (N, 8, 2) projected corners (NaN corners skip their edges), or (N, 14, 2, 2)
            clipped segments from `project_box_edges`.
        colors: N RGB colours (default green).
        labels: N strings written above each box (empty string: no label).
        thickness: line width in pixels.

    Returns:
        a new image.
    """
    import cv2

    out = _check_image(img).copy()
    arr = np.asarray(corners_uv, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[1:] == (8, 2):
        segs = np.stack([arr[:, BOX_EDGES[:, 0]], arr[:, BOX_EDGES[:, 1]]], 2)
    elif arr.ndim == 4 and arr.shape[1:] == (len(BOX_EDGES), 2, 2):
        segs = arr
    elif arr.size == 0:
        return out
    else:
        raise ShapeError('draw_boxes_on_image: expected (N, 8, 2) corners or (N, 14, 2, 2) segments, '
                         f'got {arr.shape}')
    n = len(segs)
    if colors is not None and len(colors) != n:
        raise ShapeError(f'draw_boxes_on_image: {n} boxes but {len(colors)} colours')
    if labels is not None and len(labels) != n:
        raise ShapeError(f'draw_boxes_on_image: {n} boxes but {len(labels)} labels')
    h, w = out.shape[:2]
    lim = 4 * max(h, w)  # keep far-off endpoints in int range; cv2 clips lines to the image
    for i in range(n):
        color = _rgb(colors[i]) if colors is not None else (0, 255, 0)
        drawn: list[Sequence[int]] = []
        for e, (p, q) in enumerate(segs[i]):
            if not (np.isfinite(p).all() and np.isfinite(q).all()):
                continue
            p = np.clip(p, -lim, lim)
            q = np.clip(q, -lim, lim)
            ok, p1, p2 = cv2.clipLine((0, 0, w, h), (int(round(p[0])), int(round(p[1]))),
                                      (int(round(q[0])), int(round(q[1]))))
            if ok:
                cv2.line(out, p1, p2, color, thickness if e < 12 else max(1, thickness - 1), cv2.LINE_AA)
                drawn += [p1, p2]
        if labels is not None and labels[i] and drawn:  # label only boxes that show in the image
            pts = np.array(drawn)
            x = int(np.clip(pts[:, 0].min(), 0, max(w - 60, 0)))
            y = int(np.clip(pts[:, 1].min() - 6, 14, h - 4))
            put_text(out, labels[i], (x, y), color=color, scale=0.45)
    return out


def draw_bev(points: np.ndarray | None,
             boxes_list_with_colors: Sequence[tuple] = (), *,
             bev_range: tuple[float, float, float, float] = (0.0, -40.0, 70.4, 40.0),
             resolution: float = 0.1, point_colors: np.ndarray | None = None,
             lines: Sequence[tuple[np.ndarray, Sequence[int]]] = (), grid: float = 10.0,
             background: Sequence[int] = (16, 16, 16)) -> np.ndarray:
    """Bird's-eye view: +x (forward) points up the image, +y (left) to the left.

    Args:
        points: (N, >=3) points, LiDAR frame, or None; coloured by height unless `point_colors`.
        boxes_list_with_colors: groups of boxes, each `(boxes (M, 7), colour)` or
            `(boxes, colour, labels)`; colour is one RGB triple or M of them; labels M strings.
        bev_range: (x_min, y_min, x_max, y_max) [m] shown.
        resolution: metres per pixel.
        point_colors: (N, 3) uint8 RGB colours of the points.
        lines: extra polylines `((K, 2) xy points [m], colour)`, e.g. a camera's field of view.
        grid: spacing [m] of the grid lines and their labels (0: no grid).
        background: RGB background.

    Returns:
        (H, W, 3) uint8 RGB with H = (x_max - x_min) / resolution, W = (y_max - y_min) / resolution.
    """
    import cv2

    x0, y0, x1, y1 = (float(v) for v in bev_range)
    if x1 <= x0 or y1 <= y0 or resolution <= 0:
        raise ShapeError(f'draw_bev: bad bev_range {bev_range} or resolution {resolution}')
    H, W = int(round((x1 - x0) / resolution)), int(round((y1 - y0) / resolution))
    img = np.empty((H, W, 3), np.uint8)
    img[:] = _rgb(background)

    def to_px(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return np.stack([(y1 - xy[:, 1]) / resolution, (x1 - xy[:, 0]) / resolution], 1)  # (col, row)

    if grid > 0:
        for gx in np.arange(np.ceil(x0 / grid) * grid, x1 + 1e-9, grid):
            r = int(round((x1 - gx) / resolution))
            cv2.line(img, (0, r), (W - 1, r), (60, 60, 60), 1)
            put_text(img, f'{gx:.0f} m', (3, max(r - 3, 12)), color=(150, 150, 150), scale=0.4,
                     background=None)
        for gy in np.arange(np.ceil(y0 / grid) * grid, y1 + 1e-9, grid):
            c = int(round((y1 - gy) / resolution))
            cv2.line(img, (c, 0), (c, H - 1), (60, 60, 60), 1)
    for xy, color in lines:
        px = np.round(to_px(xy)).astype(np.int32)
        cv2.polylines(img, [px.reshape(-1, 1, 2)], False, _rgb(color), 1, cv2.LINE_AA)

    if points is not None and len(points):
        pts = np.asarray(points)
        if pts.ndim != 2 or pts.shape[1] < 3:
            raise ShapeError(f'draw_bev: expected (N, >=3) points, got {pts.shape}')
        px = np.floor(to_px(pts[:, :2])).astype(np.int64)
        ok = (px[:, 0] >= 0) & (px[:, 0] < W) & (px[:, 1] >= 0) & (px[:, 1] < H)
        if point_colors is None:
            z = pts[ok, 2].astype(np.float64)
            lo, hi = (np.percentile(z, [2, 98]) if len(z) else (0.0, 1.0))
            cols = colormap(z, vmin=float(lo), vmax=float(hi) if hi > lo else float(lo) + 1.0)
            # Dim the colours a little so that the boxes stand out.
            cols = (cols.astype(np.float32) * 0.8 + 20).astype(np.uint8)
        else:
            cols = np.asarray(point_colors, np.uint8)[ok]
        img[px[ok, 1], px[ok, 0]] = cols

    from omnifuse.structures.geometry import bev_corners

    # Ego: a small triangle at the origin pointing along +x.
    ego = np.array([[2.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]])
    cv2.fillPoly(img, [np.round(to_px(ego)).astype(np.int32).reshape(-1, 1, 2)], (255, 255, 255), cv2.LINE_AA)
    for group in boxes_list_with_colors:
        boxes = np.asarray(group[0], dtype=np.float64).reshape(-1, 7)
        color = group[1]
        labels = group[2] if len(group) > 2 else None
        per_box = np.asarray(color).ndim == 2
        corners = bev_corners(boxes) if len(boxes) else np.zeros((0, 4, 2))
        for i, quad in enumerate(corners):
            box_color = _rgb(color[i] if per_box else color)
            px = np.round(to_px(quad)).astype(np.int32)
            cv2.polylines(img, [px.reshape(-1, 1, 2)], True, box_color, 2, cv2.LINE_AA)
            front = np.round(to_px(np.stack([boxes[i, :2], quad[:2].mean(0)]))).astype(np.int32)
            cv2.line(img, (int(front[0, 0]), int(front[0, 1])), (int(front[1, 0]), int(front[1, 1])),
                     box_color, 2, cv2.LINE_AA)  # heading
            if labels is not None and labels[i]:
                top = px[np.argmin(px[:, 1])]
                put_text(img, labels[i], (int(top[0]) + 4, int(top[1]) - 4), color=box_color, scale=0.45,
                         background=(0, 0, 0))
    return img


def _pad(img: np.ndarray, h: int, w: int, background: Sequence[int]) -> np.ndarray:
    out = np.empty((h, w, 3), np.uint8)
    out[:] = _rgb(background)
    out[: img.shape[0], : img.shape[1]] = img
    return out


def side_by_side(images: Sequence[np.ndarray], *, gap: int = 8, height: int | None = None,
                 background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Place images left to right, top-aligned.

    Args:
        images: (H_i, W_i, 3) uint8 RGB images.
        gap: pixels between images.
        height: resize every image to this height first (keeping aspect); None pads to the tallest.
        background: RGB of the padding.
    """
    import cv2

    imgs = [_check_image(i) for i in images]
    if not imgs:
        raise ShapeError('side_by_side: no images')
    if height is not None:
        imgs = [cv2.resize(i, (max(1, round(i.shape[1] * height / i.shape[0])), height),
                           interpolation=cv2.INTER_AREA) for i in imgs]
    H = max(i.shape[0] for i in imgs)
    parts: list[np.ndarray] = []
    for k, img in enumerate(imgs):
        if k:
            parts.append(_pad(np.zeros((0, 0, 3), np.uint8), H, gap, background))
        parts.append(_pad(img, H, img.shape[1], background))
    return np.concatenate(parts, 1)


def stack_vertically(images: Sequence[np.ndarray], *, gap: int = 8,
                     background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Place images top to bottom, left-aligned, padded to the widest."""
    imgs = [_check_image(i) for i in images]
    if not imgs:
        raise ShapeError('stack_vertically: no images')
    W = max(i.shape[1] for i in imgs)
    parts: list[np.ndarray] = []
    for k, img in enumerate(imgs):
        if k:
            parts.append(_pad(np.zeros((0, 0, 3), np.uint8), gap, W, background))
        parts.append(_pad(img, img.shape[0], W, background))
    return np.concatenate(parts, 0)


def text_panel(lines: Sequence[str | tuple[str, Sequence[int]]], *, width: int, line_height: int = 22,
               scale: float = 0.55, background: Sequence[int] = (255, 255, 255),
               color: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """An image holding lines of text (each a string, or `(string, RGB colour)`)."""
    img = np.empty((line_height * len(lines) + 8, width, 3), np.uint8)
    img[:] = _rgb(background)
    for k, line in enumerate(lines):
        text, col = (line, color) if isinstance(line, str) else line
        put_text(img, text, (6, line_height * (k + 1)), color=col, scale=scale, background=None,
                 thickness=1)
    return img


def depth_colorbar(width: int, *, max_depth: float = 60.0, height: int = 14,
                   background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """A horizontal colour bar of `depth_colors` from 0 to max_depth with tick labels."""
    import cv2

    bar = depth_colors(np.linspace(0, max_depth, width), max_depth=max_depth)  # (W, 3)
    img = np.empty((height + 18, width, 3), np.uint8)
    img[:] = _rgb(background)
    img[:height] = bar[None]
    step = 10.0 if max_depth <= 80 else 20.0
    for d in np.arange(0.0, max_depth + 1e-9, step):
        x = int(round(d / max_depth * (width - 1)))
        cv2.line(img, (x, 0), (x, height + 2), (0, 0, 0), 1)
        label = f'{d:.0f} m'
        x = min(max(x - 12, 0), width - 40)
        put_text(img, label, (x, height + 15), color=(0, 0, 0), scale=0.4, background=None)
    return img
