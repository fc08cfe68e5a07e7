"""The procedural street scene: a straight road with lanes, sidewalks, buildings, poles, trees, and
vehicles, pedestrians and cyclists that move at constant velocity.

Frames. The *world* frame has x along the road, y to the left, z up, with the road centre line at
y = 0; the ground is the plane z = GROUND_Z (= -1.73 m, so that the world z of a point equals its
height relative to a LiDAR mounted 1.73 m above the ground, as in KITTI). The ego drives along +x in
the lane at y = EGO_LANE_Y at a constant speed; its LiDAR frame at time t is the world frame shifted by
(ego_speed * t, EGO_LANE_Y, 0) (no rotation), see `Scene.at`.

Road layout across y (symmetric): driving lanes 3.5 m wide centred at +-1.75 and +-5.25, a parking
strip 7.0..8.75, sidewalk 8.75..12.25, then terrain and the buildings (fronts at |y| >= 13).
Right-hand traffic: lanes with y < 0 drive towards +x.

Everything is a box `(x, y, z, dx, dy, dz, yaw)` (the omnifuse box convention). A thing (Car, Van,
Truck, Pedestrian, Cyclist) is labelled by one box and drawn as a few part boxes inside it.
Everything is deterministic given the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from omnifuse.datasets.sim import classes as C
from omnifuse.errors import OmnifuseError
from omnifuse.structures.geometry import box_intersection_bev

__all__ = ['SimError', 'Parts', 'Snapshot', 'Scene', 'make_scene', 'scene_from_boxes', 'GROUND_Z', 'LIDAR_HEIGHT',
           'EGO_LANE_Y', 'ROAD_HALF_WIDTH', 'SIDEWALK_OUTER', 'CONDITIONS', 'KIND_PLAIN', 'KIND_BUILDING', 'KIND_BODY',
           'KIND_GLASS', 'KIND_SKIN', 'EGO_BOX', 'ground_class', 'lane_marking', 'SCENARIOS']

LIDAR_HEIGHT = 1.73
GROUND_Z = -LIDAR_HEIGHT
EGO_LANE_Y = -1.75
ROAD_HALF_WIDTH = 8.75
SIDEWALK_OUTER = 12.25
CONDITIONS = ('day', 'night', 'glare', 'fog')
# 'parking': the ego stands still with cars, people, bollards and walls within a few metres of its body.
SCENARIOS = ('street', 'parking')
# The ego vehicle's body in its LiDAR frame (x, y, z, dx, dy, dz, yaw): 4.6 x 1.8 x 1.5 m.
EGO_BOX = np.array([0.25, 0.0, GROUND_Z + 0.75, 4.6, 1.8, 1.5, 0.0])



class SimError(OmnifuseError, ValueError):
    """A simulator option is not valid (names the option and the accepted values)."""


# Surface kinds: how the renderers shade a part beyond its base colour/temperature.
KIND_PLAIN, KIND_BUILDING, KIND_BODY, KIND_GLASS, KIND_SKIN = range(5)

# class -> (lidar reflectivity, day temperature [K], night temperature [K])
_MATERIAL = {
    C.BUILDING: (0.30, 296.0, 289.0), C.POLE: (0.55, 297.0, 286.0), C.VEGETATION: (0.45, 291.0, 284.0),
    C.CAR: (0.35, 297.0, 289.0), C.VAN: (0.35, 297.0, 289.0), C.TRUCK: (0.35, 297.0, 289.0),
    C.PEDESTRIAN: (0.30, 303.0, 302.0), C.CYCLIST: (0.30, 303.0, 302.0),
}
_CAR_COLOURS = np.array([[0.92, 0.92, 0.92], [0.08, 0.08, 0.09], [0.62, 0.64, 0.66], [0.65, 0.08, 0.07],
                         [0.10, 0.20, 0.55], [0.25, 0.28, 0.30], [0.80, 0.70, 0.20], [0.15, 0.40, 0.20]])
_FACADES = np.array([[0.72, 0.62, 0.50], [0.60, 0.58, 0.55], [0.78, 0.74, 0.66], [0.55, 0.35, 0.28],
                     [0.45, 0.47, 0.50], [0.85, 0.80, 0.70]])
_TYRE = np.array([0.06, 0.06, 0.06])
_CLOTHES = np.array([[0.15, 0.15, 0.25], [0.55, 0.10, 0.10], [0.20, 0.35, 0.55], [0.35, 0.30, 0.25],
                     [0.80, 0.75, 0.30], [0.12, 0.12, 0.12], [0.85, 0.85, 0.85]])
# KITTI-like mean size (l, w, h) and spread per thing class.
_SIZES = {'Car': ((3.9, 1.62, 1.53), (0.35, 0.08, 0.12)), 'Van': ((5.1, 1.9, 2.2), (0.4, 0.1, 0.2)),
          'Truck': ((9.5, 2.45, 3.2), (2.0, 0.1, 0.3)), 'Pedestrian': ((0.8, 0.62, 1.75), (0.15, 0.08, 0.1)),
          'Cyclist': ((1.76, 0.6, 1.74), (0.1, 0.06, 0.08))}


@dataclass
class Parts:
    """Renderable boxes and their surface attributes, in one frame.

    Attributes:
        boxes: (M, 7) float64 boxes (x, y, z, dx, dy, dz, yaw).
        cls: (M,) uint8 semantic class id (classes.py).
        obj: (M,) int32 index of the owning thing in the snapshot's `boxes`, -1 for static parts.
        color: (M, 3) float32 RGB albedo in [0, 1].
        refl: (M,) float32 LiDAR reflectivity in [0, 1].
        temp: (M,) float32 surface temperature [K].
        kind: (M,) uint8 surface kind (KIND_*).
    """

    boxes: np.ndarray
    cls: np.ndarray
    obj: np.ndarray
    color: np.ndarray
    refl: np.ndarray
    temp: np.ndarray
    kind: np.ndarray

    @classmethod
    def empty(cls) -> Parts:
        """No parts."""
        return cls(np.zeros((0, 7)), np.zeros(0, np.uint8), np.zeros(0, np.int32), np.zeros((0, 3), np.float32),
                   np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, np.uint8))

    def __len__(self) -> int:
        return len(self.boxes)

    @staticmethod
    def concat(items: list[Parts]) -> Parts:
        """Concatenate part lists (obj indices are kept as they are)."""
        if not items:
            return Parts.empty()
        names = ('boxes', 'cls', 'obj', 'color', 'refl', 'temp', 'kind')
        return Parts(*(np.concatenate([getattr(p, n) for p in items]) for n in names))


@dataclass
class Snapshot:
    """The scene at one instant, in the ego LiDAR frame.

    Attributes:
        parts: every renderable box (static and thing parts), LiDAR frame.
        boxes: (K, 7) thing boxes, LiDAR frame.
        names: K KITTI class names.
        moving: (K,) bool, the thing moves (warm engine, lights on).
        ego_xy: (2,) ego LiDAR position in the world frame (for the ground pattern).
        lamps: (L, 3) street-lamp heads, LiDAR frame.
        condition: 'day', 'night', 'glare' or 'fog'.
        sun: (3,) unit vector towards the sun, LiDAR frame.
        visibility: meteorological visibility [m] (inf unless fog).
        time_s: seconds since the start of the sequence.
    """

    parts: Parts
    boxes: np.ndarray
    names: list[str]
    moving: np.ndarray
    ego_xy: np.ndarray
    lamps: np.ndarray
    condition: str
    sun: np.ndarray
    visibility: float
    time_s: float


def ground_class(x: np.ndarray, y: np.ndarray, ego_xy: np.ndarray) -> np.ndarray:
    """Class id (road, sidewalk or terrain) of ground points at LiDAR-frame (x, y); same shape, uint8."""
    ay = np.abs(y + ego_xy[1])
    out = np.full(ay.shape, C.TERRAIN, np.uint8)
    out[ay < SIDEWALK_OUTER] = C.SIDEWALK
    out[ay < ROAD_HALF_WIDTH] = C.ROAD
    return out


def lane_marking(x: np.ndarray, y: np.ndarray, ego_xy: np.ndarray) -> np.ndarray:
    """(same shape) bool: the ground point lies on a painted line (dashed lanes, solid centre and edges)."""
    xw, yw = x + ego_xy[0], y + ego_xy[1]
    ay = np.abs(yw)
    solid = (ay < 0.12) | (np.abs(ay - 7.0) < 0.08)
    dashed = (np.abs(ay - 3.5) < 0.08) & (np.mod(xw, 9.0) < 3.0)
    return solid | dashed


def _yaw_rotate(local: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * local[..., 0] - s * local[..., 1], s * local[..., 0] + c * local[..., 1]], -1)


@dataclass
class Scene:
    """A whole procedural world: static parts in the world frame and things at t = 0 with velocities.

    Attributes:
        static: static parts, world frame (obj = -1).
        boxes0: (K, 7) thing boxes at t = 0, world frame.
        names: K KITTI class names.
        velocity: (K, 2) world-frame velocity [m/s].
        part_local: (P, 6) thing parts: centre offset (3) and size (3) in the owner's box frame.
        part_attr: thing parts' attributes (boxes unused; obj = owner index).
        lamps: (L, 3) street-lamp heads, world frame.
        ego_speed: [m/s] along +x.
        condition: lighting/weather of the sequence.
        sun: (3,) unit vector towards the sun (world = LiDAR orientation).
        visibility: [m] (fog), inf otherwise.
        seed: the seed the scene was made from.
    """

    static: Parts
    boxes0: np.ndarray
    names: list[str]
    velocity: np.ndarray
    part_local: np.ndarray
    part_attr: Parts
    lamps: np.ndarray
    ego_speed: float
    condition: str
    sun: np.ndarray
    visibility: float
    seed: int
    extra: dict[str, object] = field(default_factory=dict)

    def ego_xy(self, t: float) -> np.ndarray:
        """(2,) world position of the ego LiDAR at time t [s]."""
        return np.array([self.ego_speed * t, EGO_LANE_Y])

    def boxes_at(self, t: float) -> np.ndarray:
        """(K, 7) thing boxes at time t, world frame."""
        out = self.boxes0.copy()
        out[:, :2] += self.velocity * t
        return out

    def at(self, t: float) -> Snapshot:
        """The scene at time t [s] in the ego LiDAR frame."""
        ego = self.ego_xy(t)
        boxes = self.boxes_at(t)
        boxes[:, :2] -= ego
        owner = self.part_attr.obj
        centres = boxes[owner, :3].copy()
        centres[:, :2] += _yaw_rotate(self.part_local[:, :3], boxes[owner, 6])
        centres[:, 2] += self.part_local[:, 2]
        thing_boxes = np.concatenate([centres, self.part_local[:, 3:], boxes[owner, 6:7]], 1)
        static = self.static.boxes.copy()
        static[:, :2] -= ego
        parts = Parts.concat([Parts(static, *_attrs(self.static)), Parts(thing_boxes, *_attrs(self.part_attr))])
        lamps = self.lamps.copy()
        lamps[:, :2] -= ego
        moving = np.linalg.norm(self.velocity, axis=1) > 0.1
        return Snapshot(parts, boxes, list(self.names), moving, ego, lamps, self.condition, self.sun,
                        self.visibility, t)


def _attrs(p: Parts) -> tuple[np.ndarray, ...]:
    return p.cls, p.obj, p.color, p.refl, p.temp, p.kind


class _Builder:
    """Accumulates parts and things while the scene is generated."""

    def __init__(self, rng: np.random.Generator, night: bool, glazed_vans: bool = False) -> None:
        self.rng = rng
        self.night = night
        self.glazed_vans = glazed_vans
        self.static: list[tuple] = []
        self.things: list[tuple] = []   # (box7, name, vx, vy)
        self.thing_parts: list[tuple] = []  # (owner, local6, cls, colour, refl, temp, kind)
        self.occupied: list[np.ndarray] = [np.array([0.0, EGO_LANE_Y, 0, 7.5, 2.8, 2, 0])]  # ego + margin

    def temp(self, cls: int) -> float:
        refl, day, night = _MATERIAL[cls]
        return night if self.night else day

    def add_static(self, box: list[float], cls: int, colour: np.ndarray, kind: int = KIND_PLAIN,
                   temp: float | None = None, refl: float | None = None) -> None:
        self.static.append((np.asarray(box, float), cls, np.asarray(colour, np.float32),
                            _MATERIAL[cls][0] if refl is None else refl, self.temp(cls) if temp is None else temp,
                            kind))
        self.occupied.append(np.asarray(box, float))

    def free(self, box: np.ndarray, margin: float = 0.3) -> bool:
        grown = box.copy()
        grown[3:5] += 2 * margin
        return not (box_intersection_bev(grown[None], np.stack(self.occupied)) > 1e-6).any()

    def add_thing(self, box: np.ndarray, name: str, velocity: tuple[float, float], moving: bool) -> None:
        owner = len(self.things)
        self.things.append((box, name, velocity))
        self.occupied.append(box)
        for local, cls, colour, kind, temp in _thing_parts(name, box[3:6], self.rng, moving, self.night,
                                                           self.glazed_vans):
            self.thing_parts.append((owner, local, cls, colour, _MATERIAL[cls][0] * (0.3 if kind == KIND_GLASS else 1),
                                     temp, kind))

    def build_static(self) -> Parts:
        if not self.static:
            return Parts.empty()
        return Parts(np.stack([s[0] for s in self.static]), np.array([s[1] for s in self.static], np.uint8),
                     np.full(len(self.static), -1, np.int32), np.stack([s[2] for s in self.static]),
                     np.array([s[3] for s in self.static], np.float32),
                     np.array([s[4] for s in self.static], np.float32),
                     np.array([s[5] for s in self.static], np.uint8))


def _thing_parts(name: str, size: np.ndarray, rng: np.random.Generator, moving: bool,
                 night: bool, glazed_vans: bool = False) -> list[tuple]:
    """Part boxes of one thing in its own frame: (local6, cls, colour, kind, temp).

    A van is two opaque boxes (a bonnet-length lower body, a tall cabin), or with `glazed_vans` the body of
    `_van_parts` (windows, sill, ground clearance, wheels).
    """
    length, w, h = (float(v) for v in size)
    b = -h / 2  # bottom in the box frame
    cls = C.THING_TO_ID[name]
    warm = 0.0 if night else 4.0
    if name in ('Car', 'Van', 'Truck'):
        body = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))]
        if name == 'Truck' and rng.random() < 0.7:
            body = _FACADES[rng.integers(len(_FACADES))]
        base = 289.0 + warm
        glass = np.array([0.12, 0.15, 0.2])
        if name == 'Car':
            low = 0.56 * h
            return [((0, 0, b + low / 2, length, w, low), cls, body, KIND_BODY, base),
                    ((-0.06 * length, 0, b + low + (h - low) / 2, 0.52 * length, 0.9 * w, h - low), cls, glass,
                     KIND_GLASS, base - 3)]
        if name == 'Van' and glazed_vans:
            return _van_parts(length, w, h, cls, body, glass, base)
        if name == 'Van':
            low = 0.45 * h
            return [((0, 0, b + low / 2, length, w, low), cls, body, KIND_BODY, base),
                    ((-0.09 * length, 0, b + low + (h - low) / 2, 0.82 * length, w, h - low), cls, body, KIND_BODY,
                     base)]
        cab = 0.2 * length
        return [((length / 2 - cab / 2, 0, b + 0.4 * h, cab, w * 0.96, 0.8 * h), cls, _CAR_COLOURS[rng.integers(5)],
                 KIND_BODY, base),
                ((-cab / 2 - 0.05, 0, 0.03 * h, length - cab - 0.1, w, 0.94 * h), cls, body, KIND_BODY, base - 1)]
    clothes = _CLOTHES[rng.integers(len(_CLOTHES))]
    skin = np.array([0.80, 0.62, 0.50]) * rng.uniform(0.5, 1.05)
    body_t = 301.0 + rng.uniform(-1.5, 1.5)
    head = (0, 0, h / 2 - 0.12 * h / 2, min(0.24, length), min(0.2, w), 0.12 * h)
    if name == 'Pedestrian':
        legs = 0.47 * h
        return [((0, 0, b + legs / 2, 0.55 * length, 0.6 * w, legs), cls, clothes * 0.6, KIND_PLAIN, body_t - 1),
                ((0, 0, b + legs + 0.205 * h, 0.5 * length, 0.95 * w, 0.41 * h), cls, clothes, KIND_PLAIN, body_t),
                (head, cls, skin, KIND_SKIN, 306.0)]
    bike = 0.55 * h
    frame_colour = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))]
    return [((0, 0, b + bike / 2, length, 0.15, bike), cls, frame_colour * 0.6, KIND_PLAIN, 293.0 + warm / 2),
            ((-0.05 * length, 0, b + bike + 0.165 * h, 0.4 * length, 0.9 * w, 0.33 * h), cls, clothes, KIND_PLAIN,
             body_t),
            (head, cls, skin, KIND_SKIN, 306.0)]


def _van_parts(length: float, w: float, h: float, cls: int, body: np.ndarray, glass: np.ndarray,
               base: float) -> list[tuple]:
    """A van: a bonnet-length lower body and a tall cabin with glass windows, in the van's own frame.

    Real vans (KITTI seq 0000) return few points from their upper third: windscreen, cab side windows and the
    rear door windows are glass. A van drawn as two opaque boxes looks unlike any real one, and a detector trained
    on it read real vans as cars (docs/results.md "Why the vans miss IoU 0.7"). The windows are thin glass slabs
    flush with the box faces in front of an opaque core set in by their thickness. Which windows a van has (a
    passenger van's full side glazing, rear door windows) is drawn from a generator seeded by its size, so the
    scene's own random stream, and so every other object, stays as it was.
    """
    b = -h / 2
    belt = 0.55 * h  # the window sill above the ground (real vans: ~1.15 of 2.1 m)
    clear = 0.09 * h  # ground clearance under the body, between the wheels
    t = 0.04  # glass thickness
    front = 0.32 * length  # the cabin's front face (windscreen); ahead of it, the bonnet
    rear = -length / 2
    pick = np.random.default_rng(np.frombuffer(np.asarray([length, w, h], np.float64).tobytes(), np.uint32))
    passenger, rear_glass = pick.random() < 0.5, pick.random() < 0.8
    top, sill = b + h, b + belt
    glass_lo, glass_hi = sill + 0.04 * h, top - 0.1 * h
    gh, gz = glass_hi - glass_lo, (glass_hi + glass_lo) / 2
    core_len = front - rear - 2 * t
    wheel = 0.3 * h
    parts: list[tuple] = [((0, 0, b + (clear + belt) / 2, length, w, belt - clear), cls, body, KIND_BODY, base)]
    for wx in (0.33 * length, -0.3 * length):
        for sign in (-1.0, 1.0):
            parts.append(((wx, sign * (w / 2 - 0.12), b + wheel / 2, 0.3 * h, 0.22, wheel), cls, _TYRE, KIND_PLAIN,
                          base))
    parts += [
        (((front + rear) / 2, 0, sill + (h - belt) / 2, core_len, w - 2 * t, h - belt), cls, body, KIND_BODY, base),
        # the cabin's shell above the windows (roof rail), flush with the box
        (((front + rear) / 2, 0, (glass_hi + top) / 2, front - rear, w, top - glass_hi), cls, body, KIND_BODY, base),
        ((front - t / 2, 0, gz, t, 0.9 * w, gh), cls, glass, KIND_GLASS, base - 3)]
    side_len = (front - rear - 0.3) if passenger else 0.25 * length
    for sign in (-1.0, 1.0):
        parts.append(((front - 0.1 - side_len / 2, sign * (w / 2 - t / 2), gz, side_len - 0.1, t, gh), cls, glass,
                      KIND_GLASS, base - 3))
        if not passenger:  # the cargo area's opaque side wall
            wall = front - rear - side_len - 0.1
            parts.append(((rear + wall / 2, sign * (w / 2 - t / 2), gz, wall, t, gh), cls, body, KIND_BODY, base))
    rear_kind, rear_colour = (KIND_GLASS, glass) if rear_glass else (KIND_BODY, body)
    parts.append(((rear + t / 2, 0, gz, t, 0.8 * w, gh), cls, rear_colour, rear_kind, base - (3 if rear_glass else 0)))
    return parts


def _sample_size(name: str, rng: np.random.Generator) -> np.ndarray:
    mean, std = _SIZES[name]
    return np.maximum(np.array(mean) + rng.normal(0, 1, 3).clip(-2, 2) * np.array(std), 0.2)


def _sample_x(rng: np.random.Generator, near: float = 5.0, far: float = 60.0) -> float:
    """Along-road position relative to the ego: 75 % ahead in [near, far], 25 % around it."""
    if rng.random() < 0.75:
        return float(rng.uniform(near, far))
    return float(rng.uniform(-30.0, near))


def _place(builder: _Builder, name: str, rng: np.random.Generator, lane_speed: dict[float, float],
           far: bool = False) -> bool:
    size = _sample_size(name, rng)
    length, w, h = size
    for _ in range(20):
        near_max = 60.0 if name in ('Car', 'Van', 'Truck') else 45.0
        x = float(rng.uniform(60, 95)) if far else _sample_x(rng, 5.0, near_max)
        velocity = (0.0, 0.0)
        moving = False
        if name in ('Car', 'Van', 'Truck'):
            slot = rng.random()
            # Wide vehicles keep to the inner lanes so they never brush the cyclists' band.
            lane_ok = [EGO_LANE_Y, 1.75] if name != 'Car' else list(lane_speed)
            if far or slot < 0.55:
                y = float(rng.choice(lane_ok)) + float(np.clip(rng.normal(0, 0.06), -0.1, 0.1))
                yaw = (0.0 if y < 0 else math.pi) + rng.normal(0, 0.02)
                v = lane_speed[min(lane_speed, key=lambda c: abs(c - y))]
                velocity, moving = (v, 0.0), abs(v) > 0.1
            elif slot < 0.9 and name != 'Truck':
                side = rng.choice([-1.0, 1.0])
                y = side * (7.0 + w / 2 + rng.uniform(0.0, 0.15))
                yaw = (0.0 if side < 0 else math.pi) + rng.normal(0, 0.04)
            else:
                side = rng.choice([-1.0, 1.0])
                y = side * rng.uniform(13.0 + w / 2, 18.0)
                yaw = rng.uniform(-math.pi, math.pi)
        elif name == 'Cyclist':
            side = rng.choice([-1.0, 1.0])
            y = side * 6.65
            speed = lane_speed.get(side * 6.65, 4.5)
            yaw = (0.0 if side < 0 else math.pi) + rng.normal(0, 0.05)
            velocity, moving = (speed, 0.0), True
        else:  # Pedestrian
            slot = rng.random()
            side = rng.choice([-1.0, 1.0])
            if slot < 0.6:  # walking along the sidewalk, in two bands so walkers never meet
                forward = rng.random() < 0.5
                y = side * (rng.uniform(9.4, 10.3) if forward else rng.uniform(10.9, 11.3))
                yaw = (0.0 if forward else math.pi) + rng.normal(0, 0.05)
                velocity, moving = ((1.3 if forward else -1.3), 0.0), True
            elif slot < 0.85:  # standing on the sidewalk or the terrain
                y = side * rng.uniform(9.4, 14.0)
                yaw = rng.uniform(-math.pi, math.pi)
            else:  # waiting at the kerb, between parked cars
                y = side * rng.uniform(7.3, 8.4)
                yaw = rng.uniform(-math.pi, math.pi)
        box = np.array([x, y, GROUND_Z + h / 2, length, w, h, math.remainder(yaw, 2 * math.pi)])
        if box[6] >= math.pi:
            box[6] -= 2 * math.pi
        if builder.free(box, 0.25 if name == 'Pedestrian' else 0.4):
            builder.add_thing(box, name, velocity, moving)
            return True
    return False


def _static_world(builder: _Builder, seed: int, x0: float, x1: float) -> list[np.ndarray]:
    """Buildings, fences, poles and trees along both sides of the road; returns the lamp heads.

    Each side and kind of object draws from its own random stream, walking along +x, so a longer world
    (a longer sequence) only appends objects: the first metres are the same for every duration.
    """
    lamps = []
    for side in (-1.0, 1.0):
        rng = np.random.default_rng([seed, 10, int(side > 0)])
        x = x0
        while x < x1:
            length = rng.uniform(8, 30)
            if rng.random() < 0.8:
                front = rng.uniform(13.0, 17.0) if rng.random() < 0.7 else rng.uniform(17.0, 24.0)
                depth = rng.uniform(8, 15)
                height = rng.uniform(4, 18)
                colour = _FACADES[rng.integers(len(_FACADES))] * rng.uniform(0.8, 1.1)
                builder.add_static([x + length / 2, side * (front + depth / 2), GROUND_Z + height / 2, length, depth,
                                    height, 0.0], C.BUILDING, colour, KIND_BUILDING)
            elif rng.random() < 0.6:  # a wall or fence instead
                height = rng.uniform(0.8, 2.2)
                builder.add_static([x + length / 2, side * 12.6, GROUND_Z + height / 2, length, 0.25, height, 0.0],
                                   C.BUILDING, np.array([0.55, 0.52, 0.48]) * rng.uniform(0.8, 1.2))
            x += length + (rng.uniform(1, 10) if rng.random() < 0.5 else 0.3)
        rng = np.random.default_rng([seed, 20, int(side > 0)])
        x = x0 + rng.uniform(0, 10)
        pole_xs = []
        while x < x1:
            builder.add_static([x, side * 9.05, GROUND_Z + 3.75, 0.22, 0.22, 7.5, 0.0], C.POLE,
                               np.array([0.45, 0.47, 0.5]))
            lamps.append([x, side * 8.0, GROUND_Z + 7.3])
            pole_xs.append(x)
            x += rng.uniform(18, 32)
        rng = np.random.default_rng([seed, 30, int(side > 0)])
        x = x0 + rng.uniform(0, 8)
        while x < x1:
            if rng.random() < 0.6 and min((abs(x - p) for p in pole_xs), default=9) > 2.5:
                trunk = rng.uniform(2.2, 3.0)
                crown = rng.uniform(2.2, 3.6)
                green = np.array([0.22, 0.38, 0.14]) * rng.uniform(0.7, 1.2)
                builder.add_static([x, side * 12.0, GROUND_Z + trunk / 2, 0.3, 0.3, trunk, 0.0], C.VEGETATION,
                                   np.array([0.33, 0.25, 0.18]))
                builder.add_static([x, side * 12.0, GROUND_Z + trunk + crown / 2 - 0.1, crown, crown, crown,
                                    rng.uniform(-0.4, 0.4)], C.VEGETATION, green)
            x += rng.uniform(9, 16)
    return [np.array(lamp) for lamp in lamps]


def _place_near_field(builder: _Builder, rng: np.random.Generator) -> None:
    """Parking scene: things and obstacles within about 0.3–5 m of the standing ego's body.

    The ego body (EGO_BOX) stands at (0, EGO_LANE_Y) in the world frame; every object is checked against
    everything placed before it, so nothing overlaps.
    """
    front = EGO_BOX[0] + EGO_BOX[3] / 2
    rear = EGO_BOX[0] - EGO_BOX[3] / 2
    half_w = EGO_BOX[4] / 2

    def thing(name: str, x: float, y: float, yaw: float) -> None:
        size = _sample_size(name, rng)
        box = np.array([x, y, GROUND_Z + size[2] / 2, *size, math.remainder(yaw, 2 * math.pi)])
        if name in ('Car', 'Van'):  # keep the gap to the ego body as drawn: shift along the axis by half the length
            box[0] += np.sign(x) * size[0] / 2 if abs(y - EGO_LANE_Y) < half_w else 0.0
            box[1] += np.sign(y - EGO_LANE_Y) * size[1] / 2 if abs(y - EGO_LANE_Y) >= half_w else 0.0
        if builder.free(box, 0.15):
            builder.add_thing(box, name, (0.0, 0.0), False)

    if rng.random() < 0.8:
        thing('Car' if rng.random() < 0.85 else 'Van', front + rng.uniform(0.3, 3.0), EGO_LANE_Y + rng.normal(0, 0.3),
              rng.normal(0, 0.08) + (math.pi if rng.random() < 0.3 else 0.0))
    if rng.random() < 0.7:
        thing('Car', rear - rng.uniform(0.3, 3.0), EGO_LANE_Y + rng.normal(0, 0.3), rng.normal(0, 0.08))
    for side in (-1.0, 1.0):
        if rng.random() < 0.45:
            thing('Car', rng.uniform(-2.0, 2.5), EGO_LANE_Y + side * (half_w + rng.uniform(0.4, 2.0)),
                  rng.normal(0, 0.05) + (math.pi if rng.random() < 0.5 else 0.0))
    for name, count in (('Pedestrian', int(rng.integers(0, 4))), ('Cyclist', int(rng.random() < 0.3))):
        for _ in range(count):
            angle, gap = rng.uniform(-math.pi, math.pi), rng.uniform(0.4, 4.5)
            x = EGO_BOX[0] + math.cos(angle) * (EGO_BOX[3] / 2 + gap)
            y = EGO_LANE_Y + math.sin(angle) * (half_w + gap)
            size = _sample_size(name, rng)
            box = np.array([x, y, GROUND_Z + size[2] / 2, *size, rng.uniform(-math.pi, math.pi)])
            if builder.free(box, 0.15):
                builder.add_thing(box, name, (0.0, 0.0), False)
    for _ in range(int(rng.integers(0, 4))):  # bollards and posts
        angle, gap = rng.uniform(-math.pi, math.pi), rng.uniform(0.3, 4.0)
        x = EGO_BOX[0] + math.cos(angle) * (EGO_BOX[3] / 2 + gap)
        y = EGO_LANE_Y + math.sin(angle) * (half_w + gap)
        height = rng.uniform(0.6, 1.2)
        box = np.array([x, y, GROUND_Z + height / 2, 0.2, 0.2, height, 0.0])
        if builder.free(box, 0.1):
            builder.add_static(list(box), C.POLE, np.array([0.85, 0.75, 0.1]))
    if rng.random() < 0.5:  # a wall alongside, as in a garage or a narrow street
        side = rng.choice([-1.0, 1.0])
        length, height = rng.uniform(3.0, 10.0), rng.uniform(1.2, 2.5)
        box = np.array([rng.uniform(-3.0, 3.0), EGO_LANE_Y + side * (half_w + rng.uniform(0.6, 3.5)),
                        GROUND_Z + height / 2, length, 0.25, height, 0.0])
        if builder.free(box, 0.1):
            builder.add_static(list(box), C.BUILDING, np.array([0.6, 0.58, 0.55]) * rng.uniform(0.8, 1.2))


def make_scene(seed: int, *, condition: str = 'day', duration_s: float = 0.0, scenario: str = 'street',
               glazed_vans: bool = False) -> Scene:
    """Generate a world from `seed`.

    Args:
        seed: the seed; the same seed gives the same world.
        condition: 'day', 'night', 'glare' or 'fog'.
        duration_s: how long the sequence lasts; the static world is extended to cover the ego's travel.
        scenario: 'street' (driving) or 'parking' (standing still with obstacles within a few metres).
        glazed_vans: draw vans with windows, sill, ground clearance and wheels (`_van_parts`) instead of two
            opaque boxes; the labels and every other object are the same.

    Returns:
        The scene; `scene.at(t)` gives the snapshot in the ego LiDAR frame at time t.
    """
    if condition not in CONDITIONS:
        raise SimError(f'condition must be one of {CONDITIONS}, got {condition!r}')
    if scenario not in SCENARIOS:
        raise SimError(f'scenario must be one of {SCENARIOS}, got {scenario!r}')
    key = int(seed) & 0xFFFFFFFF
    rng = np.random.default_rng([key, 0x5EED])
    ego_speed = 0.0 if rng.random() < 0.15 else float(rng.uniform(5, 12))
    builder = _Builder(rng, condition == 'night', glazed_vans)
    if scenario == 'parking':
        ego_speed = 0.0
        builder.occupied[0] = np.array([EGO_BOX[0], EGO_LANE_Y, 0, EGO_BOX[3], EGO_BOX[4], 2, 0])
        _place_near_field(builder, np.random.default_rng([key, 0x9A4C]))
    travel = ego_speed * duration_s
    lamps = _static_world(builder, key, -110.0, 150.0 + travel)
    lane_speed = {-5.25: float(rng.uniform(4, 12)), EGO_LANE_Y: ego_speed, 1.75: -float(rng.uniform(6, 13)),
                  5.25: -float(rng.uniform(6, 13))}
    cyc_speed = {-6.65: float(rng.uniform(3, 6)), 6.65: -float(rng.uniform(3, 6))}
    counts = [('Car', int(rng.integers(5, 16))), ('Van', int(rng.integers(0, 3))),
              ('Truck', int(rng.integers(0, 2) + (rng.random() < 0.2))), ('Pedestrian', int(rng.integers(2, 9))),
              ('Cyclist', int(rng.integers(0, 4)))]
    for name, count in counts:
        for _ in range(count):
            _place(builder, name, rng, {**lane_speed, **cyc_speed} if name == 'Cyclist' else lane_speed)
    for _ in range(int(rng.integers(0, 3))):  # far traffic, often too small to label (DontCare)
        _place(builder, 'Car', rng, lane_speed, far=True)
    if condition == 'glare':  # low sun ahead, inside the camera's field of view
        az, el = rng.uniform(-0.35, 0.35), rng.uniform(0.03, 0.12)
    else:
        az, el = rng.uniform(-math.pi, math.pi), rng.uniform(0.5, 1.1)
    sun = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    visibility = float(rng.uniform(40, 110)) if condition == 'fog' else math.inf
    things = builder.things
    thing_parts = builder.thing_parts
    part_attr = Parts(np.zeros((len(thing_parts), 7)), np.array([C.THING_TO_ID[things[p[0]][1]] for p in thing_parts],
                                                                np.uint8),
                      np.array([p[0] for p in thing_parts], np.int32),
                      np.array([p[3] for p in thing_parts], np.float32).reshape(-1, 3),
                      np.array([p[4] for p in thing_parts], np.float32),
                      np.array([p[5] for p in thing_parts], np.float32),
                      np.array([p[6] for p in thing_parts], np.uint8))
    return Scene(
        static=builder.build_static(),
        boxes0=np.array([t[0] for t in things], float).reshape(-1, 7),
        names=[t[1] for t in things],
        velocity=np.array([t[2] for t in things], float).reshape(-1, 2),
        part_local=np.array([p[1] for p in thing_parts], float).reshape(-1, 6),
        part_attr=part_attr, lamps=np.array(lamps).reshape(-1, 3), ego_speed=ego_speed, condition=condition,
        sun=sun, visibility=visibility, seed=int(seed))


def scene_from_boxes(boxes: np.ndarray, names: list[str], *, velocity: np.ndarray | None = None,
                     condition: str = 'day', seed: int = 0, ego_speed: float = 0.0) -> Scene:
    """A scene with only the given things on an empty road (no buildings, poles or trees): for tests and
    controlled experiments.

    Args:
        boxes: (K, 7) thing boxes in the world frame at t = 0 (the ego LiDAR is at (0, EGO_LANE_Y, 0)).
        names: K KITTI class names.
        velocity: (K, 2) world velocities [m/s] (default: at rest).
        condition: as in `make_scene`.
        seed: the seed of the things' appearance (as in `make_scene`).
        ego_speed: the ego vehicle's speed [m/s] along +x.
    """
    if condition not in CONDITIONS:
        raise SimError(f'condition must be one of {CONDITIONS}, got {condition!r}')
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xB0C5])
    builder = _Builder(rng, condition == 'night')
    boxes = np.asarray(boxes, float).reshape(-1, 7)
    vel = np.zeros((len(boxes), 2)) if velocity is None else np.asarray(velocity, float).reshape(-1, 2)
    for box, name, v in zip(boxes, names, vel, strict=True):
        builder.add_thing(box, name, (float(v[0]), float(v[1])), bool(np.linalg.norm(v) > 0.1))
    parts = builder.thing_parts
    part_attr = Parts(np.zeros((len(parts), 7)), np.array([C.THING_TO_ID[names[p[0]]] for p in parts], np.uint8),
                      np.array([p[0] for p in parts], np.int32),
                      np.array([p[3] for p in parts], np.float32).reshape(-1, 3),
                      np.array([p[4] for p in parts], np.float32), np.array([p[5] for p in parts], np.float32),
                      np.array([p[6] for p in parts], np.uint8))
    sun = np.array([0.5, 0.3, 0.81])
    return Scene(Parts.empty(), boxes, list(names), vel, np.array([p[1] for p in parts], float).reshape(-1, 6),
                 part_attr, np.zeros((0, 3)), ego_speed, condition, sun / np.linalg.norm(sun),
                 60.0 if condition == 'fog' else math.inf, int(seed))
