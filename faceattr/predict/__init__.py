"""faceattr.predict."""
