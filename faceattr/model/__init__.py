"""Models: a torchvision backbone with a multi-label head, and the self-contained model file.

`build_model` makes the network (`model.arch`, `alpha`, `model.head`), `save_model`/`load_model` write and read
the model file (weights plus its `ModelSpec`: attributes, input size, normalisation, thresholds), `pretrained`
finds offline ImageNet weights, `finetune` freezes backbone blocks, `export_onnx` writes an ONNX copy.
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "build_model": ".model_file",
        "load_model": ".model_file",
        "save_model": ".model_file",
        "ModelSpec": ".model_file",
        "load_pretrained": ".model_file",
        "attach_head": ".heads",
        "backbone_of": ".heads",
        "layer_names": ".layers",
        "apply_freeze": ".finetune",
        "export_onnx": ".onnx_export",
        "OnnxPredictor": ".onnx_export",
    },
)
