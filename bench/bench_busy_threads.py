"""The default detector idle and with busy cores, side by side, for each thread count and OpenMP wait policy.

    python bench/bench_busy_threads.py [--frames N] [--threads 1,2] [--busy 0,1] [--policies omnifuse,libgomp]

Policies: "omnifuse" leaves OMP_WAIT_POLICY alone, so omnifuse's own default applies (PASSIVE, set when the
package is imported); "libgomp" sets it empty, which GNU OpenMP treats as unset (spin, then sleep); any other
value (ACTIVE, PASSIVE) is passed as is.

Each cell is a fresh `omnifuse bench` process (the OpenMP wait policy is read once, when a process starts), so
the thread pools start the way a user's process does. Prints the median total and the stages that change most,
with the load average during each run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cell(threads: int, busy: int, policy: str, frames: int, warmup: int) -> dict:
    """One cell: `omnifuse bench` in a fresh process with these threads, busy cores and wait policy; its JSON."""
    env = dict(os.environ)
    env.pop('OMP_WAIT_POLICY', None)
    if policy == 'libgomp':
        env['OMP_WAIT_POLICY'] = ''
    elif policy != 'omnifuse':
        env['OMP_WAIT_POLICY'] = policy
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / 'bench.json'
        cmd = [sys.executable, '-m', 'omnifuse', 'bench', '--frames', str(frames), '--warmup', str(warmup),
               '--busy', str(busy), '--json', str(out)]
        if threads:
            cmd += ['--threads', str(threads)]
        subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return json.loads(out.read_text())


def main() -> int:
    """Run the grid of cells and print the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', default='1,2', help='comma-separated torch thread counts (0 = the default)')
    parser.add_argument('--busy', default='0,1', help='comma-separated busy-process counts')
    parser.add_argument('--policies', default='omnifuse,libgomp',
                        help='OMP_WAIT_POLICY choices: omnifuse (its default), libgomp (unset), ACTIVE, PASSIVE')
    args = parser.parse_args()
    rows = []
    for policy in args.policies.split(','):
        for threads in (int(t) for t in args.threads.split(',')):
            for busy in (int(b) for b in args.busy.split(',')):
                r = run_cell(threads, busy, policy, args.frames, args.warmup)
                rows.append((policy, threads, busy, r))
                st = r['stages_ms']
                print(f'policy {policy:<8} threads {threads} busy {busy}: total {r["total_ms"]:7.1f} ms  '
                      f'(lidar_backbone {st.get("lidar_backbone", 0):6.1f}, image_backbone '
                      f'{st.get("image_backbone", 0):6.1f}, bev_neck {st.get("bev_neck", 0):6.1f}, roi_head '
                      f'{st.get("roi_head", 0):6.1f}, fusion {st.get("fusion", 0):6.1f})  load {r["load"]:.1f}',
                      flush=True)
    print('\n| OMP_WAIT_POLICY | torch threads | idle | 1 busy core | busy / idle |\n|---|---|---|---|---|')
    for policy in args.policies.split(','):
        for threads in (int(t) for t in args.threads.split(',')):
            cells = {b: r['total_ms'] for p, t, b, r in rows if p == policy and t == threads}
            idle, busy = cells.get(0), cells.get(1)
            ratio = f'{busy / idle:.2f}x' if idle and busy else '-'
            print(f'| {policy} | {threads} | {idle or 0:.0f} ms | {busy or 0:.0f} ms | {ratio} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
