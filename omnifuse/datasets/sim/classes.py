"""The semantic classes of the simulated world: the single source of truth for their ids.

Every dense label the simulator writes (camera and thermal masks, per-point LiDAR labels, the BEV
occupancy grid) stores these ids as uint8. The "things" are the classes with 3D boxes; their KITTI
names are the ones written to label_2.

    id  name         thing (KITTI name)
    0   unlabeled    -          (no return / nothing; never written for a camera pixel)
    1   road         -
    2   sidewalk     -
    3   terrain      -          (grass and ground beyond the sidewalks)
    4   building     -          (buildings and walls)
    5   pole         -
    6   vegetation   -          (tree trunks and crowns)
    7   car          Car
    8   van          Van
    9   truck        Truck
    10  pedestrian   Pedestrian
    11  cyclist      Cyclist    (bicycle and rider together)
    12  sky          -
"""

from __future__ import annotations

__all__ = ['SEMANTIC_CLASSES', 'CLASS_IDS', 'THING_CLASSES', 'THING_TO_ID', 'ID_TO_THING',
           'UNLABELED', 'ROAD', 'SIDEWALK', 'TERRAIN', 'BUILDING', 'POLE', 'VEGETATION', 'CAR', 'VAN',
           'TRUCK', 'PEDESTRIAN', 'CYCLIST', 'SKY', 'UNKNOWN', 'NUM_CLASSES']

SEMANTIC_CLASSES: tuple[str, ...] = (
    'unlabeled', 'road', 'sidewalk', 'terrain', 'building', 'pole', 'vegetation',
    'car', 'van', 'truck', 'pedestrian', 'cyclist', 'sky',
)
CLASS_IDS: dict[str, int] = {name: i for i, name in enumerate(SEMANTIC_CLASSES)}
NUM_CLASSES = len(SEMANTIC_CLASSES)

UNLABELED, ROAD, SIDEWALK, TERRAIN, BUILDING, POLE, VEGETATION = range(7)
CAR, VAN, TRUCK, PEDESTRIAN, CYCLIST, SKY = range(7, 13)
UNKNOWN = 255  # value of an unknown cell/pixel in uint8 label images (not used by the simulator itself)

# KITTI names of the classes that have 3D boxes, in KITTI's usual order.
THING_CLASSES: tuple[str, ...] = ('Car', 'Van', 'Truck', 'Pedestrian', 'Cyclist')
THING_TO_ID: dict[str, int] = {'Car': CAR, 'Van': VAN, 'Truck': TRUCK, 'Pedestrian': PEDESTRIAN,
                               'Cyclist': CYCLIST}
ID_TO_THING: dict[int, str] = {v: k for k, v in THING_TO_ID.items()}
