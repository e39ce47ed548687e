"""faceattr.serve.app."""
