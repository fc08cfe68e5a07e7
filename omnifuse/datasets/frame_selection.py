"""Which frames of a label folder to score: those of a frame list and/or of one recorded condition (day, night).

Used by `omnifuse eval seg` (--split, --condition: label PNGs) and `omnifuse eval kitti` (--split: label .txt
files); the meta files are the simulator's meta/<id>.json.
"""

from __future__ import annotations

from pathlib import Path

from omnifuse.datasets.kitti import read_frame_meta, read_image_set
from omnifuse.errors import FormatError

__all__ = ['label_frame_ids', 'select_frames']


def label_frame_ids(gt_dir: str | Path, *, image_set: str | None = None, suffix: str = '.txt') -> list[str]:
    """Frame ids to score: those of the `image_set` file (one id a line), else every `<id><suffix>` in `gt_dir`.

    Raises:
        NotADirectoryError: `gt_dir` is not a folder.  FileNotFoundError: the image set file is missing.
        FormatError naming the folder or file: no label file, an empty list, a line with more than one id.
    """
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise NotADirectoryError(20, 'not a folder of ground-truth label files', str(gt_dir))
    if image_set is None:
        ids = sorted(p.stem for p in gt_dir.glob(f'*{suffix}'))
        if not ids:
            raise FormatError(f'{gt_dir}: no ground-truth label files (*{suffix})')
        return ids
    if not Path(image_set).is_file():
        raise FileNotFoundError(2, 'No such image set file', str(image_set))
    ids = read_image_set(image_set)
    if not ids:
        raise FormatError(f'{image_set}: the split lists no frame')
    return ids


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
    ids = label_frame_ids(gt_dir, image_set=image_set, suffix='.png')
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
