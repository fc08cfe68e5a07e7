"""Frames of the synthetic world: every sensor rendered from one scene, with exact labels.

`generate_frame(seed)` renders one instant of the world made from `seed`; `generate_sequence(seed, n)`
renders n instants 0.1 s apart (10 Hz) of the same world, things moving at constant velocity.
Both are deterministic given their arguments.

Object identity and ego pose (for tracking): `labels` hold one row per thing of the world in the world's
order, so a thing keeps its row index over the whole sequence; `meta['track_ids']` gives that index per
label row (DontCare rows included: they are things too far or too small, and keep their id). The ego pose
`meta['world_T_lidar']` is the (4, 4) LiDAR pose in the world frame (a translation: the ego drives along +x
without turning).

Faults (`faults=` dict; all optional):
- 'camera_dead': True -> image_2 is all black (labels still describe the scene).
- 'camera_frozen': in `generate_frame`, True or a number of seconds s -> image_2 shows the scene s seconds
  earlier (True = 1 s) with that stale stamp; in `generate_sequence`, True or a frame index k -> from frame k
  on (True = the middle frame) image_2 repeats frame k's image and stamp.
- 'thermal_dead': True -> the thermal image is all zeros (raw 0).
- 'calib_error': (deg, m) -> the *written* calibration of image_2 and thermal is off by a rotation of
  `deg` degrees about a random axis and a translation of `m` metres in a random direction (the rendering
  uses the true calibration). The true calibration stays in meta['calib_true'].
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from omnifuse.datasets.sim.camera import render_camera
from omnifuse.datasets.sim.labels import kitti_labels, occupancy_grid
from omnifuse.datasets.sim.lidar import LidarModel, render_lidar
from omnifuse.datasets.sim.rig import default_calibration
from omnifuse.datasets.sim.thermal import render_thermal
from omnifuse.datasets.sim.ultrasonic import nearest_echo, render_ultrasonic
from omnifuse.datasets.sim.world import CONDITIONS, SCENARIOS, Scene, SimError, make_scene
from omnifuse.structures import Calibration, CameraModel, SensorFrame

__all__ = ['SimFrame', 'generate_frame', 'generate_sequence', 'iter_sequence', 'resolve_condition',
           'perturb_calibration', 'FRAME_PERIOD_NS', 'BASE_STAMP_NS', 'FAULT_KEYS']

FRAME_PERIOD_NS = 100_000_000  # 10 Hz
BASE_STAMP_NS = 1_700_000_000_000_000_000
FAULT_KEYS = ('camera_dead', 'camera_frozen', 'thermal_dead', 'calib_error')
_STREAM = {'lidar': 1, 'camera': 2, 'thermal': 3, 'ultrasonic': 4, 'calib': 5}


@dataclass
class SimFrame(SensorFrame):
    """A `SensorFrame` plus the dense labels only a simulator knows.

    Attributes:
        semantic_2: (375, 1242) uint8 class per image_2 pixel (classes.py).
        semantic_thermal: (512, 640) uint8 class per thermal pixel.
        occupancy: (200, 200) uint8 BEV classes, 0.1 m cells, +-10 m (layout in labels.py).
        point_labels: (N,) uint8 class per LiDAR point.
        point_instance: (N,) int32 index into `labels` of the thing each point hit, -1 otherwise.
        ultrasonic_true: noise-free nearest echo per sensor [m] (NaN: none).
    """

    semantic_2: np.ndarray | None = None
    semantic_thermal: np.ndarray | None = None
    occupancy: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    point_instance: np.ndarray | None = None
    ultrasonic_true: dict[str, float] | None = None


def resolve_condition(condition: str, seed: int) -> str:
    """'day' | 'night' | 'glare' | 'fog' as given; 'mixed' picks one from the seed."""
    if condition == 'mixed':
        return CONDITIONS[int(np.random.default_rng([int(seed) & 0xFFFFFFFF, 77]).integers(len(CONDITIONS)))]
    if condition not in CONDITIONS:
        raise SimError(f'condition must be one of {CONDITIONS + ("mixed",)}, got {condition!r}')
    return condition


def resolve_scenario(scenario: str, seed: int) -> str:
    """'street' | 'parking' as given; 'mixed' picks one from the seed (a third of the worlds park)."""
    if scenario == 'mixed':
        return 'parking' if np.random.default_rng([int(seed) & 0xFFFFFFFF, 78]).random() < 1 / 3 else 'street'
    if scenario not in SCENARIOS:
        raise SimError(f'scenario must be one of {SCENARIOS + ("mixed",)}, got {scenario!r}')
    return scenario


def _rng(seed: int, index: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, index, _STREAM[stream]])


def _check_faults(faults: Mapping[str, object] | None) -> dict[str, object]:
    faults = dict(faults or {})
    unknown = sorted(set(faults) - set(FAULT_KEYS))
    if unknown:
        raise SimError(f'unknown fault(s) {unknown}; known: {FAULT_KEYS}')
    if 'calib_error' in faults and faults['calib_error'] is not None:
        raw = faults['calib_error']
        ce = tuple(float(v) for v in raw) if isinstance(raw, Iterable) else ()
        if len(ce) != 2:
            raise SimError(f"faults['calib_error'] must be (degrees, metres), got {faults['calib_error']!r}")
        faults['calib_error'] = ce
    return faults


def perturb_calibration(calib: Calibration, degrees: float, metres: float, rng: np.random.Generator) -> Calibration:
    """A copy of `calib` whose image_2 and thermal extrinsics are off by `degrees` and `metres`.

    Each camera gets its own random axis and direction; T_cam_lidar' = dT . T_cam_lidar. For image_2 the
    KITTI Tr_velo_to_cam is changed so that R0_rect . Tr_velo_to_cam' equals the new T_cam_lidar.
    """
    def delta() -> np.ndarray:
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = math.radians(degrees)
        Kx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        R = np.eye(3) + math.sin(angle) * Kx + (1 - math.cos(angle)) * Kx @ Kx
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        D = np.eye(4)
        D[:3, :3] = R
        D[:3, 3] = metres * direction
        return D

    out = Calibration(cameras=dict(calib.cameras), thermal=dict(calib.thermal), ultrasonic=dict(calib.ultrasonic),
                      kitti={k: v.copy() for k, v in calib.kitti.items()})
    cam = calib.cameras['image_2']
    D = delta()
    out.cameras['image_2'] = CameraModel(cam.P, D @ cam.T_cam_lidar, cam.width, cam.height)
    if 'R0_rect' in calib.kitti and 'Tr_velo_to_cam' in calib.kitti:
        R0 = np.eye(4)
        R0[:3, :3] = calib.kitti['R0_rect']
        Tr = np.eye(4)
        Tr[:3] = calib.kitti['Tr_velo_to_cam']
        out.kitti['Tr_velo_to_cam'] = (np.linalg.inv(R0) @ D @ R0 @ Tr)[:3]
    for name, th in calib.thermal.items():
        out.thermal[name] = CameraModel(th.P, delta() @ th.T_cam_lidar, th.width, th.height)
    return out


def _world_T_lidar(ego_xy: np.ndarray) -> np.ndarray:
    """(4, 4) pose of the ego LiDAR in the scene's world frame: a shift by (ego x, ego y, 0), no rotation."""
    T = np.eye(4)
    T[:2, 3] = ego_xy[:2]
    return T


def _render(scene: Scene, seed: int, index: int, time_s: float, stamp_ns: int, sequence: int,
            faults: dict[str, object], lidar: LidarModel, calib: Calibration) -> tuple[SimFrame, np.ndarray, int]:
    snap = scene.at(time_s)
    cam_model = calib.cameras['image_2']
    cam = render_camera(snap, cam_model, _rng(seed, index, 'camera'))
    assert cam.hits.object_pixels is not None and cam.hits.object_bbox is not None  # cast with n_objects
    th = render_thermal(snap, calib.thermal['thermal'], _rng(seed, index, 'thermal'))
    scan = render_lidar(snap, _rng(seed, index, 'lidar'), model=lidar)
    labels = kitti_labels(snap, cam_model, cam.hits.part, cam.hits.object_pixels, cam.hits.object_bbox,
                          calib.T_rect_lidar)
    us_rng = _rng(seed, index, 'ultrasonic')
    us = render_ultrasonic(calib.ultrasonic, snap.parts.boxes, us_rng)
    us_true = nearest_echo(calib.ultrasonic, snap.parts.boxes)
    thermal_raw = th.raw
    if faults.get('thermal_dead'):
        thermal_raw = np.zeros_like(th.raw)
    image = cam.image
    image_stamp = stamp_ns
    if faults.get('camera_dead'):
        image = np.zeros_like(image)
    meta = {'condition': scene.condition, 'sequence': int(sequence), 'seed': int(seed), 'frame_in_sequence': index,
            'stamp_ns': int(stamp_ns), 'time_s': float(time_s), 'ego_speed': float(scene.ego_speed),
            'ego_xy': [float(v) for v in snap.ego_xy], 'world_T_lidar': _world_T_lidar(snap.ego_xy).tolist(),
            'track_ids': list(range(len(labels))),
            'faults': {k: (list(v) if isinstance(v, tuple) else v) for k, v in faults.items()}}
    frame = SimFrame(
        frame_id=f'{seed}_{index:04d}', stamp_ns=int(stamp_ns), points=scan.points, images={'image_2': image},
        thermal={'thermal': thermal_raw}, ultrasonic=us, calib=calib,
        stamps_ns={'lidar': int(stamp_ns), 'image_2': int(image_stamp), 'thermal': int(stamp_ns),
                   'ultrasonic': int(stamp_ns)},
        labels=labels, meta=meta, semantic_2=cam.semantic, semantic_thermal=th.semantic,
        occupancy=occupancy_grid(snap), point_labels=scan.labels, point_instance=scan.instance,
        ultrasonic_true=us_true)
    return frame, cam.image, image_stamp


def _written_calib(seed: int, sequence: int, faults: dict[str, object]) -> tuple[Calibration, Calibration]:
    true = default_calibration()
    if faults.get('calib_error'):
        calib_error = faults['calib_error']
        assert isinstance(calib_error, tuple), '_check_faults makes it (degrees, metres)'
        deg, m = calib_error
        return true, perturb_calibration(true, deg, m, np.random.default_rng([int(seed) & 0xFFFFFFFF, sequence, 5]))
    return true, true


def iter_sequence(seed: int, n_frames: int, *, condition: str = 'day', faults: Mapping[str, object] | None = None,
                  sequence: int = 0, start_stamp_ns: int | None = None,
                  lidar: LidarModel = LidarModel(), scenario: str = 'street',
                  glazed_vans: bool = False) -> Iterator[SimFrame]:
    """Yield `n_frames` frames at 10 Hz of the world made from `seed` (see `generate_sequence`)."""
    faults = _check_faults(faults)
    condition = resolve_condition(condition, seed)
    scenario = resolve_scenario(scenario, seed)
    scene = make_scene(seed, condition=condition, duration_s=n_frames * FRAME_PERIOD_NS / 1e9, scenario=scenario,
                       glazed_vans=glazed_vans)
    start = BASE_STAMP_NS + (int(seed) % 100_000) * 1_000_000_000 if start_stamp_ns is None else int(start_stamp_ns)
    true, written = _written_calib(seed, sequence, faults)
    frozen = faults.get('camera_frozen')
    freeze_at = None
    if frozen is not None and frozen is not False:
        freeze_at = n_frames // 2 if frozen is True else int(frozen)  # type: ignore[call-overload]
    held: tuple[np.ndarray, int] | None = None
    frame_faults = {k: v for k, v in faults.items() if k != 'camera_frozen'}
    for k in range(n_frames):
        stamp = start + k * FRAME_PERIOD_NS
        frame, image, image_stamp = _render(scene, seed, k, k * FRAME_PERIOD_NS / 1e9, stamp, sequence, frame_faults,
                                            lidar, true)
        frame.meta['faults'] = {kk: (list(v) if isinstance(v, tuple) else v) for kk, v in faults.items()}
        frame.meta['scenario'] = scenario
        if freeze_at is not None and k >= freeze_at:
            if held is None:
                held = (frame.images['image_2'], image_stamp)
            frame.images['image_2'] = held[0]
            frame.stamps_ns['image_2'] = held[1]
        _finish(frame, true, written)
        yield frame


def _finish(frame: SimFrame, true: Calibration, written: Calibration) -> None:
    frame.calib = written
    if written is not true:
        frame.meta['calib_true'] = true.to_kitti_text()


def generate_sequence(seed: int, n_frames: int, *, condition: str = 'day', faults: Mapping[str, object] | None = None,
                      sequence: int = 0, start_stamp_ns: int | None = None,
                      lidar: LidarModel = LidarModel(), scenario: str = 'street') -> list[SimFrame]:
    """`n_frames` frames at 10 Hz (stamps 100 ms apart) of the world made from `seed`.

    Args:
        seed: the world and its noise.
        n_frames: number of frames.
        condition: 'day', 'night', 'glare', 'fog' or 'mixed' (one of them, picked from the seed).
        faults: sensor faults (module docstring); camera_frozen is True (freeze at n_frames // 2) or an index.
        sequence: sequence number written to meta['sequence'].
        start_stamp_ns: stamp of the first frame (default: derived from the seed).
        lidar: LiDAR parameters.
        scenario: 'street', 'parking' or 'mixed' (see omnifuse.datasets.sim.world.SCENARIOS).
    """
    return list(iter_sequence(seed, n_frames, condition=condition, faults=faults, sequence=sequence,
                              start_stamp_ns=start_stamp_ns, lidar=lidar, scenario=scenario))


def generate_frame(seed: int, *, condition: str = 'day', faults: Mapping[str, object] | None = None,
                   time_s: float = 0.0, sequence: int = 0, stamp_ns: int | None = None,
                   lidar: LidarModel = LidarModel(), scenario: str = 'street') -> SimFrame:
    """One frame of the world made from `seed`, at `time_s` seconds into its sequence.

    Args:
        seed: the world and its noise.
        condition: 'day', 'night', 'glare', 'fog' or 'mixed'.
        faults: sensor faults (module docstring); camera_frozen is True (1 s stale) or seconds.
        time_s: time since the start of the world's sequence [s].
        sequence: written to meta['sequence'].
        stamp_ns: the frame's stamp (default: derived from the seed and time_s).
        lidar: LiDAR parameters.
        scenario: 'street', 'parking' or 'mixed' (one of the two, picked from the seed).

    Returns:
        A `SimFrame`: points (N, 4), images['image_2'] (375, 1242, 3), thermal['thermal'] (512, 640) uint16
        centi-kelvin, ultrasonic ranges, calib, labels, dense labels and meta.
    """
    faults = _check_faults(faults)
    condition = resolve_condition(condition, seed)
    scenario = resolve_scenario(scenario, seed)
    scene = make_scene(seed, condition=condition, duration_s=time_s + 1.0, scenario=scenario)
    index = int(round(time_s * 10))
    if stamp_ns is None:
        stamp_ns = BASE_STAMP_NS + (int(seed) % 100_000) * 1_000_000_000 + int(round(time_s * 1e9))
    true, written = _written_calib(seed, sequence, faults)
    frame_faults = {k: v for k, v in faults.items() if k != 'camera_frozen'}
    frame, _, _ = _render(scene, seed, index, time_s, stamp_ns, sequence, frame_faults, lidar, true)
    frozen = faults.get('camera_frozen')
    if frozen is not None and frozen is not False:
        stale_s = 1.0 if frozen is True else float(frozen)  # type: ignore[arg-type]
        old = render_camera(scene.at(time_s - stale_s), true.cameras['image_2'], _rng(seed, index - 10, 'camera'))
        frame.images['image_2'] = np.zeros_like(old.image) if faults.get('camera_dead') else old.image
        frame.stamps_ns['image_2'] = stamp_ns - int(round(stale_s * 1e9))
    frame.meta['faults'] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in faults.items()}
    frame.meta['scenario'] = scenario
    _finish(frame, true, written)
    return frame
