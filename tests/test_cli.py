import json
import subprocess
import sys
import zipfile

import pytest
import torch
from helpers import jpeg_bytes, png16_and_png8, png_header_only, small_model

from faceattr.cli.entry import main
from faceattr.model.model_file import ModelSpec, build_model, save_model

ATTRS = ["Male", "Smiling", "Young"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", len(ATTRS), alpha=0.25).eval()
    save_model(root / "model.pt", model, ModelSpec("mobilenet_v2", 0.25, ATTRS, (32, 32)))
    folder = root / "imgs"
    folder.mkdir()
    ids = [f"{i:06d}.jpg" for i in range(1, 9)]
    for k, name in enumerate(ids):
        (folder / name).write_bytes(jpeg_bytes(k, size=(40, 48)))
    (folder / "000009.jpg").write_bytes(b"broken")
    with zipfile.ZipFile(root / "imgs.zip", "w") as zf:
        for name in ids:
            zf.write(folder / name, f"img_align_celeba/{name}")
    rows = "\n".join(
        f"{i} {' '.join('1' if (k + j) % 2 else '-1' for j in range(4))}" for k, i in enumerate(ids + ["000009.jpg"])
    )
    (root / "attrs.txt").write_text(f"9\nMale Smiling Bald Young\n{rows}\n")
    (root / "part.txt").write_text("".join(f"{i} {0 if k < 4 else 2}\n" for k, i in enumerate(ids)))
    return root


def test_predict_folder_zip_and_bad_file_json(setup, capsys):
    rc = main(
        [
            "predict",
            str(setup / "imgs"),
            str(setup / "imgs.zip"),
            "--model",
            str(setup / "model.pt"),
            "--format",
            "json",
        ]
    )
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert rc == 0 and len(rows) == 16  # 8 from the folder, 8 from the zip; the broken file is skipped
    assert "000009.jpg: skipped" in captured.err
    assert set(rows[0]) == {"image", *ATTRS}  # the values: test_predict_csv_and_table_are_the_models_forward_pass…
    folder_probs = [r["Male"]["probability"] for r in rows[:8]]
    zip_probs = [r["Male"]["probability"] for r in rows[8:]]
    assert folder_probs == zip_probs  # same images, same answers


def test_predict_csv_and_table_are_the_models_forward_pass_decided_at_the_threshold(setup, tmp_path, capsys):
    """predict's csv and table, parsed: each probability is the model's own forward pass (the sigmoid of its
    logits on the decoded, resized, normalised image) to 4 decimals, each decision is probability ≥ the
    threshold (one that splits the answers), and the table lists as present exactly what the csv marks 1."""
    import csv
    import io

    from faceattr.data.decoding import decode_resized, normalize
    from faceattr.model.model_file import load_model

    model_file = small_model(tmp_path / "m.pt", ATTRS)  # an untrained model whose answers depend on the image
    images = [setup / "imgs" / f"{i:06d}.jpg" for i in range(1, 5)]
    model, spec = load_model(model_file)
    x = torch.stack([decode_resized(path.read_bytes(), spec.image_size) for path in images])
    with torch.no_grad():
        expected = torch.sigmoid(model(normalize(x, spec.mean, spec.std))).numpy()
    ranked = sorted(expected.ravel().tolist())
    threshold = (ranked[len(ranked) // 2 - 1] + ranked[len(ranked) // 2]) / 2  # half the answers on each side
    assert min(abs(p - threshold) for p in ranked) > 1e-5, ranked  # no decision left to float rounding
    common = [*map(str, images), "--model", str(model_file), "--precision", "fp32", "--threshold", repr(threshold)]

    assert main(["predict", *common, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["image"].rsplit("/", 1)[-1] for row in rows] == [path.name for path in images]
    for row, probabilities in zip(rows, expected):
        for attribute, p in zip(ATTRS, probabilities):
            assert float(row[f"{attribute}_prob"]) == pytest.approx(p, abs=5e-5 + 1e-6), (row["image"], attribute)
            assert row[f"{attribute}_present"] == ("1" if p >= threshold else "0"), (row["image"], attribute)
    assert sum(row[f"{a}_present"] == "1" for row in rows for a in ATTRS) == len(ranked) // 2

    assert main(["predict", *common]) == 0  # the table: per image a line naming what is present, then one per attribute
    table = capsys.readouterr().out.splitlines()
    assert len(table) == len(rows) * (1 + len(ATTRS))
    for k, row in enumerate(rows):
        head, *lines = table[k * (1 + len(ATTRS)) : (k + 1) * (1 + len(ATTRS))]
        present = [a for a in ATTRS if row[f"{a}_present"] == "1"]
        assert head == f"{row['image']}: {', '.join(present) or '(none)'}"
        for attribute, line in zip(ATTRS, lines):
            name, shown, *mark = line.split()
            assert name == attribute and float(shown) == pytest.approx(float(row[f"{attribute}_prob"]), abs=1e-9)
            assert mark == (["✓"] if attribute in present else [])


def test_predict_non_image_only_fails(setup, capsys):
    assert main(["predict", str(setup / "attrs.txt"), "--model", str(setup / "model.pt")]) == 1
    assert "attrs.txt: skipped (not a readable image" in capsys.readouterr().err


def test_missing_model_is_a_clear_error(setup, capsys):
    assert main(["predict", str(setup / "imgs"), "--model", str(setup / "nope.pt")]) == 2
    assert "nope.pt: model file not found" in capsys.readouterr().err


def test_evaluate_split_of_a_partition(setup, capsys, tmp_path):
    out = tmp_path / "m.json"
    rc = main(
        [
            "evaluate",
            "--model",
            str(setup / "model.pt"),
            "--images",
            str(setup / "imgs.zip"),
            "--labels",
            str(setup / "attrs.txt"),
            "--partition",
            str(setup / "part.txt"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    metrics = json.loads(out.read_text())
    assert metrics["images"] == 4 and set(metrics["per_attribute"]) == set(ATTRS)
    assert "mean" in capsys.readouterr().out


def test_evaluate_reports_unreadable_images(setup, capsys):
    rc = main(
        [
            "evaluate",
            "--model",
            str(setup / "model.pt"),
            "--images",
            str(setup / "imgs"),
            "--labels",
            str(setup / "attrs.txt"),
        ]
    )
    assert rc == 0
    assert "000009.jpg: skipped" in capsys.readouterr().err


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "faceattr.cli", "predict", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--format" in out.stdout


def test_export_onnx_parity_and_predict_with_onnxruntime(setup, tmp_path, capsys):
    onnx_path = tmp_path / "model.onnx"
    assert main(["export", "--model", str(setup / "model.pt"), "--onnx", str(onnx_path)]) == 0
    assert "max |ONNX - PyTorch|" in capsys.readouterr().out and onnx_path.is_file()
    assert main(["predict", str(setup / "imgs"), "--onnx", str(onnx_path), "--format", "json"]) == 0
    via_onnx = json.loads(capsys.readouterr().out)
    assert main(["predict", str(setup / "imgs"), "--model", str(setup / "model.pt"), "--format", "json"]) == 0
    via_torch = json.loads(capsys.readouterr().out)
    assert len(via_onnx) == 8
    for a, b in zip(via_onnx, via_torch):
        for attr in ATTRS:
            assert abs(a[attr]["probability"] - b[attr]["probability"]) <= 1e-4


def test_onnx_session_is_built_with_faceattr_options(setup, tmp_path, monkeypatch):
    """`predict --onnx` states its graph optimisation level, execution mode and thread counts: with
    SessionOptions whose defaults are all different, the session still gets faceattr's choices."""
    import onnxruntime as ort

    from faceattr.model.onnx_export import OnnxPredictor

    onnx_path = tmp_path / "model.onnx"
    assert main(["export", "--model", str(setup / "model.pt"), "--onnx", str(onnx_path)]) == 0

    class OtherDefaults(ort.SessionOptions):
        def __init__(self):
            super().__init__()
            self.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            self.execution_mode = ort.ExecutionMode.ORT_PARALLEL
            self.intra_op_num_threads = 7
            self.inter_op_num_threads = 5

    monkeypatch.setattr(ort, "SessionOptions", OtherDefaults)
    for threads, expected in ((None, torch.get_num_threads()), (1, 1)):
        options = OnnxPredictor(onnx_path, threads=threads).session.get_session_options()
        assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
        assert options.intra_op_num_threads == expected  # PyTorch's thread count unless told otherwise
        assert options.inter_op_num_threads == 1


def test_predict_with_a_non_onnx_file_is_a_clear_error(setup, capsys):
    assert main(["predict", str(setup / "imgs"), "--onnx", str(setup / "attrs.txt")]) == 2
    assert "not a readable ONNX model" in capsys.readouterr().err


def test_predict_precision_fp32_is_exact_and_bf16_close(setup, capsys):
    from faceattr.data.decoding import decode_resized
    from faceattr.evaluate.evaluation import predict_probabilities
    from faceattr.model.model_file import load_model

    model, spec = load_model(setup / "model.pt")
    images = torch.stack(
        [decode_resized((setup / "imgs" / f"{i:06d}.jpg").read_bytes(), spec.image_size) for i in range(1, 9)]
    )
    exact = predict_probabilities(model, spec, images)
    got = {}
    for precision in ("fp32", "bf16"):
        assert (
            main(
                [
                    "predict",
                    str(setup / "imgs"),
                    "--model",
                    str(setup / "model.pt"),
                    "--format",
                    "json",
                    "--precision",
                    precision,
                ]
            )
            == 0
        )
        rows = json.loads(capsys.readouterr().out)
        got[precision] = [[r[a]["probability"] for a in ATTRS] for r in rows]
    assert got["fp32"] == [[round(float(p), 4) for p in row] for row in exact]
    assert max(abs(a - b) for ra, rb in zip(got["fp32"], got["bf16"]) for a, b in zip(ra, rb)) < 0.05


def test_predict_skips_hostile_images_and_predicts_the_rest(setup, tmp_path, capsys):
    """A 16-bit PNG is read as 8 bits; a huge-dimension PNG and an oversized zip entry are skipped unread."""
    from faceattr.data import input_limits as limits

    png16, png8 = png16_and_png8(1, size=(40, 48))
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a16.png").write_bytes(png16)
    (folder / "b8.png").write_bytes(png8)
    (folder / "c.jpg").write_bytes((setup / "imgs" / "000001.jpg").read_bytes())
    (folder / "d-bomb.png").write_bytes(png_header_only(30000, 30000))  # 900 MP in ~60 bytes
    (folder / "e-big.png").write_bytes(png_header_only(8000, 8000))  # 64 MP: over a 50 MP limit
    with zipfile.ZipFile(tmp_path / "z.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.jpg", b"\0" * (limits.MAX_IMAGE_MB * 2**20 + 1))  # a small file that expands past the cap
        zf.write(folder / "c.jpg", "ok.jpg")
    rc = main(["predict", str(folder), str(tmp_path / "z.zip"), "--model", str(setup / "model.pt"), "--format", "json"])
    out = capsys.readouterr()
    rows = {r["image"].rsplit("/", 1)[-1]: r for r in json.loads(out.out)}
    assert rc == 0 and set(rows) == {"a16.png", "b8.png", "c.jpg", "z.zip:ok.jpg"}
    assert rows["a16.png"]["Male"] == rows["b8.png"]["Male"]  # the 16-bit image is its 8-bit twin
    assert (
        "d-bomb.png: skipped" in out.err
        and "e-big.png: skipped (8000×8000 (64 megapixels) is over the limit of 50" in out.err
    )
    assert "zeros.jpg: skipped (expands to" in out.err
    assert (
        main(
            [
                "predict",
                str(folder / "e-big.png"),
                "--model",
                str(setup / "model.pt"),
                "--max-megapixels",
                "10",
                "--format",
                "json",
            ]
        )
        == 1
    )  # only a skipped file: nothing predicted
    assert "over the limit of 10 megapixels" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["folder", "missing-folder", "read-only"])
def test_export_to_an_unwritable_place_is_one_line(setup, tmp_path, capsys, where):
    import os

    target = {
        "folder": tmp_path,
        "missing-folder": tmp_path / "nope" / "m.onnx",
        "read-only": tmp_path / "ro" / "m.onnx",
    }[where]
    if where == "read-only":
        target.parent.mkdir()
        target.parent.chmod(0o500)
        if os.access(target.parent, os.W_OK):  # root ignores permissions: make the path a folder's child of a file
            target = tmp_path / "file" / "m.onnx"
            (tmp_path / "file").write_text("x")
    assert main(["export", "--model", str(setup / "model.pt"), "--onnx", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("faceattr: error: --onnx"), err
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_help_and_version_load_no_heavy_library():
    """`faceattr --help` parses its arguments before torch, numpy, pandas or OpenCV are imported."""
    code = (
        "import sys\nfrom faceattr.cli.entry import main\n"
        "for argv in (['--help'], ['--version'], ['predict', '--help'], ['serve', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'cv2', 'sklearn', 'starlette', 'uvicorn') "
        "if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert "faceattr 0." in proc.stdout and "--max-megapixels" in proc.stdout and "--max-upload-mb" in proc.stdout


def test_predict_on_an_empty_folder_is_an_error(setup, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--model", str(setup / "model.pt")]) == 2
    assert "no images found in" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["2", "0", "1", "-0.5", "nan", "half"])
def test_a_threshold_outside_0_1_is_refused(setup, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(setup / "imgs"), "--model", str(setup / "model.pt"), "--threshold", value])
    assert exit_info.value.code == 2
    assert "expected a number between 0 and 1 (exclusive)" in capsys.readouterr().err


def test_predict_warns_when_an_input_is_not_shaped_like_an_aligned_crop(setup, tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (640, 480), (200, 180, 150)).save(tmp_path / "coffee-cup.jpg")  # a landscape photo
    rc = main(
        [
            "predict",
            str(tmp_path / "coffee-cup.jpg"),
            str(setup / "imgs" / "000001.jpg"),
            "--model",
            str(setup / "model.pt"),
            "--format",
            "json",
        ]
    )
    out = capsys.readouterr()
    assert rc == 0 and len(json.loads(out.out)) == 2  # still answered, but with a warning naming it
    assert "coffee-cup.jpg (640×480): not shaped like an aligned face crop" in out.err and "--detect" in out.err
    assert "000001.jpg" not in out.err  # 40×48 crops for a 32×32 model are fine


def test_the_models_own_thresholds_decide_unless_threshold_is_given(setup, tmp_path, capsys):
    """A model file carrying per-attribute thresholds (tuned on validation by the pipeline) decides with
    them in predict and evaluate; --threshold replaces them for every attribute."""
    import numpy as np

    from faceattr.model.model_file import load_model

    model, spec = load_model(setup / "model.pt")
    image = str(setup / "imgs" / "000001.jpg")
    assert main(["predict", image, "--model", str(setup / "model.pt"), "--format", "json"]) == 0
    probs = {a: v["probability"] for a, v in json.loads(capsys.readouterr().out)[0].items() if a != "image"}
    # thresholds just above and below each probability: the decisions must follow them, attribute by attribute
    spec.thresholds = [min(1.0, probs[a] + 0.001) if k % 2 else max(0.0, probs[a] - 0.001) for k, a in enumerate(ATTRS)]
    save_model(tmp_path / "tuned.pt", model, spec)
    assert main(["predict", image, "--model", str(tmp_path / "tuned.pt"), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert [row[a]["present"] for a in ATTRS] == [k % 2 == 0 for k in range(len(ATTRS))]
    assert (
        main(["predict", image, "--model", str(tmp_path / "tuned.pt"), "--format", "json", "--threshold", "0.000001"])
        == 0
    )
    assert all(v["present"] for a, v in json.loads(capsys.readouterr().out)[0].items() if a != "image")

    args = ["evaluate", "--images", str(setup / "imgs"), "--labels", str(setup / "attrs.txt")]
    for name in ("model.pt", "tuned.pt"):
        assert (
            main(
                [
                    *args,
                    "--model",
                    str(setup / name if name == "model.pt" else tmp_path / name),
                    "--out",
                    str(tmp_path / f"{name}.json"),
                ]
            )
            == 0
        )
    plain, tuned = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("model.pt", "tuned.pt"))
    assert [tuned["per_attribute"][a]["threshold"] for a in ATTRS] == pytest.approx(spec.thresholds)
    assert [plain["per_attribute"][a]["threshold"] for a in ATTRS] == [0.5] * 3
    assert np.isclose(plain["mean_roc_auc"], tuned["mean_roc_auc"])  # same probabilities, other decisions


def test_evaluate_tta_averages_each_image_with_its_mirror(setup, tmp_path, capsys):
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from faceattr.data.decoding import decode_resized
    from faceattr.evaluate.evaluation import predict_probabilities
    from faceattr.model.model_file import load_model

    args = [
        "evaluate",
        "--images",
        str(setup / "imgs"),
        "--labels",
        str(setup / "attrs.txt"),
        "--model",
        str(setup / "model.pt"),
    ]
    assert main([*args, "--out", str(tmp_path / "plain.json")]) == 0
    assert main([*args, "--tta", "--out", str(tmp_path / "tta.json")]) == 0
    plain, tta = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("plain", "tta"))
    assert plain["images"] == tta["images"] == 8
    model, spec = load_model(setup / "model.pt")
    images = torch.stack(
        [decode_resized((setup / "imgs" / f"{i:06d}.jpg").read_bytes(), spec.image_size) for i in range(1, 9)]
    )
    labels = np.array([[1 if (k + j) % 2 else 0 for j in (0, 1, 3)] for k in range(8)])  # Male, Smiling, Young
    for found, mirror in ((plain, False), (tta, True)):
        prob = predict_probabilities(model, spec, images, tta_hflip=mirror)
        for c, a in enumerate(ATTRS):
            assert found["per_attribute"][a]["roc_auc"] == pytest.approx(roc_auc_score(labels[:, c], prob[:, c]))


def test_predict_reports_progress_on_a_slow_run_and_counts_the_images_first(setup, monkeypatch, capsys):
    """A run long enough gets progress lines on stderr (n/total from the folder listings, not decoding);
    stdout stays the answers alone. A clock that moves 4 s per image stands for a slow machine."""
    import faceattr.progress
    from faceattr.predict.image_sources import count_images

    assert count_images([str(setup / "imgs"), str(setup / "imgs.zip")]) == 17  # 9 files + 8 zip entries
    assert count_images([str(setup / "imgs")], wanted={"000001.jpg", "000002.jpg", "nope.jpg"}) == 2
    ticks = iter(range(0, 1000, 4))

    class SlowProgress(faceattr.progress.Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs, clock=lambda: float(next(ticks)))

    monkeypatch.setattr(faceattr.progress, "Progress", SlowProgress)
    assert main(["predict", str(setup / "imgs"), "--model", str(setup / "model.pt"), "--format", "json"]) == 0
    out = capsys.readouterr()
    assert len(json.loads(out.out)) == 8
    lines = [line for line in out.err.splitlines() if line.startswith("predict: ")]
    assert lines and lines[0].startswith("predict: 3/9 images (33%), ") and "left" in lines[0]
    assert lines[-1].startswith("predict: 9/9 images (100%)") and lines[-1].endswith("in all")


def test_exit_codes_are_as_documented(setup, tmp_path, capsys):
    """0: answered (some skipped is fine); 1: nothing answered; 2: usage or input error."""
    model = ["--model", str(setup / "model.pt")]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "000001.jpg").write_bytes(b"not a jpeg")
    (broken / "000002.jpg").write_bytes(b"nor this")
    assert main(["predict", str(setup / "imgs"), *model, "--format", "json"]) == 0  # 000009.jpg skipped
    assert main(["predict", str(broken), *model]) == 1  # every input unreadable
    assert main(["evaluate", "--images", str(broken), "--labels", str(setup / "attrs.txt"), *model]) == 1
    assert "none of the 2 labelled image(s) found could be read" in capsys.readouterr().err
    assert main(["predict", str(setup / "imgs"), "--model", str(tmp_path / "missing.pt")]) == 2
    assert main(["predict", str(tmp_path / "nowhere"), *model]) == 2
    assert main(["evaluate", "--images", str(setup / "imgs"), "--labels", str(setup / "part.txt"), *model]) == 2
    for argv in (["predict"], ["predict", "x.jpg", "--format", "xml"], ["serve", "--port", "99999"], ["nonsense"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
    capsys.readouterr()


def test_every_help_shows_examples_and_the_exit_codes(capsys):
    for argv in (
        [],
        ["evaluate"],
        ["predict"],
        ["explain"],
        ["export"],
        ["serve"],
        ["info"],
        ["promote"],
        ["recipe"],
        ["grid"],
    ):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        out = capsys.readouterr().out
        assert "examples:\n  faceattr " in out and "exit codes:\n  0  success" in out, argv
        assert "\n  1  nothing answered" in out and "\n  2  a usage or input error" in out
        examples = [line.strip() for line in out.split("examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()]
        assert 2 <= len([e for e in examples if e.startswith("faceattr ")]) <= 4, argv


def test_evaluate_warns_of_dropped_label_rows_and_refuses_a_broken_count_line(setup, tmp_path, capsys):
    """Malformed rows are dropped with the clean_labels stage's warnings (a count and the lines), not silently;
    a count line of '²' is one line naming the file and the line, not a traceback."""
    rows = (setup / "attrs.txt").read_text().splitlines()
    labels = tmp_path / "attrs.txt"
    labels.write_text("\n".join([*rows[:3], rows[3].rsplit(" ", 1)[0], *rows[4:]]) + "\n")  # line 4: a field short
    model = ["--model", str(setup / "model.pt"), "--images", str(setup / "imgs")]
    assert main(["evaluate", *model, "--labels", str(labels)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {labels}, line 4: 4 fields, expected 5; row dropped" in err
    assert f"warning: {labels}: 1 of 9 rows dropped as malformed" in err
    labels.write_text("²\n" + "\n".join(rows[1:]) + "\n")
    assert main(["evaluate", *model, "--labels", str(labels)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"faceattr: error: {labels}, line 1: the count line '²' is not a row count (expected at most 12 digits 0-9)"
    ]
