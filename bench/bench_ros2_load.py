"""The perception node under load in a real ROS 2: LiDAR + camera + thermal at 10 Hz with the default models.

Builds this repository in a fresh colcon workspace over /opt/ros/<distro>, launches
`perception.launch.py` (default params: the shipped detector, segmenter and occupancy model), and
publishes simulated frames at --rate for --seconds from tests/ros2_driver.py, which also listens to
/perception/objects and /diagnostics. Prints end-to-end latency (receive time minus LiDAR stamp),
frames processed / skipped, frames answered later than one sensor period, and the machine load.

    .venv/bin/python bench/bench_ros2_load.py --seconds 60 [--rate 10] [--max-queue 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.ros2_support import SKIP_REASON, Ros, build_workspace, find_ros_setup  # noqa: E402


def summarise(result: dict, rate: float) -> dict:
    """Latency percentiles, processed / skipped / late counts of one driver result."""
    sent = result['sent_stamps_ns']
    objects = result['perception_objects']
    diags = result['diagnostics']
    latency = np.array([(o['recv_ns'] - o['stamp_ns']) / 1e6 for o in objects])
    skipped_stamps = {d['stamp_ns'] for d in diags if d['values'].get('skipped') == 'true'}
    skipped = len(skipped_stamps)
    run = np.array([(o['recv_ns'] - o['stamp_ns']) / 1e6 for o in objects if o['stamp_ns'] not in skipped_stamps])
    processed_ms = [float(d['values']['processing_ms']) for d in diags if 'processing_ms' in d['values']]
    answered = {o['stamp_ns'] for o in objects}
    period_ms = 1e3 / rate
    return {'lidar_messages': len(sent), 'answered': len(answered & set(sent)),
            'processed': len(processed_ms), 'skipped': int(skipped),
            'late_gt_period': int(np.sum(latency > period_ms)),
            'latency_p50_ms': float(np.percentile(latency, 50)), 'latency_p95_ms': float(np.percentile(latency, 95)),
            'latency_max_ms': float(latency.max()),
            'latency_last10s_p95_ms': float(np.percentile(latency[-int(10 * rate):], 95)),
            'processed_latency_p50_ms': float(np.percentile(run, 50)) if len(run) else float('nan'),
            'processed_latency_p95_ms': float(np.percentile(run, 95)) if len(run) else float('nan'),
            'model_ms_median': float(np.median(processed_ms)) if processed_ms else float('nan')}


def main() -> int:
    """Parse the arguments, run the load test and print the summary; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=60.0)
    parser.add_argument('--rate', type=float, default=10.0)
    parser.add_argument('--max-queue', type=int, default=None, help='sync.max_queue of the node (default: params)')
    parser.add_argument('--json', default=None, help='write the summary here')
    args = parser.parse_args()
    setup = find_ros_setup()
    if setup is None:
        print(SKIP_REASON)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        built, env = build_workspace(tmp_path / 'ws', setup)
        if built.returncode != 0:
            print(built.stdout[-3000:], built.stderr[-3000:])
            return 1
        ros = Ros(env, tmp_path / 'ws')
        launch_args = []
        if args.max_queue is not None:
            params = tmp_path / 'params.yaml'
            params.write_text((REPO / 'configs' / 'ros' / 'perception.yaml').read_text().replace(
                'max_queue: 1 ', f'max_queue: {args.max_queue} '))
            launch_args.append(f'params_file:={params}')
        log = tmp_path / 'launch.log'
        node = ros.start('ros2', 'launch', 'omnifuse', 'perception.launch.py', *launch_args, log=log)
        try:
            if not ros.wait_state('active'):
                print(log.read_text()[-3000:])
                return 1
            load_before = os.getloadavg()
            out = tmp_path / 'result.json'
            count = int(args.seconds * args.rate)
            run = ros.run(sys.executable, str(REPO / 'tests' / 'ros2_driver.py'), '--out', str(out), '--frames', 'sim',
                          '--rate', str(args.rate), '--count', str(count), timeout=args.seconds + 600)
            load_after = os.getloadavg()
            if run.returncode != 0:
                print(run.stdout[-3000:], run.stderr[-3000:])
                return 1
        finally:
            ros.stop(node)
            ros.ros2('daemon', 'stop')
        summary = summarise(json.loads(out.read_text()), args.rate)
    summary.update(seconds=args.seconds, rate_hz=args.rate, load_1min_before=load_before[0],
                   load_1min_after=load_after[0], cpus=os.cpu_count())
    for key, value in summary.items():
        print(f'{key:>24}: {value:.1f}' if isinstance(value, float) else f'{key:>24}: {value}')
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
