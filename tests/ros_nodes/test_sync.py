"""SensorSync with hand-made stamp sequences: windows, offsets, timeouts, disorder, duplicates, bounds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.ros_nodes.sync import SensorSync, SensorSyncSpec, specs_from_params

MS = 1_000_000


def _sync(**kw: object) -> SensorSync:
    return SensorSync({'camera/front': SensorSyncSpec(0, 20 * MS, 100 * MS),
                       'ultrasonic/a': SensorSyncSpec(0, 30 * MS, 50 * MS)}, **kw)


def test_frame_waits_for_all_sensors_then_attaches_them() -> None:
    s = _sync()
    assert s.push_lidar(1000 * MS, 'L0') == []  # nothing from the sensors yet: wait
    assert s.push('camera/front', 1005 * MS, 'C0') == []
    out = s.push('ultrasonic/a', 990 * MS, 'U0')
    assert len(out) == 1
    f = out[0]
    assert f.stamp_ns == 1000 * MS and f.lidar == 'L0' and f.missing == ()
    assert f.attached == {'camera/front': (1005 * MS, 'C0'), 'ultrasonic/a': (990 * MS, 'U0')}


def test_closest_message_in_window_wins_and_outside_window_is_ignored() -> None:
    s = _sync()
    s.push('camera/front', 975 * MS, 'too-early')  # 25 ms off: outside the 20 ms window
    s.push('camera/front', 1012 * MS, 'far')
    s.push('camera/front', 996 * MS, 'near')
    s.push('ultrasonic/a', 1000 * MS, 'U')
    out = s.push_lidar(1000 * MS, 'L')
    assert out[0].attached['camera/front'] == (996 * MS, 'near')


def test_offset_shifts_the_window() -> None:
    s = SensorSync({'camera/front': SensorSyncSpec(40 * MS, 5 * MS, 100 * MS)})
    s.push('camera/front', 1001 * MS, 'unshifted')
    s.push('camera/front', 1042 * MS, 'shifted')
    out = s.push_lidar(1000 * MS, 'L')
    assert out[0].attached['camera/front'] == (1042 * MS, 'shifted')


def test_timeout_emits_without_the_sensor_and_names_it() -> None:
    s = _sync()
    s.push('ultrasonic/a', 1000 * MS, 'U')
    assert s.push_lidar(1000 * MS, 'L') == []
    assert s.advance(1099 * MS) == []  # camera timeout is 100 ms
    out = s.advance(1100 * MS)
    assert len(out) == 1 and out[0].missing == ('camera/front',) and 'ultrasonic/a' in out[0].attached


def test_newer_sensor_message_resolves_without_waiting() -> None:
    s = _sync()
    s.push('ultrasonic/a', 1000 * MS, 'U')
    s.push_lidar(1000 * MS, 'L')
    out = s.push('camera/front', 1050 * MS, 'C-next')  # past the window: the camera skipped this frame
    assert len(out) == 1 and out[0].missing == ('camera/front',)


def test_out_of_order_messages_are_sorted_and_frames_leave_in_lidar_order() -> None:
    s = _sync()
    now = 1000 * MS  # the clock stays put: nothing times out
    s.push_lidar(1100 * MS, 'L1', now_ns=now)  # LiDAR messages arrive out of order while waiting
    s.push_lidar(1000 * MS, 'L0', now_ns=now)
    s.push('camera/front', 1008 * MS, 'C0-late-but-closer', now_ns=now)
    s.push('camera/front', 985 * MS, 'C0-early', now_ns=now)  # older camera message after a newer one
    assert s.pending == 2
    out = s.push('ultrasonic/a', 1000 * MS, 'U0', now_ns=now)
    assert [f.lidar for f in out] == ['L0']
    assert out[0].attached['camera/front'] == (1008 * MS, 'C0-late-but-closer')
    out = s.push('camera/front', 1100 * MS, 'C1', now_ns=now) + s.push('ultrasonic/a', 1100 * MS, 'U1', now_ns=now)
    assert [f.lidar for f in out] == ['L1'] and out[0].missing == ()


def test_out_of_order_lidar_after_emission_is_emitted_late_not_dropped() -> None:
    s = _sync()
    s.push('camera/front', 1100 * MS, 'C')
    s.push('ultrasonic/a', 1100 * MS, 'U')
    assert len(s.push_lidar(1100 * MS, 'L1')) == 1
    out = s.push_lidar(1000 * MS, 'L0')
    assert len(out) == 1 and out[0].late and out[0].lidar == 'L0'
    assert s.stats['late'] == 1


def test_duplicate_lidar_stamps_each_give_a_frame() -> None:
    s = _sync()
    s.push('camera/front', 1000 * MS, 'C')
    s.push('ultrasonic/a', 1000 * MS, 'U')
    a = s.push_lidar(1000 * MS, 'first')
    b = s.push_lidar(1000 * MS, 'second')
    assert [f.lidar for f in a + b] == ['first', 'second']
    assert not a[0].duplicate and b[0].duplicate


def test_duplicate_sensor_stamp_replaces_the_earlier_message() -> None:
    s = _sync()
    s.push('camera/front', 1000 * MS, 'old')
    s.push('camera/front', 1000 * MS, 'new')
    assert s.buffered('camera/front') == 1
    s.push('ultrasonic/a', 1000 * MS, 'U')
    assert s.push_lidar(1000 * MS, 'L')[0].attached['camera/front'][1] == 'new'


def test_memory_is_bounded() -> None:
    s = _sync(max_buffer=4, max_pending=3)
    for i in range(50):
        s.push('camera/front', i * MS, i)
    assert s.buffered('camera/front') == 4
    out = []
    for i in range(10):  # the ultrasonic sensor never speaks and time never advances past its timeout
        out += s.push_lidar((5000 + i) * MS, i, now_ns=(5000 + i) * MS)
    assert s.pending <= 3
    assert [f.lidar for f in out] == list(range(7))  # the oldest frames were forced out, in order
    assert s.stats['forced'] == 7


def test_old_sensor_messages_are_pruned_after_emission() -> None:
    s = _sync()
    for k in range(20):
        t = (1000 + 100 * k) * MS
        s.push('camera/front', t, k)
        s.push('ultrasonic/a', t, k)
        s.push_lidar(t, k)
    assert s.buffered('camera/front') <= 3
    assert s.stats['frames'] == 20


def test_flush_emits_everything_waiting() -> None:
    s = _sync()
    s.push_lidar(1000 * MS, 'a', now_ns=1000 * MS)
    s.push_lidar(1100 * MS, 'b', now_ns=1000 * MS)
    assert s.pending == 2
    out = s.flush()
    assert [f.lidar for f in out] == ['a', 'b'] and all(f.missing == ('camera/front', 'ultrasonic/a') for f in out)
    assert s.pending == 0


def test_fusion_rates() -> None:
    s = _sync()
    for k in range(4):
        t = (1000 + 100 * k) * MS
        if k % 2 == 0:
            s.push('camera/front', t, k)
        s.push('ultrasonic/a', t, k)
        s.push_lidar(t, k)
    s.flush()
    assert s.fusion_rates() == {'camera/front': 0.5, 'ultrasonic/a': 1.0}


def test_specs_from_params_per_modality_and_override() -> None:
    specs = specs_from_params(['camera/front', 'camera/rear', 'ultrasonic/fl'], {
        'default': {'window_ms': 10.0}, 'camera': {'offset_ms': 20.0},
        'overrides': {'camera_rear': {'timeout_ms': 300.0}}})
    assert specs['camera/front'] == SensorSyncSpec(20 * MS, 10 * MS, 100 * MS)
    assert specs['camera/rear'] == SensorSyncSpec(20 * MS, 10 * MS, 300 * MS)
    assert specs['ultrasonic/fl'] == SensorSyncSpec(0, 10 * MS, 100 * MS)


def test_unknown_sensor_is_a_key_error() -> None:
    with pytest.raises(KeyError, match='unknown sensor'):
        _sync().push('radar', 1, None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(['lidar', 'camera/front', 'ultrasonic/a']),
                          st.integers(0, 2000)), max_size=60))
def test_every_lidar_message_yields_exactly_one_frame(events: list[tuple[str, int]]) -> None:
    s = _sync(max_buffer=8, max_pending=4)
    emitted = []
    n_lidar = 0
    for kind, t_ms in events:
        if kind == 'lidar':
            n_lidar += 1
            emitted += s.push_lidar(t_ms * MS, n_lidar)
        else:
            emitted += s.push(kind, t_ms * MS, t_ms)
    emitted += s.flush()
    assert sorted(f.lidar for f in emitted) == list(range(1, n_lidar + 1))
    for f in emitted:  # attached messages are always inside their window
        for name, (stamp, _) in f.attached.items():
            assert abs(stamp - f.stamp_ns) <= s.specs[name].window_ns
    assert s.buffered('camera/front') <= 8 and s.pending == 0


def test_time_jumping_backwards_resets_instead_of_flagging_every_frame_late() -> None:
    s = SensorSync({'camera/front': SensorSyncSpec(0, 20 * MS, 100 * MS)})
    for t in (1000, 1500, 2500):  # a bag's first pass
        s.push('camera/front', t * MS, f'C{t}')
        assert len(s.push_lidar(t * MS, f'L{t}')) == 1
    # the bag loops: its first camera image, then its first LiDAR message (stamps 1.5 s back)
    s.push('camera/front', 1000 * MS, 'C1000-again')
    out = s.push_lidar(1000 * MS, 'L1000-again')
    assert len(out) == 1 and out[0].reset and not out[0].late
    assert out[0].attached['camera/front'] == (1000 * MS, 'C1000-again') and out[0].missing == ()
    s.push('camera/front', 1500 * MS, 'C1500-again')
    nxt = s.push_lidar(1500 * MS, 'L1500-again')
    assert len(nxt) == 1 and not nxt[0].late and not nxt[0].reset and not nxt[0].duplicate
    assert s.stats['resets'] == 1


def test_a_small_step_back_is_a_late_frame_not_a_reset() -> None:
    s = SensorSync({}, jump_back_ns=1000 * MS)
    s.push_lidar(2000 * MS, 'a')
    out = s.push_lidar(1500 * MS, 'b')  # 0.5 s back: late
    assert len(out) == 1 and out[0].late and not out[0].reset
    with pytest.raises(ValueError, match='jump_back_ns'):
        SensorSync({}, jump_back_ns=0)
