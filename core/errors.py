"""The engine's errors that a user sees: every one is a ``VaeError``, whose message is written for the user
(one line naming the file, field or value and what is allowed). The CLI prints it as one line and exits 2; the
GUI shows it in a dialog. Catch ``VaeError`` once instead of listing the subclasses.

Each subclass also keeps the built-in base it always had (``ValueError``; ``RuntimeError`` for the backend),
so older ``except ValueError`` code keeps working.
"""

from __future__ import annotations


class VaeError(Exception):
    """An error the engine reports to a user; ``str(exc)`` is the whole message."""


class ConfigError(VaeError, ValueError):
    """A setting outside its allowed values, or a model configuration that cannot be built (names the field)."""


class DataError(VaeError, ValueError):
    """A data set that is missing, unreadable, or does not fit the model (the message says which)."""


class ModelFileError(VaeError, ValueError):
    """A model file that cannot be loaded or written (the message says why); nothing was changed."""


class UnsafeFileError(VaeError, ValueError):
    """A path the program refuses to read or write (the message names it and says why)."""


class BackendError(VaeError, RuntimeError):
    """The requested device cannot be used (CuPy missing, no GPU)."""
