"""faceattr.cli.entry."""
