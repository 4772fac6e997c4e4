"""Peel: use a police force's own data to solve crime, under rules it can prove it keeps."""

__version__ = "0.1.0"
__all__ = ["__version__"]
