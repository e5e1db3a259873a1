"""The package version (a base module: the stages read it without importing the package API)."""

__version__ = "0.1.0"
