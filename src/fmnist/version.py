"""The package's version, in a module of its own so that low modules can read it without the package root."""

__version__ = "0.2.0"
