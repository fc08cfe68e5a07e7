"""Weights-only checkpoints of detectors: the shared implementation lives in omnifuse/checkpoint.py."""

from omnifuse.checkpoint import FORMAT_VERSION, load_weights, read_state_dict, save_weights

__all__ = ['save_weights', 'load_weights', 'read_state_dict', 'FORMAT_VERSION']
