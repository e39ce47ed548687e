"""faceattr.config.schema."""
