"""Grad-CAM and feature maps (faceattr.explain.gradcam), their pictures, and `faceattr explain` as a person runs it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from faceattr.cli.entry import main
from faceattr.config.choices import ARCHITECTURES
from faceattr.errors import FaceattrError
from faceattr.explain.gallery import Outcomes, heat_in_boxes, pick_examples
from faceattr.explain.gradcam import feature_maps, find_layer, grad_cam, heat_fraction_in_box
from faceattr.explain.heatmaps import overlay
from faceattr.model.layers import layer_names
from faceattr.model.model_file import ModelSpec, build_model, save_model

ATTRS = ["Eyeglasses", "Smiling", "Wearing_Hat"]


def _model(arch: str, seed: int = 0, size=(40, 32)) -> tuple[torch.nn.Module, ModelSpec]:
    torch.manual_seed(seed)
    model = build_model(arch, len(ATTRS)).eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, so eval mode is not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model, ModelSpec(arch, 1.0, list(ATTRS), size)


def _images(n: int, size=(40, 32), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, *size), generator=g, dtype=torch.uint8)


def _cam(model, spec, images, c: int, sign: float) -> np.ndarray:
    """The class activation map relu(±Σₖ W[c,k]·Aₖ), upsampled and scaled to a maximum of 1."""
    from faceattr.data.decoding import normalize

    x = normalize(images, spec.mean, spec.std).float()
    with torch.no_grad():
        acts = find_layer(model, spec.arch)  # run the backbone up to its last block by a hook
        out = []
        handle = acts.register_forward_hook(lambda _m, _i, o: out.append(o))
        model(x)
        handle.remove()
    head = model.fc if spec.arch.startswith("resnet") else model.classifier[-1]
    cam = F.relu(sign * torch.einsum("k,nkhw->nhw", head.weight[c].detach(), out[0]))[:, None]
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, cam / peak.clamp_min(1e-12), 0 * cam).numpy()


@pytest.mark.parametrize("arch", ["mobilenet_v2", "resnet18"])
@pytest.mark.parametrize("against", [False, True])
def test_grad_cam_equals_the_class_activation_map_for_a_pooled_linear_head(arch, against):
    model, spec = _model(arch, size=(64, 64))
    images = _images(3, (64, 64))
    peaks = []
    for c, name in enumerate(ATTRS):
        found = grad_cam(model, spec, images, name, against=against)
        expected = _cam(model, spec, images, c, -1.0 if against else 1.0)
        assert found.heat.shape == (3, 64, 64)
        np.testing.assert_allclose(found.heat, expected, rtol=1e-4, atol=1e-5)  # float32 sums
        peaks.extend(found.heat.max(axis=(1, 2)))
    assert sum(p == pytest.approx(1.0) for p in peaks) >= 6  # most maps are not a vacuous all-zero comparison


def test_for_and_against_are_complementary_and_probabilities_match_the_model():
    model, spec = _model("mobilenet_v2", seed=1)
    images = _images(2, seed=1)
    pro, con = grad_cam(model, spec, images, 1), grad_cam(model, spec, images, 1, against=True)
    both = (pro.heat > 0.05) & (con.heat > 0.05)
    assert both.mean() < 0.05  # relu(s) and relu(-s) of one map barely overlap (only through upsampling)
    from faceattr.evaluate.evaluation import predict_probabilities

    np.testing.assert_allclose(pro.probability, predict_probabilities(model, spec, images)[:, 1], atol=1e-5)


def test_grad_cam_works_on_a_model_that_has_just_predicted():
    """A server predicts, then explains, with one model: prediction (inference mode, channels_last) must not
    leave the weights unusable for autograd, nor change the maps."""
    from faceattr.evaluate.evaluation import predict_probabilities

    model, spec = _model("mobilenet_v2", seed=3)
    images = _images(2, seed=3)
    before = grad_cam(model, spec, images, "Eyeglasses").heat
    predict_probabilities(model, spec, images)
    np.testing.assert_allclose(grad_cam(model, spec, images, "Eyeglasses").heat, before, atol=1e-5)


def test_a_batch_gives_the_same_maps_as_one_image_at_a_time():
    model, spec = _model("mobilenet_v2")
    images = _images(4, seed=2)
    batch = grad_cam(model, spec, images, "Smiling").heat
    single = np.concatenate([grad_cam(model, spec, images[k : k + 1], "Smiling").heat for k in range(4)])
    np.testing.assert_allclose(batch, single, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_names_its_blocks_and_explains(arch):
    model, spec = _model(arch, size=(64, 64))
    names = layer_names(arch)
    for name in names:
        model.get_submodule(name)
    if arch.startswith(("mobilenet", "efficientnet")):
        assert len(model.features) == len(names)  # the last named block is really the last one
    found = grad_cam(model, spec, _images(1, (64, 64)), "Eyeglasses")
    assert found.heat.shape == (1, 64, 64) and np.isfinite(found.heat).all()
    assert 0 <= found.heat.min() and found.heat.max() <= 1
    maps = feature_maps(model, spec, _images(1, (64, 64))[0], names[1], limit=8)
    assert maps.ndim == 3 and 1 <= len(maps) <= 8 and maps.min() >= 0 and maps.max() <= 1


def test_feature_maps_are_sorted_by_activity_and_unknown_layers_are_refused():
    model, spec = _model("mobilenet_v2")
    maps = feature_maps(model, spec, _images(1)[0], "features.2", limit=200)
    assert len(maps) == 24  # features.2 of MobileNetV2 has 24 channels
    with pytest.raises(FaceattrError, match="features.99.*features.0, features.1"):
        feature_maps(model, spec, _images(1)[0], "features.99")
    with pytest.raises(FaceattrError, match="Bald.*Eyeglasses, Smiling, Wearing_Hat"):
        grad_cam(model, spec, _images(1), "Bald")


def test_heat_share_in_a_box_counts_the_heat_where_the_box_is():
    heat = np.zeros((10, 8), np.float32)
    heat[2:4, 1:3] = 1.0
    heat[8, 7] = 2.0
    assert heat_fraction_in_box(heat, (1, 2, 3, 4)) == pytest.approx(4 / 6)
    assert heat_fraction_in_box(heat, (2, 4, 6, 8), scale=(2.0, 2.0)) == pytest.approx(4 / 6)  # box at 2× size
    assert heat_fraction_in_box(np.zeros((4, 4)), (0, 0, 4, 4)) == 0.0
    scores = heat_in_boxes(np.stack([heat, heat]), [(1, 2, 3, 4), (0, 8, 8, 10)], (10, 8))
    assert scores["majority_in_box"] == 0.5 and scores["images"] == 2
    assert scores["mean_heat_in_box"] == pytest.approx((4 / 6 + 2 / 6) / 2, abs=1e-4)


def test_examples_are_the_most_confident_of_each_kind():
    outcomes = Outcomes(
        probability=np.array([0.9, 0.6, 0.95, 0.2, 0.1, 0.7, 0.4]),
        predicted=np.array([1, 1, 1, 0, 0, 1, 0]),
        true=np.array([1, 1, 0, 1, 1, 0, 0]),
    )
    tp, fp, fn = pick_examples(outcomes, per_row=2)
    assert tp.tolist() == [0, 1] and fp.tolist() == [2, 5] and fn.tolist() == [4, 3]


def test_overlay_is_the_crop_where_heat_is_cold_and_red_where_hot():
    crop = torch.full((3, 20, 10), 128, dtype=torch.uint8)
    heat = np.zeros((10, 5), np.float32)
    heat[:, 3:] = 1.0
    rgb = overlay(crop, heat)
    assert rgb.shape == (20, 10, 3) and rgb.dtype == np.uint8
    cold, hot = rgb[10, 0].astype(int), rgb[10, 9].astype(int)
    assert hot[0] > hot[2] and cold[2] > cold[0]  # jet: hot is red, cold is blue
    assert np.abs(cold - 128).max() < 60  # the crop still shows through the cold part


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    model, spec = _model("mobilenet_v2", size=(40, 32))
    save_model(root / "model.pt", model, spec)
    for k in range(2):
        Image.fromarray(_images(1, (80, 64), seed=10 + k)[0].permute(1, 2, 0).numpy()).save(root / f"face{k}.png")
    return root


def test_explain_command_writes_one_titled_png_per_image_and_attribute(model_file, capsys):
    out = model_file / "out"
    code = main(
        [
            "explain",
            str(model_file / "face0.png"),
            str(model_file / "face1.png"),
            "--model",
            str(model_file / "model.pt"),
            "--attribute",
            "Eyeglasses",
            "Smiling",
            "--out",
            str(out),
            "--feature-maps",
            "features.3",
        ]
    )
    assert code == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "face0_Eyeglasses.png",
        "face0_Smiling.png",
        "face0_features_features.3.png",
        "face1_Eyeglasses.png",
        "face1_Smiling.png",
        "face1_features_features.3.png",
    ]
    assert capsys.readouterr().out.count(".png") == 6
    with Image.open(out / "face0_Eyeglasses.png") as png:
        assert png.format == "PNG" and png.size[0] > png.size[1] > 150  # two panels side by side


def test_explain_against_names_its_files_and_bad_requests_are_one_line_errors(model_file, capsys):
    out = model_file / "against"
    assert (
        main(
            [
                "explain",
                str(model_file / "face0.png"),
                "--model",
                str(model_file / "model.pt"),
                "--attribute",
                "Smiling",
                "--against",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert [p.name for p in out.iterdir()] == ["face0_Smiling_against.png"]
    assert (
        main(
            [
                "explain",
                str(model_file / "face0.png"),
                "--model",
                str(model_file / "model.pt"),
                "--attribute",
                "Bald",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "attribute 'Bald' is not one of the model's" in capsys.readouterr().err
    assert (
        main(
            [
                "explain",
                str(model_file / "face0.png"),
                "--model",
                str(model_file / "model.pt"),
                "--feature-maps",
                "layer9",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "layer 'layer9' is not one of mobilenet_v2's blocks" in capsys.readouterr().err


def test_explain_help_lists_the_layer_names():
    out = subprocess.run([sys.executable, "-m", "faceattr.cli", "explain", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "mobilenet_v2 features.0…features.18" in text and "layer4" in text and "--against" in text
