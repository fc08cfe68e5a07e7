"""`omnifuse bench --busy N`: the busy-loop processes run during the measurement and are gone after it."""

from __future__ import annotations

import pytest

from omnifuse.apis.benchmark import busy_processes


def test_busy_processes_run_inside_the_block_and_stop_after_it() -> None:
    with busy_processes(2) as procs:
        assert len(procs) == 2 and all(p.poll() is None for p in procs)
    assert all(p.poll() is not None for p in procs)


def test_busy_processes_stop_when_the_measurement_fails() -> None:
    with pytest.raises(RuntimeError), busy_processes(1) as procs:
        raise RuntimeError('measurement failed')
    assert procs[0].poll() is not None


def test_busy_count_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from omnifuse.cli import main

    assert main(['bench', '--busy', '-1']) == 2
    assert '--busy must be a number of processes' in capsys.readouterr().err


@pytest.mark.parametrize('given, expected', [(None, 'PASSIVE'), ('ACTIVE', 'ACTIVE')])
def test_importing_omnifuse_makes_openmp_wait_passively_unless_the_user_chose(given: str | None,
                                                                              expected: str) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != 'OMP_WAIT_POLICY'}
    if given is not None:
        env['OMP_WAIT_POLICY'] = given
    code = 'import os, omnifuse, torch; print(os.environ["OMP_WAIT_POLICY"])'
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
