"""faceattr.explain.gradcam."""
