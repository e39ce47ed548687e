"""faceattr.evaluate."""
