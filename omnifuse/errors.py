"""The errors omnifuse raises on bad input.

Every message names the file, topic or field and says what was expected and what was found.
The CLI turns them into one line on stderr and exit code 2.
"""

__all__ = ['OmnifuseError', 'ShapeError', 'FormatError', 'UnsafePickleError']


class OmnifuseError(Exception):
    """Base class of every error omnifuse raises on purpose."""


class ShapeError(OmnifuseError, ValueError):
    """An array or tensor does not have the shape a function needs."""


class FormatError(OmnifuseError, ValueError):
    """A file or message is not in the expected format (names the file and the field)."""


class UnsafePickleError(FormatError):
    """A pickle names a global outside the builtins and numpy allowed in info files."""
