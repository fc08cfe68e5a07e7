"""A LiDAR's beams (laser rings): which beam fired each point, and a sparser LiDAR made by keeping some of them.

numpy only (no torch, no registry): the training pipeline's `BeamSubsample` step and the exported detectors'
runtime (omnifuse.deploy.detector_runtime) share it, so a 16-beam model sees the same points on every backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnifuse.errors import FormatError

__all__ = ['BeamSelection', 'beam_index', 'selection_from_degrees']


def beam_index(xyz: np.ndarray, elevations: np.ndarray) -> np.ndarray:
    """(N,) index of the beam that fired each point: the beam elevation nearest the point's.

    Args:
        xyz: (N, 3) points, LiDAR frame with the sensor at the origin (x forward, z up).
        elevations: (B,) beam elevations [rad], any order.
    """
    elev = np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1]))
    order = np.argsort(elevations)
    sorted_el = np.asarray(elevations, dtype=np.float64)[order]
    right = np.clip(np.searchsorted(sorted_el, elev), 1, len(sorted_el) - 1)
    nearer_left = (elev - sorted_el[right - 1]) < (sorted_el[right] - elev)
    return order[np.where(nearer_left, right - 1, right)]


@dataclass(frozen=True)
class BeamSelection:
    """Every `keep_every`-th beam of a LiDAR whose beams have the given elevations, beam 0 the top one.

    Attributes:
        elevations: (B,) beam elevations [rad], descending (beam 0 first).
        keep_every: keep one beam in this many (1 keeps all).
        offset: beam b is kept when b % keep_every == offset (0 <= offset < keep_every).
    """

    elevations: tuple[float, ...]
    keep_every: int = 4
    offset: int = 0

    def __post_init__(self) -> None:
        if self.keep_every < 1 or not 0 <= self.offset < self.keep_every:
            raise ValueError(f'BeamSubsample: need keep_every >= 1 and 0 <= offset < keep_every, got keep_every='
                             f'{self.keep_every}, offset={self.offset}')
        if len(self.elevations) < 2:
            raise ValueError(f'BeamSubsample: elevations_deg must list at least 2 beams, got {self.elevations!r}')
        object.__setattr__(self, 'elevations', tuple(sorted((float(e) for e in self.elevations), reverse=True)))

    def keep(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: the points (N, >=3), sensor at the origin, that the kept beams fired."""
        if self.keep_every == 1:
            return np.ones(len(points), bool)
        beam = beam_index(np.asarray(points[:, :3], dtype=np.float64), np.asarray(self.elevations))
        return beam % self.keep_every == self.offset

    def as_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (what `from_dict` reads back)."""
        return {'elevations': list(self.elevations), 'keep_every': self.keep_every, 'offset': self.offset}

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any], *, source: str = 'spec') -> BeamSelection:
        """The selection `as_dict` wrote (FormatError naming `source` for a missing or unknown key)."""
        unknown = sorted(set(settings) - {'elevations', 'keep_every', 'offset'})
        if unknown or 'elevations' not in settings:
            raise FormatError(f'{source}: beam selection needs elevations, keep_every, offset; got '
                              f'{sorted(settings)}')
        return cls(tuple(settings['elevations']), int(settings.get('keep_every', 4)), int(settings.get('offset', 0)))


def selection_from_degrees(elevations_deg: Sequence[float] | None, keep_every: int, offset: int) -> BeamSelection:
    """The selection of a `BeamSubsample` step's arguments (elevations in degrees; None: KITTI's HDL-64E)."""
    if elevations_deg is None:
        from omnifuse.datasets.sim.lidar import hdl64_elevations

        elevations = hdl64_elevations()
    else:
        elevations = np.radians(np.asarray(elevations_deg, dtype=np.float64))
    if elevations.ndim != 1:
        raise ValueError(f'BeamSubsample: elevations_deg must be a list of angles, got {elevations_deg!r}')
    return BeamSelection(tuple(elevations.tolist()), int(keep_every), int(offset))
