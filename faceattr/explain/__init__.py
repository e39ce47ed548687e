"""Explanations: where a model looks (Grad-CAM per attribute, feature maps), and the pictures of it.

gradcam.py computes heat maps, gallery.py picks the explain stage's telling examples and scores heat on drawn
objects, heatmaps.py draws them. `faceattr explain` is command.py.
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "grad_cam": ".gradcam",
        "feature_maps": ".gradcam",
        "Explanation": ".gradcam",
        "attribute_gallery": ".gallery",
        "overlay": ".heatmaps",
        "explanation_figure": ".heatmaps",
    },
)
