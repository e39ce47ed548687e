"""faceattr.model."""
