"""Errors that speak to the reader: what went wrong and what to do about it.

Every error the package raises on purpose derives from `FmnistError`, so the
command line can print its message as one line instead of a traceback.
"""


class FmnistError(Exception):
    """Base class: the message is meant for a person and says what to do."""

    def _render_traceback_(self) -> list[str]:
        # IPython (Jupyter, Colab) asks an exception for this before drawing a traceback: a notebook
        # shows the one line the message was written to be, as the command line does.
        return [f"{type(self).__name__}: {self}"]


class DataError(FmnistError):
    """The Fashion-MNIST files are missing, corrupt, truncated or not Fashion-MNIST."""


class ProfileError(FmnistError):
    """An unknown profile name was asked for."""


class NotebookError(FmnistError):
    """A notebook of the series failed while the runner executed it."""


class PrerequisiteError(FmnistError):
    """A notebook builds on earlier notebooks that have not run in the active profile."""
