"""Pictures of tracks: boxes coloured by track id with '#id' labels, velocity arrows and trails, in the BEV
and on camera images (used by `omnifuse detect --track --png` and `make demo`)."""

from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence

import numpy as np

from omnifuse.structures import CameraModel
from omnifuse.structures.tracks import Tracks
from omnifuse.viz.draw import draw_bev, draw_boxes_on_image, project_box_edges, put_text

__all__ = ['track_color', 'track_tags', 'draw_tracks_bev', 'draw_tracks_on_image', 'caption']


def track_color(track_id: int) -> tuple[int, int, int]:
    """A bright RGB colour per track id (neighbouring ids get distant hues)."""
    hue = (int(track_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 1.0)
    return (int(r * 255), int(g * 255), int(b * 255))


def track_tags(tracks: Tracks, *, speed: bool = True) -> list[str]:
    """'#12 Car 5.1 m/s' per track (the speed over the ground plane), or '#12 Car'."""
    tags = []
    for i in range(len(tracks)):
        tag = f'#{int(tracks.ids[i])} {tracks.names[i]}'
        if speed:
            tag += f' {float(np.hypot(*tracks.velocities[i, :2])):.1f} m/s'
        tags.append(tag)
    return tags


def draw_tracks_bev(points: np.ndarray | None, tracks: Tracks, *,
                    trails: Mapping[int, np.ndarray | Sequence[Sequence[float]]] | None = None,
                    others: Sequence[tuple] = (), arrow_seconds: float = 1.0,
                    bev_range: tuple[float, float, float, float] = (0.0, -40.0, 70.4, 40.0),
                    resolution: float = 0.1, speed: bool = True) -> np.ndarray:
    """BEV of `points` with the tracks: box and '#id class speed' label in the track's colour, an arrow from
    the centre to where the object will be in `arrow_seconds` (its velocity), and its trail.

    Args:
        points: (N, >=3) points, LiDAR frame, or None.
        tracks: the tracks (LiDAR frame).
        trails: per track id, earlier centres (x, y) in this LiDAR frame, oldest first.
        others: more box groups for `draw_bev` drawn under the tracks (e.g. ground truth).
        arrow_seconds: length of the velocity arrows in seconds of motion.
        bev_range: as in `draw_bev`.
        resolution: as in `draw_bev`.
        speed: write the speed in the labels.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    import cv2

    colours = [track_color(int(i)) for i in tracks.ids]
    groups = list(others)
    if len(tracks):
        groups.append((tracks.boxes.data, np.asarray(colours), track_tags(tracks, speed=speed)))
    img = draw_bev(points, groups, bev_range=bev_range, resolution=resolution)
    _, _, x1, y1 = (float(v) for v in bev_range)

    def px(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return np.round(np.stack([(y1 - xy[:, 1]) / resolution, (x1 - xy[:, 0]) / resolution], 1)).astype(np.int32)

    for i in range(len(tracks)):
        colour = colours[i]
        tid = int(tracks.ids[i])
        if trails and tid in trails and len(trails[tid]):
            path = np.vstack([np.asarray(trails[tid], np.float64).reshape(-1, 2), tracks.boxes.data[i, :2]])
            cv2.polylines(img, [px(path).reshape(-1, 1, 2)], False, colour, 1, cv2.LINE_AA)
            for p in px(path[:-1]):
                cv2.circle(img, (int(p[0]), int(p[1])), 2, colour, -1, cv2.LINE_AA)
        start = tracks.boxes.data[i, :2]
        end = start + tracks.velocities[i, :2] * arrow_seconds
        a, b = px(np.stack([start, end]))
        if np.hypot(*(b - a)) >= 2:
            cv2.arrowedLine(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), colour, 2, cv2.LINE_AA,
                            tipLength=0.25)
    return img


def draw_tracks_on_image(img: np.ndarray, tracks: Tracks, camera: CameraModel) -> np.ndarray:
    """The tracks' 3D boxes projected into `img` (RGB) in their colours with '#id class' labels."""
    from omnifuse.structures.geometry import box_corners

    if not len(tracks):
        return img.copy()
    colours = [track_color(int(i)) for i in tracks.ids]
    return draw_boxes_on_image(img, project_box_edges(box_corners(tracks.boxes.data), camera), colours,
                               track_tags(tracks, speed=False))


def caption(img: np.ndarray, text: str) -> np.ndarray:
    """`img` with `text` written in its top-left corner (a copy)."""
    out = img.copy()
    put_text(out, text, (8, 22), color=(255, 255, 255), scale=0.6, background=(0, 0, 0))
    return out
