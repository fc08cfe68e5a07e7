"""Which frames of a label folder to score: those of a frame list and/or of one recorded condition (day, night).

Used by `omnifuse eval seg` (--split, --condition); the meta files are the simulator's meta/<id>.json.
"""

from __future__ import annotations

from pathlib import Path

from omnifuse.datasets.kitti import read_frame_meta, read_image_set
from omnifuse.errors import FormatError

__all__ = ['select_frames']


def select_frames(gt_dir: str | Path, *, image_set: str | None = None,
                  condition: str | None = None) -> list[str] | None:
    """Frame ids to score: those of `image_set` and/or those whose meta condition is `condition`.

    Returns None when neither is given (score every frame).

    Args:
        gt_dir: folder of ground-truth label PNGs (<id>.png); the meta folder is its sibling `meta/`.
        image_set: a frame list file (one id a line, e.g. a KITTI ImageSets/*.txt), or None for every PNG.
        condition: keep only the frames whose meta/<id>.json has this "condition" (e.g. day, night), or None.

    Raises:
        FileNotFoundError: the image set file, the meta folder or a meta file is missing.
        FormatError: a meta file is not a JSON object, or no frame matches.
    """
    if image_set is None and condition is None:
        return None
    gt_dir = Path(gt_dir)
    if image_set is not None:
        if not Path(image_set).is_file():
            raise FileNotFoundError(2, 'No such image set file', str(image_set))
        ids = read_image_set(image_set)
    else:
        ids = sorted(p.stem for p in gt_dir.glob('*.png'))
    if condition is not None:
        meta_dir = gt_dir.parent / 'meta'
        if not meta_dir.is_dir():
            raise FileNotFoundError(2, 'No meta folder beside the ground truth (needed by --condition)', str(meta_dir))
        kept = []
        for frame in ids:
            path = meta_dir / f'{frame}.json'
            if not path.is_file():
                raise FileNotFoundError(2, 'No such meta file (needed by --condition)', str(path))
            if str(read_frame_meta(path).get('condition')) == condition:
                kept.append(frame)
        ids = kept
    if not ids:
        raise FormatError(f'{gt_dir}: no frame selected (image set {image_set}, condition {condition!r})')
    return ids
