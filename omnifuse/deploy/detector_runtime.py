"""Run an exported two-stage detector: its graphs and the numpy steps between them (no torch, no spconv).

An exported detector is a set of graphs written side by side by `omnifuse export` (docs/deploy.md):

    det.onnx               first stage (voxel features + index tables -> top-k peaks, BEV, sparse levels);
                           its metadata holds the model description (`detector_spec`) and the other files
    det.camera.onnx        the camera encoder (and det.thermal.onnx for a thermal one)
    det.roi.onnx           the second stage

(.xml/.bin for OpenVINO, same names). `DetectorPipeline` drives any set of stage runners (`run(feeds) ->
outputs`), the exported sessions here or the PyTorch graphs at export time, so both follow one code path.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from omnifuse.datasets.beams import BeamSelection
from omnifuse.datasets.box_fit import BoxFit
from omnifuse.datasets.input_adapt import InputAdapter
from omnifuse.deploy import detector_np as dnp
from omnifuse.deploy.sparse_plan import SparsePlanner
from omnifuse.deploy.voxels_np import mean_voxels
from omnifuse.errors import FormatError
from omnifuse.structures.det_sample import DetPredictions

__all__ = ['StageRunner', 'CameraInput', 'DetectorPipeline', 'ExportedDetector', 'ExportedFrameDetector',
           'frame_cameras', 'stage_files']


class StageRunner(Protocol):
    """One graph: named numpy inputs -> named numpy outputs."""

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name."""
        ...


@dataclass
class CameraInput:
    """One image of a modality as the sensor gives it.

    Attributes:
        image: (H, W, 3) uint8 RGB (camera) or (H, W) / (H, W, C) thermal values.
        lidar2img: (4, 4) LiDAR frame -> homogeneous pixels of this image.
    """

    image: np.ndarray
    lidar2img: np.ndarray


@dataclass(frozen=True)
class ScanVoxels:
    """One scan as the first stage reads it (`DetectorPipeline.voxelise`).

    Attributes:
        points: (N, C) float32 points in the model's range (and of its beams), LiDAR frame.
        features: (M, C_in) float32 mean voxel features; zyx: (M, 3) int64 their voxels (z, y, x).
        ms: how long making them took [ms].
    """

    points: np.ndarray
    features: np.ndarray
    zyx: np.ndarray
    ms: float


@dataclass
class StageTimes:
    """Milliseconds per step of the last frame (the numpy steps and each graph)."""

    ms: dict[str, float] = field(default_factory=dict)


def frame_cameras(frame: Any, camera: str | None = None) -> dict[str, CameraInput]:
    """The images of a `SensorFrame` the exported detector takes: the colour camera `camera` (None:
    'image_2' when the frame has it, else its first calibrated one) and the thermal camera of that name (else
    the first calibrated one). Images without a calibration are not used."""
    out: dict[str, CameraInput] = {}
    calib = frame.calib
    if calib is None:
        return out
    for modality, images, store in (('camera', frame.images, calib.cameras),
                                    ('thermal', getattr(frame, 'thermal', {}) or {}, calib.thermal)):
        preferred = [camera, 'image_2'] if modality == 'camera' else [camera]
        names = [n for n in [*preferred, *images] if n and n in images and n in store]
        if names:
            out[modality] = CameraInput(np.asarray(images[names[0]]), np.asarray(store[names[0]].lidar2img))
    return out


def stage_files(path: str | Path, stages: list[str]) -> dict[str, Path]:
    """The file of each stage beside the first stage's file `path` (det.onnx -> det.roi.onnx, ...)."""
    path = Path(path)
    return {s: (path if s == 'first' else path.with_name(f'{path.stem}.{s}{path.suffix}')) for s in stages}


def _image_tensor(spec: Mapping[str, Any], modality: str, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1, C, H', W') normalised padded image and (2,) img_hw of the resized image: ImageResize (cv2
    INTER_LINEAR) then DetDataPreprocessor (normalise, zero-pad to the divisor)."""
    import cv2

    info = spec['image_modalities'][modality]
    pre = spec['image_preprocess']
    scale = float(pre['scale'])
    img = np.asarray(image)
    if scale != 1.0:
        h, w = img.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
    x = img.astype(np.float32)
    x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
    if modality == 'camera':
        x = (x - np.asarray(pre['mean'], np.float32)[:, None, None]) / np.asarray(pre['std'], np.float32)[:, None, None]
    else:  # thermal units differ between sources: standardise each image
        x = (x - x.mean()) / max(float(x.std(ddof=1)), 1e-3)
    if x.shape[0] != info['in_channels']:
        x = x.mean(0, keepdims=True) if info['in_channels'] == 1 else np.repeat(x[:1], info['in_channels'], 0)
    d = int(pre['pad_divisor'])
    H, W = -(-x.shape[1] // d) * d, -(-x.shape[2] // d) * d
    padded = np.zeros((1, x.shape[0], H, W), np.float32)
    padded[0, :, :x.shape[1], :x.shape[2]] = x
    return padded, np.array([x.shape[1], x.shape[2]], np.float32)


def _image_matrix(spec: Mapping[str, Any], lidar2img: np.ndarray) -> np.ndarray:
    """(4, 4) float32 lidar2img of the resized image (ImageResize's scale)."""
    scale = float(spec['image_preprocess']['scale'])
    l2i = np.asarray(lidar2img, dtype=np.float64)
    if scale != 1.0:
        l2i = np.diag([scale, scale, 1.0, 1.0]) @ l2i
    return l2i.astype(np.float32)


# per modality (image features (1, C, h, w), img_hw (2,)), and the milliseconds of each step
ImageFeatures = tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, float]]


class DetectorPipeline:
    """The detector from raw inputs to boxes, over stage runners ('first', 'roi', and one per image modality).

    `pipeline(points, cameras)` -> (boxes (K, 7) LiDAR frame float64, scores (K,), labels (K,) int64); cameras
    maps 'camera' / 'thermal' to a `CameraInput` (absent or None: that modality is missing).

    With `overlap` (default) the image steps (preprocess and image graph, which need only the images) run in a
    worker thread beside the numpy steps of the LiDAR (voxels, index tables), which hold one core while the
    other idles; `start_images` starts them even earlier (`ExportedFrameDetector` does, before levelling the
    scan). `times` then has their own durations and 'image wait', the time the second stage waited for them.
    """

    def __init__(self, spec: Mapping[str, Any], runners: Mapping[str, StageRunner], *, overlap: bool = True,
                 numpy_threads: int = 1) -> None:
        self.spec = spec
        self.runners = runners
        self.planner = SparsePlanner(spec['backbone'])
        self.beams = BeamSelection.from_dict(spec['beams'], source='exported detector') if spec.get('beams') else None
        self.times = StageTimes()
        self.overlap = overlap
        self.numpy_threads = numpy_threads
        self._worker: ThreadPoolExecutor | None = None
        self._helper: ThreadPoolExecutor | None = None

    def numpy_helper(self) -> ThreadPoolExecutor | None:
        """The thread that computes the site sets beside the index tables, the RoI cell statistics beside the
        other RoI inputs (`numpy_threads` >= 2), started on first use."""
        if self.numpy_threads < 2:
            return None
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix='omnifuse-numpy')
        return self._helper

    def _image_features(self, images: Mapping[str, np.ndarray]) -> ImageFeatures:
        """Preprocess + image graph of each given image (modality -> image)."""
        times: dict[str, float] = {}
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for modality, image in images.items():
            start = time.perf_counter()
            padded, hw = _image_tensor(self.spec, modality, image)
            mid = time.perf_counter()
            out[modality] = (self.runners[modality].run({'image': padded})['features'], hw)
            times['image preprocess'] = times.get('image preprocess', 0.0) + (mid - start) * 1e3
            times[f'{modality} graph'] = (time.perf_counter() - mid) * 1e3
        return out, times

    def start_images(self, images: Mapping[str, np.ndarray | None]) -> Future[ImageFeatures] | None:
        """Start the image steps of the next frame's images (modality -> image; None: missing) in the worker
        thread, for `__call__(..., images=)` with cameras holding these images; None without `overlap`, a
        second stage or an image."""
        given = {m: i for m, i in images.items() if i is not None and m in self.spec['image_modalities']}
        if not self.overlap or self.spec.get('roi') is None or not given:
            return None
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix='omnifuse-images')
        return self._worker.submit(self._image_features, given)

    def images_now(self, images: Mapping[str, np.ndarray | None]) -> Future[ImageFeatures] | None:
        """The image steps of these images (as `start_images`) run now in this thread, as a finished future;
        None without a second stage or an image."""
        given = {m: i for m, i in images.items() if i is not None and m in self.spec['image_modalities']}
        if self.spec.get('roi') is None or not given:
            return None
        done: Future[ImageFeatures] = Future()
        done.set_result(self._image_features(given))
        return done

    def voxelise(self, points: np.ndarray) -> ScanVoxels:
        """(N, C) points, LiDAR frame -> the model's beams and range, and their voxels."""
        start = time.perf_counter()
        spec = self.spec
        pts = np.asarray(points, dtype=np.float32)
        if self.beams is not None:  # the model's thinner LiDAR (BeamSubsample), before the range filter as there
            pts = pts[self.beams.keep(pts)]
        pts = dnp.in_range(pts, spec['point_range'])
        feats, zyx = mean_voxels(pts, spec['voxel_size'], spec['point_range'], in_channels=spec['in_channels'],
                                 max_points=spec['max_points'], max_voxels=spec['max_voxels'])
        return ScanVoxels(pts, feats, zyx, (time.perf_counter() - start) * 1e3)

    def __call__(self, points: np.ndarray, cameras: Mapping[str, CameraInput | None] | None = None, *,
                 images: Future[ImageFeatures] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections of one scan (see the class docstring); `times` then holds each step's milliseconds.
        `images`: the `start_images` of these cameras' images (None: started here, before the voxels)."""
        if images is None:
            images = self.start_images({m: c.image for m, c in (cameras or {}).items() if c is not None})
        return self.detect(self.voxelise(points), cameras, images=images)

    def detect(self, voxels: ScanVoxels, cameras: Mapping[str, CameraInput | None] | None = None, *,
               images: Future[ImageFeatures] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections of one voxelised scan (as `__call__`); `images`: the `start_images` or `images_now` of
        these cameras' images (None: run here)."""
        spec = self.spec
        times: dict[str, float] = {'voxelise': voxels.ms}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            times[name] = times.get(name, 0.0) + (now - clock) * 1e3
            clock = now

        empty = (np.zeros((0, 7)), np.zeros(0, np.float32), np.zeros(0, np.int64))
        roi = spec.get('roi')
        given: dict[str, CameraInput] = {m: c for m, c in (cameras or {}).items() if c is not None}
        pending = images
        pts, feats, zyx = voxels.points, voxels.features, voxels.zyx
        if feats.shape[0] == 0:  # no point in range: no detection (the PyTorch model's rule)
            if pending is not None:
                pending.result()
            self.times = StageTimes(times)
            return empty
        # the first convolution's gather in numpy (exports from 2026-12-07 on; older ones take the features)
        columns = bool(spec['backbone'].get('first_columns'))
        plan = self.planner.plan(zyx, self.numpy_helper(), feats if columns else None)
        inputs: dict[str, np.ndarray] = {'features': feats}
        if plan.columns is not None:
            inputs = {'columns': plan.columns}
        lap('index tables')
        first = self.runners['first'].run({**inputs, **plan.tables, 'bev_rows': plan.bev_rows})
        lap('first stage graph')
        boxes, scores, labels = dnp.nms_proposals(first['boxes'], first['scores'], first['labels'],
                                                  spec['proposals'])
        lap('proposal NMS')
        if roi is None or boxes.shape[0] == 0:
            if pending is not None:
                pending.result()
            self.times = StageTimes(times)
            return boxes.astype(np.float64), scores, labels.astype(np.int64)
        if pending is not None:  # its steps' times are their own, overlapped; the wait is what is left of them
            features, image_times = pending.result()
            lap('image wait')
        else:
            features, image_times = {}, {}
        missing = {m: c.image for m, c in given.items() if m not in features and m in spec['image_modalities']}
        if missing:
            more, more_times = self._image_features(missing)
            features.update(more)
            image_times.update(more_times)
            clock = time.perf_counter()
        times.update(image_times)
        image_feeds: dict[str, dict[str, np.ndarray]] = {}
        for modality, info in spec['image_modalities'].items():
            cam = given.get(modality)
            if cam is None:  # a missing image: the model's zero image features
                image_feeds[modality] = {'features': np.zeros((1, info['channels'], 1, 1), np.float32),
                                         'lidar2img': np.eye(4, dtype=np.float32),
                                         'img_hw': np.zeros(2, np.float32), 'valid': np.array([False])}
            else:
                fmap, hw = features[modality]
                image_feeds[modality] = {'features': fmap, 'lidar2img': _image_matrix(spec, cam.lidar2img),
                                         'img_hw': hw, 'valid': np.array([True])}
        # the RoI cell statistics (raw points per cell) in the helper thread beside the voxel lookups
        pool = self.numpy_helper()
        cells = pool.submit(dnp.roi_cell_stats, pts, boxes, roi['grid_size']) if pool is not None else None
        grid = dnp.roi_grid_points(boxes, roi['grid_size'])
        flat = grid.reshape(-1, 3)
        feeds: dict[str, np.ndarray] = {'rois': boxes.astype(np.float32), 'grid_xyz': grid}
        for level in roi['levels']:
            geometry = spec['level_geometry'][level]
            sites = plan.sites[spec['backbone']['levels'][level]]
            rows, weights = dnp.trilinear_rows(geometry, sites, flat)
            feeds[f'{level}_features'] = first[f'{level}_features']
            feeds[f'{level}_weights'] = weights
            if level in roi['gof_levels']:
                used, xyz, rows = dnp.gof_inputs(geometry, sites, rows, pts)
                feeds[f'{level}_used'], feeds[f'{level}_xyz'] = used, xyz
            feeds[f'{level}_rows'] = rows.clip(min=0)
        if roi['bev']:
            feeds['bev'] = first['bev']
        feeds['count'], feeds['centroid'] = (cells.result() if cells is not None
                                             else dnp.roi_cell_stats(pts, boxes, roi['grid_size']))
        for modality, values in image_feeds.items():
            feeds.update({f'{modality}_{k}': v for k, v in values.items()})
        lap('RoI inputs')
        out = self.runners['roi'].run(feeds)
        lap('RoI graph')
        result = dnp.refine(boxes, scores, labels, out['score_logits'], out['residual'], roi)
        lap('final NMS')
        self.times = StageTimes(times)
        return result[0].astype(np.float64), result[1], result[2].astype(np.int64)


class ExportedDetector(DetectorPipeline):
    """An exported detector loaded with ONNX Runtime or OpenVINO (see the module docstring).

    Args:
        path: the first stage's .onnx or .xml file.
        backend: 'onnxruntime' or 'openvino' (None: follows the suffix).
        num_threads: intra-op threads of every graph (None: the backend's default).
        precision: 'f32' or 'bf16' (OpenVINO only; see `omnifuse.deploy.runtime.ExportedModel`).
        overlap: the image graphs in a worker thread beside the LiDAR's numpy steps (`DetectorPipeline`), then
            with one intra-op thread: the numpy steps hold the other core (measured faster than two threads
            there). None: on for ONNX Runtime, off for OpenVINO (measured on KITTI 000000 with 2 threads: 7-10 %
            faster end to end with ONNX Runtime, 1-6 % slower with OpenVINO; docs/deploy.md).
        numpy_threads: threads of the numpy steps between the graphs (2: a helper thread computes the sparse
            site sets beside the index tables, 12.6 -> 7.9 ms on KITTI 000000, and the RoI cell statistics beside
            the voxel lookups, 13 -> 9 ms; the outputs are the same). None: 2
            when the graphs have two threads or more (or the backend's default), else 1.
    """

    def __init__(self, path: str | Path, *, backend: str | None = None, num_threads: int | None = 1,
                 precision: str = 'f32', overlap: bool | None = None, numpy_threads: int | None = None) -> None:
        from omnifuse.deploy.runtime import ExportedModel

        first = ExportedModel(path, backend=backend, num_threads=num_threads, precision=precision)
        if overlap is None:
            overlap = first.backend == 'onnxruntime'
        first.require_task('detection')
        spec = first.metadata['detector']
        files = stage_files(path, list(first.metadata['stages']))
        runners: dict[str, StageRunner] = {'first': first}
        for stage, file in files.items():
            if stage == 'first':
                continue
            if not file.is_file():
                raise FormatError(f'{path}: its {stage} graph {file} is missing (an exported detector is '
                                  f'{", ".join(str(f.name) for f in files.values())})')
            threads = 1 if overlap and stage in spec['image_modalities'] else num_threads
            runners[stage] = ExportedModel(file, backend=backend, num_threads=threads, precision=precision)
        self.path = Path(path)
        self.backend = first.backend
        self.class_names = list(spec['class_names'])
        if numpy_threads is None:
            numpy_threads = 2 if num_threads is None or num_threads >= 2 else 1
        super().__init__(spec, runners, overlap=overlap, numpy_threads=numpy_threads)


class ExportedFrameDetector:
    """An exported detector behind the PyTorch `omnifuse.apis.detection.Detector` interface, for `omnifuse
    detect`, `bench` and the ROS core: `detector(frame) -> DetPredictions` (numpy: boxes (K, 7) float64 LiDAR frame,
    scores (K,) float32, labels (K,) int64).

    Args:
        path: the first stage's .onnx / .xml file.
        backend: 'onnxruntime' or 'openvino' (None: follows the suffix).
        num_threads: intra-op threads (None: the backend's default).
        main_camera: the colour camera fused (its thermal twin of the same name, else the first thermal one).
        precision: 'f32' or 'bf16' (OpenVINO only).
        adapter: input normalisation (omnifuse.datasets.input_adapt); None: the one the exported model carries
            (`input_adapter` of its config, stored in the file).
        box_fit: the boxes fitted to the points after detection (omnifuse.datasets.box_fit); None: the one the
            exported model carries (`box_fit` of its config; none in files exported before it existed).
        overlap: the image steps in a worker thread, started before the levelling (see `ExportedDetector`;
            None: by backend).
        numpy_threads: threads of the numpy steps (see `ExportedDetector`; None: by `num_threads`). With two and
            `overlap` off, the helper thread levels and voxelises the scan while this thread runs the image steps
            (docs/deploy.md "Fourth pass").
    """

    def __init__(self, path: str | Path, *, backend: str | None = None, num_threads: int | None = None,
                 main_camera: str = 'image_2', precision: str = 'f32', adapter: InputAdapter | None = None,
                 overlap: bool | None = None, numpy_threads: int | None = None, box_fit: BoxFit | None = None
                 ) -> None:
        self.exported = ExportedDetector(path, backend=backend, num_threads=num_threads, precision=precision,
                                         overlap=overlap, numpy_threads=numpy_threads)
        self.adapter = adapter if adapter is not None else InputAdapter.from_config(
            self.exported.spec.get('input_adapter'), source=str(path))
        self.box_fit = box_fit if box_fit is not None else BoxFit.from_config(
            self.exported.spec.get('box_fit'), source=str(path))
        self.class_names = self.exported.class_names
        self.main_camera = main_camera

    def for_camera(self, camera: str) -> ExportedFrameDetector:
        """The same loaded graphs fusing colour camera `camera`."""
        other = copy.copy(self)
        other.main_camera = camera
        return other

    def sensed_points(self, points: np.ndarray) -> np.ndarray:
        """(N, C) points, LiDAR frame -> the (M <= N, C) points this model keeps as its LiDAR (the 16 beams of a
        16-beam model; all of them otherwise)."""
        beams = self.exported.beams
        return points if beams is None else points[beams.keep(points)]

    def _lidar(self, frame: Any) -> tuple[Any, np.ndarray | None, float, ScanVoxels]:
        """The frame levelled by the input adapter (when active), its transform (None: not levelled), how long
        that took [ms], and its voxels."""
        T = None
        start = time.perf_counter()
        if self.adapter.active:
            frame, T = self.adapter.adapt_frame(frame)
        levelling = (time.perf_counter() - start) * 1e3
        return frame, T, levelling, self.exported.voxelise(frame.points)

    def __call__(self, frame: Any, *, use_camera: bool = True, use_thermal: bool | None = None,
                 score_threshold: float = 0.0) -> DetPredictions:
        """Detections of one `SensorFrame` with score >= `score_threshold` (numpy `DetPredictions`, boxes in the
        frame's LiDAR frame); `use_camera` / `use_thermal` (default: as `use_camera`) say whether the colour /
        thermal images are fused."""
        if frame.points is None:
            raise FormatError(f'frame {frame.frame_id}: no LiDAR points')
        use_thermal = use_camera if use_thermal is None else use_thermal
        wanted = {'camera': use_camera, 'thermal': use_thermal}
        # the image steps need the images only (levelling moves the camera matrices, not the pixels): they start
        # first and run in a worker beside the levelling and the LiDAR's numpy steps (`overlap`), or run in this
        # thread while the helper thread levels and voxelises the scan
        images = {m: c.image for m, c in frame_cameras(frame, self.main_camera).items() if wanted.get(m)}
        pending = self.exported.start_images(images)
        sensor_points = frame.points
        helper = self.exported.numpy_helper() if pending is None else None
        if helper is not None:
            lidar = helper.submit(self._lidar, frame)
            pending = self.exported.images_now(images)
            start = time.perf_counter()
            frame, T, levelling, voxels = lidar.result()
            waited = {'LiDAR wait': (time.perf_counter() - start) * 1e3}
        else:
            frame, T, levelling, voxels = self._lidar(frame)
            waited = {}
        cameras = frame_cameras(frame, self.main_camera)
        cameras = {m: c for m, c in cameras.items() if wanted.get(m)}
        boxes, scores, labels = self.exported.detect(voxels, cameras, images=pending)
        # the input adapter's step (ground levelling) first in the per-step times
        self.exported.times = StageTimes({**({'input adapter': levelling} if T is not None else {}), **waited,
                                          **self.exported.times.ms})
        keep = scores >= score_threshold
        boxes = boxes[keep] if T is None else self.adapter.boxes_to_sensor(boxes[keep], T)
        if self.box_fit.active:  # after the graphs, on the sensor's own points; last in the per-step times
            start = time.perf_counter()
            boxes = self.box_fit(boxes, labels[keep], self.class_names, sensor_points)
            self.exported.times = StageTimes({**self.exported.times.ms, 'box fit': (time.perf_counter() - start) * 1e3})
        return DetPredictions(boxes, scores[keep], labels[keep])
