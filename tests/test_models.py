import pytest
import torch
from helpers import repository_training

from faceattr.config.choices import ARCHITECTURES
from faceattr.data.splits import Split
from faceattr.errors import FaceattrError
from faceattr.model.model_file import build_model, load_pretrained
from faceattr.train.loop import fit


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_each_backbone_builds_and_runs_a_forward_pass(arch):
    model = build_model(arch, 7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)


def test_alpha_changes_mobilenet_v2_width_only():
    narrow, wide = build_model("mobilenet_v2", 3, 0.25), build_model("mobilenet_v2", 3, 1.0)
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in wide.parameters()) / 4
    with pytest.raises(FaceattrError, match="only alpha 1.0"):
        build_model("resnet18", 3, 0.5)


def test_pretrained_weights_are_loaded_except_a_differently_sized_head(tmp_path):
    torch.manual_seed(1)
    imagenet_like = build_model("mobilenet_v2", 1000, 0.5)
    torch.save(imagenet_like.state_dict(), tmp_path / "weights.pth")
    model = build_model("mobilenet_v2", 4, 0.5)
    skipped = load_pretrained(model, tmp_path / "weights.pth")
    assert skipped == ["classifier.1.weight", "classifier.1.bias"]
    assert torch.equal(model.features[0][0].weight, imagenet_like.features[0][0].weight)


def test_pretrained_errors_name_the_problem(tmp_path):
    model = build_model("mobilenet_v2", 4, 0.5)
    with pytest.raises(FaceattrError, match="never downloads weights"):
        load_pretrained(model, tmp_path / "missing.pth")
    torch.save(build_model("resnet18", 4).state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(FaceattrError, match="does not fit this architecture"):
        load_pretrained(model, tmp_path / "resnet.pth")


def test_training_starts_from_pretrained(tmp_path):
    torch.manual_seed(3)
    start = build_model("mobilenet_v2", 2, 0.25)
    torch.save(start.state_dict(), tmp_path / "w.pth")
    images = torch.randint(0, 255, (8, 3, 32, 32), dtype=torch.uint8)
    data = Split(images, (torch.rand(8, 2) > 0.5).float())
    cfg = repository_training(
        alpha=0.25,
        image_size=(32, 32),
        epochs=1,
        batch_size=4,
        lr=1e-9,
        warmup_epochs=0,
        threads=1,
        precision="fp32",
        augment={},
        pretrained=str(tmp_path / "w.pth"),
    )
    result = fit(cfg, ["a", "b"], data, data, tmp_path / "ck")
    # with a vanishing learning rate the first conv stays at the pretrained values
    assert torch.allclose(result.model.features[0][0].weight, start.features[0][0].weight, atol=1e-6)
