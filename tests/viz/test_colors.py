import numpy as np

from omnifuse.datasets.sim import classes as C
from omnifuse.viz.colors import CLASS_COLORS, class_color, class_palette


def test_a_class_has_one_colour_in_masks_boxes_and_markers() -> None:
    from omnifuse.ros_nodes.codec import _marker_colour

    masks = class_palette(C.SEMANTIC_CLASSES)  # semantic label images, by simulator class id
    for name, class_id in C.THING_TO_ID.items():
        assert tuple(masks[class_id]) == class_color(name) == class_color(name.lower())
        np.testing.assert_allclose(np.array(_marker_colour(name)) * 255, class_color(name))


def test_every_simulator_class_has_its_own_colour() -> None:
    masks = class_palette(C.SEMANTIC_CLASSES)
    assert all(name in CLASS_COLORS for name in C.SEMANTIC_CLASSES)
    assert len({tuple(c) for c in masks}) == len(C.SEMANTIC_CLASSES)


def test_other_datasets_names_for_a_class_share_its_colour() -> None:
    assert class_color('Vehicle') == class_color('Car') and class_color('person') == class_color('Pedestrian')
    assert class_color('some_new_class') == class_color('some_new_class')  # stable made-up colour
