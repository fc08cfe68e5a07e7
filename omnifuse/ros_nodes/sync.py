"""LiDAR-driven time synchronisation of the other sensors (pure Python, no ROS).

The LiDAR drives the output: every LiDAR message becomes exactly one `SyncedFrame`. Another sensor
is attached when one of its messages has a stamp within `window_ns` of `lidar_stamp + offset_ns`
(the closest such message wins). A LiDAR frame waits for its sensors, but never longer than the
sensor's `timeout_ns` past the LiDAR stamp, measured on the caller's clock (`now_ns`: the bag's
log time in replay, the node clock on a robot). After that the frame is emitted without the
sensor and `SyncedFrame.missing` names it, for the diagnostics.

Edge cases:
    - A sensor is also given up as soon as it delivered a message newer than the window: an
      in-order stream will not go back in time.
    - Out-of-order sensor messages are inserted in stamp order; a sensor message that repeats a
      stamp replaces the earlier one.
    - A LiDAR message older than a frame already emitted is emitted at once (flagged `late`), with
      whatever the buffers hold; a LiDAR message that repeats a stamp is still its own frame
      (flagged `duplicate`), so the output count always equals the LiDAR input count.
    - Time jumping backwards (a looping bag, a restarted simulation): a LiDAR stamp more than
      `jump_back_ns` older than the newest frame emitted resets the synchroniser: waiting frames are
      emitted first, sensor messages from before the jump are forgotten, and the new frame carries
      `reset=True` (so the diagnostics can say so). Smaller steps back are `late` frames, as above.
    - Memory is bounded: at most `max_buffer` messages per sensor, at most `max_pending` LiDAR
      frames waiting (the oldest is forced out), and sensor messages too old to match any future
      LiDAR frame are pruned.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

__all__ = ['SensorSyncSpec', 'SyncedFrame', 'SensorSync', 'SyncStats', 'specs_from_params']


@dataclass(frozen=True)
class SensorSyncSpec:
    """How one sensor is matched to the LiDAR.

    Attributes:
        offset_ns: expected `sensor_stamp - lidar_stamp` (e.g. a camera triggered 20 ms later).
        window_ns: accepted |sensor_stamp - (lidar_stamp + offset_ns)|.
        timeout_ns: how long past the LiDAR stamp (on the caller's clock) a frame waits for it.
    """

    offset_ns: int
    window_ns: int
    timeout_ns: int

    def __post_init__(self) -> None:
        if self.window_ns < 0 or self.timeout_ns < 0:
            raise ValueError(f'SensorSyncSpec: window and timeout must be >= 0, got {self}')


@dataclass
class SyncedFrame:
    """One LiDAR frame and the sensor messages attached to it.

    Attributes:
        stamp_ns: the LiDAR stamp (every output of this frame carries it).
        lidar: the LiDAR payload given to `push_lidar`.
        attached: sensor name -> (stamp_ns, payload).
        missing: sensors with no message in their window, sorted.
        late: the LiDAR message arrived after a newer frame had been emitted.
        duplicate: another LiDAR message had the same stamp.
        reset: time jumped backwards before this frame; the synchroniser started afresh.
    """

    stamp_ns: int
    lidar: Any
    attached: dict[str, tuple[int, Any]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    late: bool = False
    duplicate: bool = False
    reset: bool = False


class SyncStats(TypedDict):
    """`SensorSync.stats`: frames emitted, late / duplicate / forced (timed-out) LiDAR frames, clock resets, and
    per sensor the frames it was attached to and the messages dropped from its full buffer."""

    frames: int
    late: int
    duplicate: int
    forced: int
    resets: int
    attached: Counter[str]
    dropped_sensor_msgs: Counter[str]


@dataclass
class _Pending:
    stamp_ns: int
    seq: int
    lidar: Any
    duplicate: bool = False
    reset: bool = False


class SensorSync:
    """Attach sensor messages to LiDAR frames; see the module docstring for the rules.

    Args:
        sensors: sensor name -> SensorSyncSpec.
        max_buffer: messages kept per sensor.
        max_pending: LiDAR frames allowed to wait at once.
        jump_back_ns: a LiDAR stamp this much older than the newest emitted frame resets the
            synchroniser (time jumped backwards); smaller steps back are `late` frames.
    """

    def __init__(self, sensors: Mapping[str, SensorSyncSpec], *, max_buffer: int = 32,
                 max_pending: int = 8, jump_back_ns: int = 1_000_000_000) -> None:
        if max_buffer < 1 or max_pending < 1:
            raise ValueError('SensorSync: max_buffer and max_pending must be >= 1')
        if jump_back_ns <= 0:
            raise ValueError(f'SensorSync: jump_back_ns must be > 0, got {jump_back_ns}')
        self.specs = dict(sensors)
        self.max_buffer = max_buffer
        self.max_pending = max_pending
        self.jump_back_ns = int(jump_back_ns)
        self._buffers: dict[str, list[tuple[int, Any]]] = {name: [] for name in self.specs}
        self._newest: dict[str, int] = {}
        self._pending: list[_Pending] = []
        self._seq = 0
        self._last_emitted: int | None = None
        self._lidar_seen: Counter[int] = Counter()
        self.stats: SyncStats = {'frames': 0, 'late': 0, 'duplicate': 0, 'forced': 0, 'resets': 0,
                      'attached': Counter(), 'dropped_sensor_msgs': Counter()}

    # ---- input
    def add_sensor(self, name: str, spec: SensorSyncSpec) -> None:
        """Start matching a sensor discovered at run time (e.g. a new ultrasonic topic)."""
        if name not in self.specs:
            self.specs[name] = spec
            self._buffers[name] = []

    def push(self, name: str, stamp_ns: int, payload: Any, now_ns: int | None = None) -> list[SyncedFrame]:
        """Add a sensor message; returns the frames that became complete (in LiDAR stamp order)."""
        if name not in self.specs:
            raise KeyError(f'SensorSync: unknown sensor {name!r}; known: {sorted(self.specs)}')
        buf = self._buffers[name]
        item = (int(stamp_ns), payload)
        i = bisect.bisect_left(buf, item[0], key=lambda x: x[0])
        if i < len(buf) and buf[i][0] == item[0]:
            buf[i] = item  # a repeated stamp replaces the earlier message
        else:
            buf.insert(i, item)
        if len(buf) > self.max_buffer:
            del buf[0]
            self.stats['dropped_sensor_msgs'][name] += 1
        self._newest[name] = max(self._newest.get(name, item[0]), item[0])
        return self._emit_ready(now_ns if now_ns is not None else item[0])

    def push_lidar(self, stamp_ns: int, payload: Any, now_ns: int | None = None) -> list[SyncedFrame]:
        """Add a LiDAR message; returns the frames that became complete (in LiDAR stamp order)."""
        stamp = int(stamp_ns)
        out: list[SyncedFrame] = []
        reset = self._last_emitted is not None and stamp < self._last_emitted - self.jump_back_ns
        if reset:
            out.extend(self._reset(stamp))
        duplicate = self._lidar_seen[stamp] > 0
        self._lidar_seen[stamp] += 1
        if len(self._lidar_seen) > 4 * self.max_pending + 64:  # bounded: forget the oldest stamps
            for old in sorted(self._lidar_seen)[: len(self._lidar_seen) // 2]:
                del self._lidar_seen[old]
        self._seq += 1
        entry = _Pending(stamp, self._seq, payload, duplicate, reset)
        if self._last_emitted is not None and stamp < self._last_emitted:
            frame = self._build(entry, give_up=True)
            frame.late = True
            self.stats['late'] += 1
            out.append(frame)
        else:
            bisect.insort(self._pending, entry, key=lambda p: (p.stamp_ns, p.seq))
        while len(self._pending) > self.max_pending:
            out.append(self._build(self._pending.pop(0), give_up=True))
            self.stats['forced'] += 1
        out.extend(self._emit_ready(now_ns if now_ns is not None else stamp))
        return out

    def _reset(self, stamp: int) -> list[SyncedFrame]:
        """Time jumped back to `stamp`: emit the waiting frames, forget what came before the jump."""
        out = self.flush()
        horizon = stamp + self.jump_back_ns  # messages newer than this are from before the jump
        for name, buf in self._buffers.items():
            buf[:] = [item for item in buf if item[0] <= horizon]
            if buf:
                self._newest[name] = buf[-1][0]
            else:
                self._newest.pop(name, None)
        self._last_emitted = None
        self._lidar_seen.clear()
        self.stats['resets'] += 1
        return out

    def advance(self, now_ns: int) -> list[SyncedFrame]:
        """Let time pass without a message (a timer on a robot); returns frames whose waits ended."""
        return self._emit_ready(int(now_ns))

    def flush(self) -> list[SyncedFrame]:
        """Emit every waiting frame with what is buffered (end of a bag, node shutdown)."""
        out = [self._build(p, give_up=True) for p in self._pending]
        self._pending.clear()
        return out

    @property
    def pending(self) -> int:
        """LiDAR frames waiting for sensors."""
        return len(self._pending)

    def buffered(self, name: str) -> int:
        """Messages buffered for sensor `name`."""
        return len(self._buffers[name])

    # ---- matching
    def _match(self, name: str, stamp: int) -> tuple[int, Any] | None:
        spec, buf = self.specs[name], self._buffers[name]
        target = stamp + spec.offset_ns
        i = bisect.bisect_left(buf, target - spec.window_ns, key=lambda x: x[0])
        best = None
        while i < len(buf) and buf[i][0] <= target + spec.window_ns:
            if best is None or abs(buf[i][0] - target) < abs(best[0] - target):
                best = buf[i]
            i += 1
        return best

    def _resolved(self, name: str, stamp: int, now: int) -> bool:
        spec = self.specs[name]
        if self._match(name, stamp) is not None:
            return True
        newest = self._newest.get(name)
        if newest is not None and newest > stamp + spec.offset_ns + spec.window_ns:
            return True
        return now >= stamp + spec.timeout_ns

    def _build(self, entry: _Pending, *, give_up: bool) -> SyncedFrame:
        frame = SyncedFrame(entry.stamp_ns, entry.lidar, duplicate=entry.duplicate, reset=entry.reset)
        missing = []
        for name in self.specs:
            hit = self._match(name, entry.stamp_ns)
            if hit is None:
                missing.append(name)
            else:
                frame.attached[name] = hit
                self.stats['attached'][name] += 1
        frame.missing = tuple(sorted(missing))
        self.stats['frames'] += 1
        self.stats['duplicate'] += int(entry.duplicate)
        if self._last_emitted is None or entry.stamp_ns > self._last_emitted:
            self._last_emitted = entry.stamp_ns
        return frame

    def _emit_ready(self, now: int) -> list[SyncedFrame]:
        out = []
        while self._pending:
            head = self._pending[0]
            if not all(self._resolved(name, head.stamp_ns, now) for name in self.specs):
                break
            out.append(self._build(self._pending.pop(0), give_up=False))
        if out:
            self._prune()
        return out

    def _prune(self) -> None:
        """Drop sensor messages that no future LiDAR frame can match."""
        if self._last_emitted is None:
            return
        oldest = self._pending[0].stamp_ns if self._pending else self._last_emitted
        for name, buf in self._buffers.items():
            spec = self.specs[name]
            # Keep a little history before the oldest frame (late LiDAR messages may still use it).
            horizon = min(oldest, self._last_emitted) + spec.offset_ns - spec.window_ns - spec.timeout_ns
            cut = bisect.bisect_left(buf, horizon, key=lambda x: x[0])
            if cut:
                del buf[:cut]

    def fusion_rates(self) -> dict[str, float]:
        """Fraction of emitted frames each sensor was attached to."""
        n = max(self.stats['frames'], 1)
        return {name: self.stats['attached'][name] / n for name in self.specs}


def specs_from_params(names: Iterable[str], params: Mapping[str, Any]) -> dict[str, SensorSyncSpec]:
    """SensorSyncSpec per sensor name ('camera/front', 'ultrasonic/fl', ...) from the `sync` params.

    `params` is the `sync` section: per-modality defaults under the modality key ('camera',
    'thermal', 'ultrasonic'), per-sensor overrides under `overrides` keyed 'camera/front' (or with
    '_' instead of '/'); values in milliseconds: offset_ms, window_ms, timeout_ms. What `params` leaves out is
    the shipped file's (`omnifuse.ros_nodes.params.default('sync')`): its modality section, under `params`'s
    `default`.
    """
    from omnifuse.ros_nodes.params import default

    shipped = default('sync')
    base = params.get('default', {}) or {}
    overrides = params.get('overrides', {}) or {}
    out = {}
    for name in names:
        modality = name.split('/', 1)[0]
        merged: dict[str, Any] = {**shipped['default'], **(shipped.get(modality) or {})}
        merged.update(base)
        merged.update(params.get(modality, {}) or {})
        merged.update(overrides.get(name, overrides.get(name.replace('/', '_'), {})) or {})
        out[name] = SensorSyncSpec(int(round(float(merged['offset_ms']) * 1e6)),
                                   int(round(float(merged['window_ms']) * 1e6)),
                                   int(round(float(merged['timeout_ms']) * 1e6)))
    return out

