"""omnifuse: a sensor-fusion perception stack for robots and vehicles."""

__version__ = '0.1.0'
__all__ = ['__version__']
