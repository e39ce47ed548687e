"""faceattr.track."""
