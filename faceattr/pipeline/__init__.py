"""faceattr.pipeline."""
