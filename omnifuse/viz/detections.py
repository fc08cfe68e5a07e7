"""Pictures of detections and tracks on a frame: the camera view and the bird's-eye view (`omnifuse detect`)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ['detection_picture', 'TrackPictures', 'track_picture']


def detection_picture(frame: Any, points: np.ndarray, boxes: np.ndarray, scores: np.ndarray, names: list[str],
             camera: str) -> np.ndarray:
    """The camera view and the BEV of `points` ((N, C), LiDAR frame: the points the model saw) with the
    predicted (K, 7) `boxes` in green and the frame's true boxes in red; (H, W, 3) RGB."""
    from omnifuse.structures.geometry import box_corners
    from omnifuse.viz.draw import draw_bev, draw_boxes_on_image, project_box_edges, side_by_side

    green, red = (60, 220, 60), (230, 40, 40)
    gt = frame.labels.without_dontcare().boxes.data if frame.labels is not None else np.zeros((0, 7))
    tags = [f'{n} {s:.2f}' for n, s in zip(names, scores, strict=True)]
    panels = []
    img = frame.images.get(camera)
    if img is not None and frame.calib is not None:
        cam = frame.calib.camera(camera)
        if len(gt):
            img = draw_boxes_on_image(img, project_box_edges(box_corners(gt), cam), [red] * len(gt))
        if len(boxes):
            img = draw_boxes_on_image(img, project_box_edges(box_corners(boxes), cam), [green] * len(boxes), tags)
        panels.append(img)
    groups: list[tuple] = [(gt, red)] if len(gt) else []
    if len(boxes):
        groups.append((boxes, green, tags))
    panels.append(draw_bev(points, groups))
    return side_by_side(panels)


_STRIP_RANGE = (0.0, -30.0, 60.0, 30.0)  # BEV of the per-sequence track strip [m]
_STRIP_PANELS = 4


class TrackPictures:
    """Trails of the tracks and the bird's-eye views of one sequence for its strip (`omnifuse detect --track
    --png-dir`)."""

    def __init__(self) -> None:
        self.sequence: int | None = None
        self.trails: dict[int, list[np.ndarray]] = {}  # id -> centres (world frame with a pose, else LiDAR)
        self.panels: list[tuple[int, np.ndarray]] = []  # (index, BEV), thinned to at most 32

    def start(self, sequence: int) -> int | None:
        """Begin `sequence`; returns the sequence that ended (its strip is due), or None."""
        ended = self.sequence if self.sequence != sequence else None
        if ended is not None or self.sequence is None:
            self.trails, self.sequence = {}, sequence
        return ended

    def trails_in_frame(self, tracks: Any, pose: np.ndarray | None) -> dict[int, np.ndarray]:
        """Earlier centres of the current tracks in this frame's LiDAR frame; records the current ones."""
        out: dict[int, np.ndarray] = {}
        T_lidar_world = np.linalg.inv(pose) if pose is not None else None
        for tid, box in zip(tracks.ids, tracks.boxes.data, strict=True):
            past = self.trails.get(int(tid), [])
            if past:
                xyz = np.asarray(past)
                if T_lidar_world is not None:
                    xyz = xyz @ T_lidar_world[:3, :3].T + T_lidar_world[:3, 3]
                out[int(tid)] = xyz[-20:, :2]
            centre = box[:3] if pose is None else pose[:3, :3] @ box[:3] + pose[:3, 3]
            self.trails.setdefault(int(tid), []).append(centre)
        return out

    def add_panel(self, index: int, bev: np.ndarray) -> None:
        """Keep the BEV of frame `index` for the strip (thinned to every other one beyond 32)."""
        self.panels.append((index, bev))
        if len(self.panels) > 32:
            self.panels = self.panels[::2]

    def strip(self) -> np.ndarray | None:
        """Up to 4 evenly spaced views of the sequence side by side (and forget them)."""
        from omnifuse.viz.draw import side_by_side
        from omnifuse.viz.tracks import caption

        if not self.panels:
            return None
        pick = np.unique(np.linspace(0, len(self.panels) - 1, min(_STRIP_PANELS, len(self.panels))).round().astype(int))
        out = side_by_side([caption(self.panels[i][1], f'frame {self.panels[i][0]}') for i in pick])
        self.panels = []
        return out


def track_picture(frame: Any, points: np.ndarray, tracks: Any, trails: dict[int, np.ndarray],
                   camera: str) -> tuple[np.ndarray, np.ndarray]:
    """(camera view + BEV with the tracks and the true boxes in red, the strip's BEV panel); RGB."""
    from omnifuse.viz.draw import draw_boxes_on_image, project_box_edges, side_by_side
    from omnifuse.viz.tracks import draw_tracks_bev, draw_tracks_on_image

    red = (230, 40, 40)
    gt = frame.labels.without_dontcare().boxes.data if frame.labels is not None else np.zeros((0, 7))
    others = [(gt, red)] if len(gt) else []
    panels = []
    img = frame.images.get(camera)
    if img is not None and frame.calib is not None and camera in frame.calib.cameras:
        from omnifuse.structures.geometry import box_corners

        cam = frame.calib.camera(camera)
        if len(gt):
            img = draw_boxes_on_image(img, project_box_edges(box_corners(gt), cam), [red] * len(gt))
        panels.append(draw_tracks_on_image(img, tracks, cam))
    panels.append(draw_tracks_bev(points, tracks, trails=trails, others=others))
    strip = draw_tracks_bev(points, tracks, trails=trails, bev_range=_STRIP_RANGE)
    return side_by_side(panels), strip
