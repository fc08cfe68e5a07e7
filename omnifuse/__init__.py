"""omnifuse: a sensor-fusion perception stack for robots and vehicles."""

import os

# OpenMP worker threads that spin while they wait make every parallel region as slow as the slowest core: with
# one core taken by another process the default detector ran 2.3x slower with two threads than idle. Passive
# waiting keeps it within 1.2x at a small idle cost (docs/benchmarks.md, "The default detector on a shared
# CPU"). It must be set before torch loads its OpenMP runtime; a user's own setting wins.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

__version__ = '0.1.0'
__all__ = ['__version__']
