"""faceattr.data."""
