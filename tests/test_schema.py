import copy
import subprocess
import sys

import pytest
from helpers import DEFAULT_PARAMS as DEFAULT
from helpers import REPO, check_params_on, repository_training, with_value

from faceattr.config.schema import TrainConfig, validate
from faceattr.errors import FaceattrError


def test_the_committed_params_are_valid():
    validate(copy.deepcopy(DEFAULT))


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("alpha", -1, r"alpha = -1 is not allowed; expected a number > 0"),
        ("alpha", "wide", r"alpha = 'wide'"),
        ("subset", 5000, r"subset = 5000 .*partition.sizes\): 1000, 2000, 3000"),
        ("train.epochs", 0, r"train.epochs = 0 .*whole number ≥ 1"),
        ("train.epochs", 2.5, r"train.epochs = 2.5"),
        ("train.image_size", [8, 8], r"train.image_size .*16 to 1024"),
        ("train.optimizer", "adam", r"train.optimizer = 'adam' .*adamw, sgd, rmsprop"),
        ("model.arch", "vgg16", r"model.arch = 'vgg16' .*mobilenet_v2"),
        ("labels.attributes", ["Male", "Beard"], r"labels.attributes = \['Beard'\] .*CelebA attribute names"),
        ("partition.fractions", [0.5, 0.5, 0.5], r"partition.fractions"),
        ("partition.strategy", "clever", r"partition.strategy = 'clever'"),
        ("unzip.on_bad_image", "ignore", r"unzip.on_bad_image = 'ignore' .*skip, fail"),
        ("train.device", "tpu", r"train.device = 'tpu'"),
        ("train.augment", {"hflip": True, "blur": 1}, r"train.augment.blur"),
        ("train.augment", {"erase": 1.5}, r"train.augment.erase = 1.5"),
        ("evaluate.threshold", 1.5, r"evaluate.threshold = 1.5"),
        ("train.teachers", "models/a.pt", r"train.teachers = 'models/a.pt' .*list of model file paths"),
        ("train.distill_weight", 1.5, r"train.distill_weight = 1.5"),
        ("train.mixup", -0.2, r"train.mixup = -0.2 .*≥ 0"),
    ],
)
def test_bad_values_name_the_key_value_and_what_is_allowed(key, value, message):
    with pytest.raises(FaceattrError, match=message):
        validate(with_value(key, value))


def test_unknown_and_missing_keys():
    params = with_value("train.learning_rate", 0.1)
    with pytest.raises(FaceattrError, match=r"unknown key train.learning_rate; allowed in train: .*lr"):
        validate(params)
    params = copy.deepcopy(DEFAULT)
    del params["train"]["epochs"]
    with pytest.raises(FaceattrError, match="missing key 'train.epochs'"):
        validate(params)


def test_alpha_only_with_mobilenet_v2():
    params = with_value("model.arch", "resnet18")
    params["alpha"] = 0.5
    with pytest.raises(FaceattrError, match="only mobilenet_v2"):
        validate(params)


def test_a_typo_in_a_key_fails_check_params_in_one_line(tmp_path):
    text = (REPO / "params.yaml").read_text()
    assert "\n  lr: 0.003" in text
    proc = check_params_on(tmp_path, text.replace("\n  lr: 0.003", "\n  learning_rate: 0.003"))
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: params.yaml: unknown key train.learning_rate; allowed in train: ") and " lr," in line
    assert not (tmp_path / "data").exists()


def test_a_train_config_built_in_code_needs_every_key():
    """params.yaml is the one source of values: a TrainConfig built in code starts from one (no defaults)."""
    params = validate(copy.deepcopy(DEFAULT))
    full = params.training()
    assert full.train == params.train and full.model == params.model  # each group as it is, in one hop
    assert (full.alpha, full.seed) == (params.alpha, params.seed)
    values = full.model_dump()
    assert TrainConfig(**values) == full

    def without(group, key):
        return {**values, group: {k: v for k, v in values[group].items() if k != key}}

    def changed(group, **keys):
        return {**values, group: {**values[group], **keys}}

    for args, named in (
        (without("train", "epochs"), "train.epochs"),
        (without("model", "arch"), "model.arch"),
        ({k: v for k, v in values.items() if k != "seed"}, "seed"),
    ):
        with pytest.raises(FaceattrError, match=rf"^missing key '{named}'$"):
            TrainConfig(**args)
    with pytest.raises(FaceattrError, match=r"^missing key 'train.augment.hflip'$"):
        TrainConfig(**changed("train", augment={"erase": 0.5}))
    with pytest.raises(
        FaceattrError, match=r"^train.distill_weight = 2 is not allowed; expected a number ≥ 0 and ≤ 1$"
    ):
        TrainConfig(**changed("train", distill_weight=2))
    with pytest.raises(FaceattrError, match=r"^model.arch = 'vgg16' is not allowed; expected one of mobilenet_v2, "):
        TrainConfig(**changed("model", arch="vgg16"))
    with pytest.raises(FaceattrError, match=r"^alpha = 0.5 is not allowed; expected 1.0 with model.arch resnet18"):
        TrainConfig(**{**changed("model", arch="resnet18"), "alpha": 0.5})
    with pytest.raises(FaceattrError, match=r"^unknown key train.learning_rate; allowed in train: "):
        TrainConfig(**changed("train", learning_rate=0.1))
    cfg = repository_training(epochs=2, freeze=3, augment={"erase": 0.5})  # the tests' helper: params.yaml's, changed
    train = DEFAULT["train"]
    assert cfg.train.epochs == 2 and cfg.train.lr == train["lr"] and cfg.model.freeze == 3
    assert cfg.seed == DEFAULT["seed"] and cfg.alpha == DEFAULT["alpha"]
    assert cfg.train.augment.model_dump() == {**train["augment"], "erase": 0.5}
    assert (cfg.model.freeze_blocks, repository_training(freeze="backbone").model.freeze_blocks) == (3, 0)
    assert repository_training().model.freeze_blocks is None and repository_training().model.weights == ""


def test_the_config_and_the_data_stages_load_no_training_stack():
    code = (
        "import sys, stages.check_params, stages.preprocess, stages.evaluate, stages.plots; "
        "import faceattr.config.schema; print(sorted(m for m in ('faceattr.train.loop', 'faceattr.train.optim', 'faceattr.train.distill') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import sys, faceattr.config.schema, stages.check_params; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
