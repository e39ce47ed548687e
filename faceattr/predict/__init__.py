"""Prediction on people's images: inputs (files, folders, zips), face detection and alignment, and the rows
an answer has.

`scan_inputs` turns inputs into model-ready crops (aligned CelebA-style with `detect_faces` when asked),
`answer_row` is one image's or face's answer, shared with `faceattr serve`. `faceattr predict` is
command.py.
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "scan_inputs": ".inputs",
        "iter_crops": ".inputs",
        "detect_faces": ".detect",
        "Face": ".detect",
        "answer_row": ".answer_rows",
        "iter_images": ".image_sources",
        "demo_photo": ".demo_photos",
    },
)
