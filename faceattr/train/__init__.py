"""faceattr.train."""
