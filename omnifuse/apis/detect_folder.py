"""The per-frame loop of `omnifuse detect`: detect on frames of a reader and write labels, pictures and tracks.

`detect_frames` reads each frame, runs a detector on it, writes KITTI label files (KITTI layout) or collects
Waymo JSON Lines boxes, draws pictures, optionally tracks over the frames, and counts what was detected,
written and dropped; `omnifuse detect` only checks its options, calls it and prints the summary.
Torch is not imported here (an exported detector runs without it); cv2 and the drawing code are imported on use.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.errors import OmnifuseError

__all__ = ['KITTI_IMAGE_SIZE', 'WAYMO_TYPES', 'FolderDetections', 'detect_frames']

KITTI_IMAGE_SIZE = (1242, 375)  # KITTI's image_2 [px], for frames that come without their image
WAYMO_TYPES = {'Car': 'VEHICLE', 'Pedestrian': 'PEDESTRIAN', 'Cyclist': 'CYCLIST'}


@dataclass
class FolderDetections:
    """What `detect_frames` did.

    frames: frames run; detections: detections with score >= the threshold over all frames;
    written: KITTI label lines written (detections outside the camera image or the LiDAR range are dropped)
    or, Waymo, the JSON lines collected; not_waymo: per class name, detections left out of the Waymo file
    (no Waymo type); sequences: sequences tracked (None without tracking); tracking_dir: the folder of the
    KITTI tracking result files (None when none was written).
    """

    frames: int = 0
    detections: int = 0
    written: int = 0
    not_waymo: dict[str, int] = field(default_factory=dict)
    sequences: int | None = None
    tracking_dir: Path | None = None


def _image_size(frame: Any, camera: str, image_size: tuple[int, int] | None) -> tuple[tuple[int, int], bool]:
    """(W, H) [px] of `camera`'s image in `frame`: the image's, else its calib's, else `image_size` or KITTI's;
    and whether it was assumed (no image and no size in the calib)."""
    img = frame.images.get(camera)
    if img is not None:
        return (img.shape[1], img.shape[0]), False
    cam = frame.calib.cameras.get(camera) if frame.calib is not None else None
    if cam is not None and cam.width > 0 and cam.height > 0:
        return (cam.width, cam.height), False
    width, height = image_size or KITTI_IMAGE_SIZE
    return (int(width), int(height)), True


def detect_frames(reader: Any, frames: Iterable[str], detector: Any, *, camera: str, kitti: bool,
                  out: Path | None = None, png: Path | None = None, score_threshold: float,
                  use_camera: bool = True, use_thermal: bool = True, image_size: tuple[int, int] | None = None,
                  track: bool = False, poses: Mapping[str, np.ndarray] | None = None,
                  note: Callable[[str], None] | None = None) -> FolderDetections:
    """Detect on `frames` of `reader` in the given order and write the results.

    Inputs: `reader` (a `KittiReader` or `WaymoReader`: `read(frame_id)` -> SensorFrame), `frames` (frame ids,
    any iterable, e.g. wrapped in a progress bar; sorted by the caller when tracking), `detector` (from
    `apis.detection.open_detector`: `detector(frame, use_camera=, use_thermal=, score_threshold=)` -> numpy
    `DetPredictions`, `class_names`, `sensed_points`), `camera` (the camera of the label files and pictures),
    `kitti` (True: KITTI layout, `out` is a folder of `<id>.txt` label files; False: Waymo, `out` is the
    .jsonl file to write), `png` (folder for `<id>.png` pictures, and with `track` `tracks_<seq:04d>.png`
    strips), `image_size` ((W, H) assumed for frames with no image and no image size in their calib; None:
    KITTI's, and `note` is called once with a message saying so), `track` (KITTI layout only: run the 3D
    tracker and write `<out>/tracking/<seq:04d>.txt`), `poses` (frame id -> (4, 4) world_T_lidar, the ego
    motion for the tracker; it takes the place of the frames' own `meta['world_T_lidar']`).

    Outputs: the files above, and the counts in a `FolderDetections`. Raises `OmnifuseError` when a frame's
    calib lacks `camera` while KITTI label files are to be written.
    """
    import cv2

    from omnifuse.evaluation.kitti_convert import write_kitti_predictions
    from omnifuse.viz.detections import TrackPictures, detection_picture, track_picture

    result = FolderDetections()
    warned_size = False
    use = {'use_camera': use_camera, 'use_thermal': use_thermal}
    if png:
        png.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    if out and kitti:
        out.mkdir(parents=True, exist_ok=True)
    sequencer = pictures = None
    if track:
        from omnifuse.apis.tracking import SequenceTracker

        sequencer = SequenceTracker(camera=camera)
        pictures = TrackPictures()

    def write_strip(sequence: int | None) -> None:
        if png and pictures is not None and sequence is not None:
            strip = pictures.strip()
            if strip is not None:
                cv2.imwrite(str(png / f'tracks_{sequence:04d}.png'), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))

    for frame_id in frames:
        result.frames += 1
        frame = reader.read(frame_id)
        if out and kitti and camera not in frame.calib.cameras:
            calib_file = frame.meta.get('paths', {}).get('calib', f'calib of frame {frame_id}')
            raise OmnifuseError(f'{calib_file}: no camera {camera} (P2, R0_rect, Tr_velo_to_cam): KITTI label files '
                                'are written in that camera\'s frame')
        pred = detector(frame, **use, score_threshold=score_threshold)  # DetPredictions, numpy, LiDAR frame
        boxes, scores, labels = pred.numpy()
        names = [detector.class_names[int(i)] for i in labels]
        result.detections += len(boxes)
        if out and kitti:
            cam = frame.calib.cameras[camera]
            # The 2D boxes (which set the KITTI difficulty) need the image size, also without an image.
            size, assumed = _image_size(frame, camera, image_size)
            if assumed and image_size is None and not warned_size:
                if note is not None:
                    note(f'frame {frame_id} has no {camera} image and its calib no image size: 2D boxes are '
                         f'cut to KITTI\'s {size[0]} x {size[1]} image (set --image-size W H)')
                warned_size = True
            result.written += write_kitti_predictions(out / f'{frame_id}.txt', pred, detector.class_names,
                                                      cam.T_cam_lidar, cam.P, size)
        elif not kitti:
            key = str(frame.meta.get('waymo_frame', frame_id))
            for b, s, n in zip(boxes, scores, names, strict=True):
                if n in WAYMO_TYPES:
                    lines.append(json.dumps({'frame': key, 'type': WAYMO_TYPES[n],
                                             'box': [round(float(v), 4) for v in b], 'score': round(float(s), 5)}))
                else:
                    result.not_waymo[n] = result.not_waymo.get(n, 0) + 1
        if sequencer is not None:
            from omnifuse.structures import ObjectLabels

            n = len(boxes)
            size, _ = _image_size(frame, camera, image_size)
            dets = ObjectLabels(pred.boxes3d(), names, np.zeros(n), np.zeros(n, np.int64), np.zeros(n),
                                np.full((n, 4), np.nan), np.asarray(scores, np.float64))
            if poses is not None:
                frame = dataclasses.replace(frame, meta={**frame.meta, 'world_T_lidar': poses[frame_id]})
            place, tracks = sequencer(frame, dets, image_size=size)
            if png and pictures is not None:
                write_strip(pictures.start(place.sequence))
                trails = pictures.trails_in_frame(tracks, place.pose)
                pic, panel = track_picture(frame, detector.sensed_points(frame.points), tracks, trails, camera)
                pictures.add_panel(place.index, panel)
                cv2.imwrite(str(png / f'{frame_id}.png'), cv2.cvtColor(pic, cv2.COLOR_RGB2BGR))
        elif png:
            pic = detection_picture(frame, detector.sensed_points(frame.points), boxes, scores, names, camera)
            cv2.imwrite(str(png / f'{frame_id}.png'), cv2.cvtColor(pic, cv2.COLOR_RGB2BGR))
    if not kitti:
        result.written = len(lines)
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text('\n'.join(lines) + ('\n' if lines else ''))
    if sequencer is not None:
        if pictures is not None:
            write_strip(pictures.sequence)
        result.sequences = len(sequencer.sequences)
        if out:
            written = sequencer.write(out / 'tracking')
            result.tracking_dir = written[0].parent if written else None
    return result
