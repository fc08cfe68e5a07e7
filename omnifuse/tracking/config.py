"""Parameters of the multi-object tracker: one `ClassParams` per class, defaults plus per-class overrides.

`TrackerConfig()` holds the values tuned for KITTI (PointRCNN detections, training sequences; see
docs/tracking.md, section "Tracker"). `TrackerConfig.from_dict` reads them from a mapping, the shape ROS 2
parameters and the command line hand over:

    {'min_hits': 2,                                   # a ClassParams field: changes the default of every class
     'classes': {'Pedestrian': {'max_age': 6}},       # per-class overrides
     'Cyclist.match_threshold': 2.5,                   # the same, flat (ROS parameter style)
     'frame': 'lidar'}                                 # a TrackerConfig field
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from omnifuse.errors import FormatError

__all__ = ['ClassParams', 'TrackerConfig', 'METRICS', 'ALGORITHMS', 'load_tracker_config']

METRICS = ('giou_3d', 'giou_bev', 'iou_3d', 'distance')
ALGORITHMS = ('greedy', 'hungarian')


@dataclass(frozen=True)
class ClassParams:
    """How the objects of one class are associated, filtered, born and retired.

    Association (see `omnifuse.tracking.association`):
        metric: the affinity between a predicted track box and a detection: 'giou_3d' (generalised 3D IoU,
            in [-1, 1]), 'giou_bev', 'iou_3d' (in [0, 1]) or 'distance' (minus the centre distance [m]).
        match_threshold: a pair matches only when its affinity is at least this (for 'distance': the
            largest centre distance [m], given as a positive number).
        algorithm: 'greedy' (best pair first) or 'hungarian' (largest total affinity).
        gate_distance: pairs whose centres are further apart than this [m] never match (saves work).
        second_stage: a second association of the tracks left unmatched with the detections whose score is
            below `birth_score` (the SimpleTrack two-stage scheme); with False every detection takes part in
            the first stage and low-score detections are merely not born.
        second_threshold: the affinity threshold of that second stage (same units as match_threshold).
    Births and deaths:
        birth_score: a detection starts a track only with a score at least this (detector units).
        min_hits: matched detections (the first included) before a track is reported (confirmed).
        max_age: consecutive frames a confirmed track may go unmatched (coasting on its motion model); it is
            deleted when it misses one more.
        max_age_tentative: the same for tracks not confirmed yet.
        report_coasting: frames a confirmed track is still reported while coasting (0: only tracks matched
            in this frame are reported).
        warmup_frames: during the first this many frames after a reset every track is reported, confirmed or
            not (at the start of a sequence there is no history to confirm objects with).
        report_tentative: report tracks that are not confirmed yet as well, their score lowered by
            `tentative_penalty` (a soft confirmation: consumers that threshold scores, like the sAMOTA sweep,
            drop them first; those that need certainty skip tracks with hits < min_hits).
        tentative_min_score: with `report_tentative`, a tentative track is reported only while its last
            matched detection scores at least this (detector units; a metric that counts every reported box,
            like HOTA, pays for each false tentative one).
    Kalman filter (state x, y, z, yaw, dx, dy, dz, vx, vy, vz; units m, rad, s):
        meas_pos_std, meas_yaw_std, meas_size_std: the detector's noise (one standard deviation).
        accel_std: white-noise acceleration of the constant-velocity model [m/s^2], horizontal.
        accel_z_std: the same, vertical.
        yaw_rate_std: random-walk yaw change [rad/s^0.5].
        size_rate_std: random-walk size change [m/s^0.5].
        init_vel_std: velocity uncertainty of a new track [m/s].
        max_speed: a velocity estimate above this [m/s] is clipped (a mismatch should not fling a track).
    Scores (detector units; the reported score is
    base + hits_bonus * ln(min(hits, hits_bonus_cap)) - tentative_penalty [tentative, after the warm-up]
    - coast_score_decay * frames coasted):
        score_mode: the base: 'detection' (the last matched detection's score) or 'mean' (the mean of the
            scores matched so far).
        hits_bonus: how much each e-fold of matched detections raises the score: a track seen in many frames
            is more likely a real object than one seen in a few, whatever its detector scores.
        hits_bonus_cap: hits beyond this add no more bonus (long tracks then rank by their detector score).
        coast_score_decay: subtracted per frame coasted.
    """

    metric: str = 'giou_3d'
    match_threshold: float = -0.2
    algorithm: str = 'hungarian'
    gate_distance: float = 10.0
    second_stage: bool = False
    second_threshold: float = 0.1
    birth_score: float = -math.inf
    min_hits: int = 3
    max_age: int = 1
    max_age_tentative: int = 1
    report_coasting: int = 1
    warmup_frames: int = 3
    report_tentative: bool = False
    tentative_min_score: float = -math.inf
    tentative_penalty: float = 0.0
    meas_pos_std: float = 0.3
    meas_yaw_std: float = 0.3
    meas_size_std: float = 0.2
    accel_std: float = 5.0
    accel_z_std: float = 1.0
    yaw_rate_std: float = 1.0
    size_rate_std: float = 0.3
    init_vel_std: float = 10.0
    max_speed: float = 50.0
    coast_score_decay: float = 0.0
    score_mode: str = 'detection'
    hits_bonus: float = 0.0
    hits_bonus_cap: int = 1_000_000

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise FormatError(f'tracker: metric must be one of {", ".join(METRICS)}, got {self.metric!r}')
        if self.algorithm not in ALGORITHMS:
            raise FormatError(f'tracker: algorithm must be one of {", ".join(ALGORITHMS)}, got {self.algorithm!r}')
        if self.report_coasting > self.max_age:
            raise FormatError(f'tracker: report_coasting ({self.report_coasting}) cannot exceed max_age '
                              f'({self.max_age}): a track is deleted after max_age missed frames')
        if self.score_mode not in ('detection', 'mean'):
            raise FormatError(f"tracker: score_mode must be 'detection' or 'mean', got {self.score_mode!r}")
        if not self.hits_bonus >= 0 or not math.isfinite(self.hits_bonus):
            raise FormatError(f'tracker: hits_bonus must be a finite number >= 0, got {self.hits_bonus}')
        for key in ('min_hits', 'max_age', 'max_age_tentative', 'hits_bonus_cap'):
            if getattr(self, key) < 1:
                raise FormatError(f'tracker: {key} must be >= 1, got {getattr(self, key)}')
        for key in ('report_coasting', 'warmup_frames'):
            if getattr(self, key) < 0:
                raise FormatError(f'tracker: {key} must be >= 0, got {getattr(self, key)}')
        for key in ('meas_pos_std', 'meas_yaw_std', 'meas_size_std', 'accel_std', 'accel_z_std', 'yaw_rate_std',
                    'size_rate_std', 'init_vel_std', 'max_speed', 'gate_distance'):
            value = getattr(self, key)
            if not value > 0 or not math.isfinite(value):
                raise FormatError(f'tracker: {key} must be a positive finite number, got {value}')


def _default_classes() -> dict[str, ClassParams]:
    # KITTI with PointRCNN-like detections (scores are logits, about -1 .. 16). Association, gating and track
    # lives are AB3DMOT's per-class choices for PointRCNN (cars coast one frame longer); which rows are
    # reported and their scores were chosen on the KITTI tracking training sequences (0, 2, 3, 4, 5, 7, 9, 11,
    # 17, 20) only. docs/tracking.md, section "Tracker", gives the evidence.
    return {
        'Car': ClassParams(metric='giou_3d', match_threshold=-0.2, algorithm='hungarian', min_hits=3,
                           max_age=3, max_age_tentative=2, report_coasting=1, report_tentative=True,
                           tentative_min_score=-0.5, tentative_penalty=2.0, score_mode='mean', hits_bonus=2.0,
                           hits_bonus_cap=20),
        'Pedestrian': ClassParams(metric='giou_3d', match_threshold=-0.2, algorithm='greedy', min_hits=4,
                                  max_age=4, max_age_tentative=3, report_coasting=3, report_tentative=True,
                                  tentative_min_score=0.0, tentative_penalty=2.0, score_mode='mean', hits_bonus=1.0,
                                  hits_bonus_cap=10),
        'Cyclist': ClassParams(metric='distance', match_threshold=2.0, algorithm='hungarian', min_hits=3,
                               max_age=3, max_age_tentative=3, report_coasting=1, report_tentative=True,
                               tentative_penalty=2.0, score_mode='mean', hits_bonus=6.0),
    }


@dataclass(frozen=True)
class TrackerConfig:
    """Parameters of `MultiObjectTracker`.

    Attributes:
        default: the parameters of every class without an entry in `classes`.
        classes: per-class parameters by class name ('Car', 'Pedestrian', ...).
        frame: the frame name the reported boxes carry (the LiDAR frame of each update).
    """

    default: ClassParams = field(default_factory=ClassParams)
    classes: Mapping[str, ClassParams] = field(default_factory=_default_classes)
    frame: str = 'lidar'

    def params(self, name: str) -> ClassParams:
        """The parameters of class `name`."""
        return self.classes.get(name, self.default)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], *, base: TrackerConfig | None = None) -> TrackerConfig:
        """A configuration from a mapping (see the module docstring), starting from `base` (the defaults).

        A ClassParams key at the top level changes `default` and every class of `base`; `classes` (or a
        flat 'Class.key') then overrides single classes; classes not in `base` start from the new default.

        Raises:
            FormatError: an unknown key or a value of the wrong type, naming it.
        """
        base = base or cls()
        class_keys = {f.name: f for f in fields(ClassParams)}
        top: dict[str, Any] = {}
        per_class: dict[str, dict[str, Any]] = {}
        frame = base.frame
        for key, value in mapping.items():
            key = str(key)
            if key == 'classes':
                if not isinstance(value, Mapping):
                    raise FormatError(f'tracker: "classes" must map class names to parameters, got {value!r}')
                for name, params in value.items():
                    if not isinstance(params, Mapping):
                        raise FormatError(f'tracker: classes.{name} must be a mapping of parameters, got {params!r}')
                    per_class.setdefault(str(name), {}).update({str(k): v for k, v in params.items()})
            elif key == 'frame':
                frame = str(value)
            elif '.' in key:
                name, sub = key.rsplit('.', 1)
                per_class.setdefault(name, {})[sub] = value
            elif key in class_keys:
                top[key] = value
            else:
                raise FormatError(f'tracker: unknown parameter {key!r}; known: frame, classes, '
                                  + ', '.join(class_keys))
        default = _replace(base.default, top, 'tracker')
        classes = {name: _replace(p, top, f'tracker ({name})') for name, p in base.classes.items()}
        for name, values in per_class.items():
            classes[name] = _replace(classes.get(name, default), values, f'tracker classes.{name}')
        return cls(default=default, classes=classes, frame=frame)

    def to_dict(self) -> dict[str, Any]:
        """The mapping `from_dict` reads back."""
        out: dict[str, Any] = dataclasses.asdict(self.default)
        out['frame'] = self.frame
        out['classes'] = {name: dataclasses.asdict(p) for name, p in self.classes.items()}
        return out


def _replace(params: ClassParams, values: Mapping[str, Any], where: str) -> ClassParams:
    known = {f.name: f for f in fields(ClassParams)}
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise FormatError(f'{where}: unknown parameter {key!r}; known: {", ".join(known)}')
        kind = type(getattr(ClassParams(), key))
        try:
            if kind is bool:
                if isinstance(value, str):
                    if value.lower() not in ('true', 'false', '1', '0'):
                        raise ValueError(value)
                    value = value.lower() in ('true', '1')
                typed[key] = bool(value)
            elif kind is int:
                if float(value) != int(float(value)):
                    raise ValueError(value)
                typed[key] = int(float(value))
            else:
                typed[key] = kind(value)
        except (TypeError, ValueError):
            raise FormatError(f'{where}: parameter {key!r} must be a {kind.__name__}, got {value!r}') from None
    return replace(params, **typed)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_tracker_config(config_file: str | Path | None = None, overrides: Sequence[str] = ()) -> TrackerConfig:
    """The tracker configuration of `omnifuse track`: the defaults, a YAML or JSON file, then KEY=VALUE overrides.

    Args:
        config_file: YAML (or .json) mapping for `TrackerConfig.from_dict`, or None for the defaults.
        overrides: 'KEY=VALUE' strings (e.g. 'min_hits=2', 'Car.max_age=2'); a value is read as JSON where it
            parses, else kept as text.

    Raises:
        FormatError: the file is not a mapping, an override is not KEY=VALUE, or a key or value is unknown.
    """
    mapping: dict = {}
    if config_file:
        path = Path(config_file)
        text = path.read_text(encoding='utf-8')
        try:
            if path.suffix == '.json':
                mapping = json.loads(text)
            else:
                import yaml
                mapping = yaml.safe_load(text) or {}
        except (ValueError, ImportError) as exc:
            raise FormatError(f'{path}: not a readable JSON/YAML mapping of tracker parameters: {exc}') from None
        if not isinstance(mapping, dict):
            raise FormatError(f'{path}: expected a mapping of tracker parameters, got {type(mapping).__name__}')
    config = TrackerConfig.from_dict(mapping) if mapping else TrackerConfig()
    flat = {}
    for item in overrides:
        if '=' not in item:
            raise FormatError(f'--set {item!r}: expected KEY=VALUE, e.g. min_hits=2 or Car.max_age=2')
        key, value = item.split('=', 1)
        flat[key.strip()] = _parse_value(value.strip())
    return TrackerConfig.from_dict(flat, base=config) if flat else config
