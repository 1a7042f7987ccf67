"""Errors that speak to the reader: what went wrong and what to do about it.

Every error the package raises on purpose derives from `FmnistError`, so the
command line can print its message as one line instead of a traceback.
"""


class FmnistError(Exception):
    """Base class: the message is meant for a person and says what to do."""


class DataError(FmnistError):
    """The Fashion-MNIST files are missing, corrupt, truncated or not Fashion-MNIST."""


class ProfileError(FmnistError):
    """An unknown profile name was asked for."""


class NotebookError(FmnistError):
    """A notebook of the series failed while the runner executed it."""
