"""faceattr: a reproducible pipeline for multi-label facial-attribute classification."""

__version__ = "0.1.0"
