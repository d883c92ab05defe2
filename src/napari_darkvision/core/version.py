"""The package's version, written once (pyproject.toml reads it): here so that core has it
without importing the package root."""

__version__ = "0.1.0"
