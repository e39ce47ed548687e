"""`faceattr serve`'s JSON API: the answers equal `faceattr predict`'s, every refusal is a JSON error, and the
server goes on serving after each."""

from __future__ import annotations

import base64
import io
import json
import tempfile
import threading
import urllib.request
import uuid

import numpy as np
import pytest
from helpers import SERVE_ATTRS as ATTRS
from helpers import png_header_only, running_server, tiny_model
from PIL import Image
from starlette.testclient import TestClient

from faceattr.cli.entry import main
from faceattr.predict import demo_photos as demo
from faceattr.predict.detect import DEFAULT_DETECTOR
from faceattr.serve.app import CONTENT_SECURITY_POLICY, create_app
from faceattr.serve.service import Service

LIMIT_MB = 1.0
BASE_URL = "http://127.0.0.1:8000"  # the server answers only requests that name it (Host: a loopback name)


def client_of(app) -> TestClient:
    return TestClient(app, base_url=BASE_URL)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    model = tiny_model(root / "model.pt")
    photo = demo.demo_photo(faces=2)
    (root / "photo.jpg").write_bytes(demo.jpeg(photo.rgb))
    (root / "empty.jpg").write_bytes(demo.jpeg(demo.background(seed=2)))
    crop = demo.synthetic_faces()[photo.faces[0]].permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="PNG")
    (root / "crop.png").write_bytes(buffer.getvalue())
    service = Service(model)
    return {
        "root": root,
        "model": model,
        "service": service,
        "photo": photo,
        "client": client_of(create_app(service, max_upload_mb=LIMIT_MB)),
    }


def _post(client: TestClient, path: str, data: bytes, name: str = "photo.jpg", **fields):
    return client.post(
        path, files={"photo": (name, data, "application/octet-stream")}, data={k: str(v) for k, v in fields.items()}
    )


def _read(setup, name: str) -> bytes:
    return (setup["root"] / name).read_bytes()


def _still_serving(setup) -> None:
    client = setup["client"]
    assert client.get("/healthz").json() == {"status": "ok"}
    answer = _post(client, "/api/predict", _read(setup, "photo.jpg"))
    assert answer.status_code == 200 and len(answer.json()["rows"]) == 2


def _cli_rows(setup, capsys, *options: str) -> list[dict]:
    assert main(["predict", *options, "--model", str(setup["model"]), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_predict_rows_equal_the_command_with_detect(setup, capsys):
    path = setup["root"] / "photo.jpg"
    answer = _post(setup["client"], "/api/predict", path.read_bytes(), name="photo.jpg")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = _cli_rows(setup, capsys, str(path), "--detect")
    assert len(expected) == 2
    assert body["rows"] == [{**row, "image": "photo.jpg"} for row in expected]
    assert (
        body["attributes"] == ATTRS
        and body["thresholds"] == dict.fromkeys(ATTRS, 0.5)
        and body["detector"] == DEFAULT_DETECTOR
    )
    assert (body["width"], body["height"]) == (demo.PHOTO_WIDTH, demo.PHOTO_HEIGHT)
    for face, row, (x, y) in zip(body["faces"], body["rows"], setup["photo"].places):
        assert face["box"] == row["box"]
        bx, by, bw, bh = face["box"]  # inside the pasted face
        assert (
            x - 5 <= bx and bx + bw <= x + demo.FACE_WIDTH + 5 and y - 5 <= by and by + bh <= y + demo.FACE_HEIGHT + 5
        )
        crop = Image.open(io.BytesIO(base64.b64decode(face["crop"].split(",", 1)[1])))
        assert crop.format == "PNG" and crop.size == (178, 218)
        assert "heatmap" not in face
    assert body["rows"][0]["Male"] != body["rows"][1]["Male"]  # each row is its own face's


def test_aligned_switch_equals_plain_predict(setup, capsys):
    answer = _post(setup["client"], "/api/predict", _read(setup, "crop.png"), name="crop.png", aligned="1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = _cli_rows(setup, capsys, str(setup["root"] / "crop.png"))
    assert body["rows"] == [{**expected[0], "image": "crop.png"}] and body["detector"] is None
    assert body["faces"] == [{"face": 0, "box": [0, 0, 178, 218]}] and body["warnings"] == []
    # The same image with detection is another answer: the face found in it, aligned.
    detected = _post(setup["client"], "/api/predict", _read(setup, "crop.png"), name="crop.png").json()
    assert detected["rows"][0]["box"] and detected["rows"][0] != body["rows"][0]


def test_a_photo_without_a_face_is_an_empty_answer_with_a_warning(setup):
    body = _post(setup["client"], "/api/predict", _read(setup, "empty.jpg"), name="empty.jpg").json()
    assert body["rows"] == [] and body["faces"] == [] and body["warnings"] == ["empty.jpg: no face found"]
    answer = _post(setup["client"], "/api/explain", _read(setup, "empty.jpg"), name="empty.jpg", attribute="Male")
    assert answer.status_code == 400 and answer.json()["error"] == "face: no face found in empty.jpg"
    _still_serving(setup)


def test_heat_map_of_a_face_is_the_same_from_the_photo_the_crop_and_predict(setup):
    client, photo = setup["client"], _read(setup, "photo.jpg")
    predicted = _post(client, "/api/predict", photo, explain="Smiling").json()
    maps = []
    for k, face in enumerate(predicted["faces"]):
        answer = _post(client, "/api/explain", photo, face=k, attribute="Smiling")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        assert float(answer.headers["x-probability"]) == pytest.approx(
            predicted["rows"][k]["Smiling"]["probability"], abs=0.02
        )  # fp32 Grad-CAM vs bf16 predict
        assert base64.b64decode(face["heatmap"].split(",", 1)[1]) == answer.content
        # The page sends the crop back as an aligned image: the same pixels, so the same heat map.
        crop = base64.b64decode(face["crop"].split(",", 1)[1])
        again = _post(client, "/api/explain", crop, name="crop.png", aligned="1", attribute="Smiling")
        assert again.content == answer.content
        maps.append(np.asarray(Image.open(io.BytesIO(answer.content))))
    assert maps[0].shape == (218, 178, 3) and not np.array_equal(maps[0], maps[1])
    other = _post(client, "/api/explain", photo, face=0, attribute="Male")
    assert other.content != _post(client, "/api/explain", photo, face=0, attribute="Smiling").content


CHUNK = b"x" * 65536


@pytest.mark.parametrize(
    "case",
    [
        "too large",
        "too large, no length",
        "not an image",
        "truncated",
        "bomb",
        "no photo field",
        "empty photo",
        "not multipart",
        "bad flag",
    ],
)
def test_bad_uploads_are_json_errors_and_the_server_goes_on(setup, case):
    client, photo = setup["client"], _read(setup, "photo.jpg")
    over = int(LIMIT_MB * 2**20) + 1
    if case == "too large":
        answer = _post(client, "/api/predict", photo + b"\0" * over)
    elif case == "too large, no length":  # chunked: refused once the bytes received pass the limit
        answer = client.post(
            "/api/predict",
            content=iter([CHUNK] * (over // len(CHUNK) + 2)),
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        assert "content-length" not in answer.request.headers
    elif case == "not an image":
        answer = _post(client, "/api/predict", b"hello, not an image\n" * 10, name="notes.jpg")
    elif case == "truncated":
        answer = _post(client, "/api/predict", photo[: len(photo) // 2])
    elif case == "bomb":
        answer = _post(client, "/api/predict", png_header_only(10000, 10000), name="bomb.png")
    elif case == "no photo field":
        answer = client.post("/api/predict", files={"image": ("a.jpg", photo)})
    elif case == "empty photo":
        answer = _post(client, "/api/predict", b"", name="empty.jpg")
    elif case == "not multipart":
        answer = client.post("/api/predict", content=photo, headers={"content-type": "image/jpeg"})
    else:
        answer = _post(client, "/api/predict", photo, aligned="maybe")
    expected = {
        "too large": (413, "over the limit of 1 MB"),
        "too large, no length": (413, "over the limit of 1 MB"),
        "not an image": (400, "notes.jpg: not a readable image"),
        "truncated": (400, "not a readable image"),
        "bomb": (400, "10000×10000 (100 megapixels) is over the limit of 50 megapixels"),
        "no photo field": (400, "photo: missing"),
        "empty photo": (400, "photo: empty.jpg is empty (0 bytes)"),
        "not multipart": (400, "photo: send a multipart"),
        "bad flag": (400, "aligned: expected true or false"),
    }[case]
    assert answer.status_code == expected[0] and answer.headers["content-type"] == "application/json"
    assert expected[1] in answer.json()["error"]
    _still_serving(setup)


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"attribute": "Bald"},
            "attribute: 'Bald' is not one of the model's attributes (Eyeglasses, Male, Smiling, Young)",
        ),
        ({}, "attribute: missing"),
        ({"attribute": "Male", "face": 2}, "face: 2 is out of range; photo.jpg has 2 face(s)"),
        ({"attribute": "Male", "face": "-1"}, "face: expected a face number"),
        ({"attribute": "Male", "face": "²"}, "face: expected a face number"),  # str.isdigit() says yes
        ({"attribute": "Male", "face": "٣"}, "face: expected a face number"),  # an Arabic-Indic 3
        ({"attribute": "Male", "face": "9" * 4000}, "face: expected a face number"),
    ],
)
def test_explain_refuses_an_unknown_attribute_or_face(setup, fields, message):
    answer = _post(setup["client"], "/api/explain", _read(setup, "photo.jpg"), **fields)
    assert answer.status_code == 400 and message in answer.json()["error"]
    _still_serving(setup)


def test_predict_refuses_an_unknown_attribute_to_explain(setup):
    answer = _post(setup["client"], "/api/predict", _read(setup, "photo.jpg"), explain="Bald")
    assert answer.status_code == 400 and answer.json()["error"].startswith("attribute: 'Bald'")


def test_model_description_and_its_mlflow_run(setup, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no mlflow.db here: nothing to look up, and nothing is created
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    body = client_of(create_app(setup["service"])).get("/api/model").json()
    assert body["arch"] == "mobilenet_v2" and body["attributes"] == ATTRS
    assert body["input_size"] == {"height": 64, "width": 52} and body["max_upload_mb"] == 10
    assert body["mlflow"]["run_id"] is None and "no MLflow store" in body["mlflow"]["reason"]
    assert list(tmp_path.iterdir()) == []

    from faceattr.digest import file_sha256
    from faceattr.track import mlflow_runs

    class Run:  # what mlflow_runs.find_run_for_model returns, reduced to what is read
        class info:
            run_id, run_name = "0123abcd", "exp-1"

        class data:
            metrics = {"test.mean_accuracy": 0.91, "test.per_attribute.Male.f1": 0.88, "train_loss": 0.3}

    asked = []
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9/")
    monkeypatch.setattr(mlflow_runs, "find_run_for_model", lambda sha: asked.append(sha) or Run)
    from faceattr.track import registry

    monkeypatch.setattr(
        registry,
        "versions_of_run",  # the versions that run registered (faceattr promote's alias)
        lambda run_id: [registry.Version("faceattr", "3", run_id, ("champion",))],
    )
    body = client_of(create_app(setup["service"])).get("/api/model").json()
    assert asked == [file_sha256(setup["model"])]
    assert body["mlflow"] == {
        "model_sha256": asked[0],
        "run_id": "0123abcd",
        "run_name": "exp-1",
        "test_metrics": {"mean_accuracy": 0.91, "per_attribute.Male.f1": 0.88},
        "registered": ["models:/faceattr/3 @champion"],
    }

    def unreachable(run_id):
        raise ConnectionError("the registry is down")

    monkeypatch.setattr(registry, "versions_of_run", unreachable)  # extra information: never a failure
    body = client_of(create_app(setup["service"])).get("/api/model").json()
    assert body["mlflow"]["run_id"] == "0123abcd" and "registered" not in body["mlflow"]


def test_page_and_static_files_carry_the_content_security_policy(setup):
    client = setup["client"]
    for path in ("/", "/static/app.js", "/static/style.css", "/healthz", "/api/model"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"
    page = client.get("/").text
    assert "http://" not in page and "https://" not in page and "<script>" not in page  # nothing from elsewhere
    assert client.get("/static/../serve.py").status_code == 404


def test_an_upload_leaves_nothing_behind(setup, monkeypatch, tmp_path):
    """Parts over 1 MB spool to the temporary folder while the request runs; nothing stays there after."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    big = Image.fromarray(np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    assert 2**20 < len(buffer.getvalue()) < 10 * 2**20
    client = client_of(create_app(setup["service"]))
    answer = _post(client, "/api/predict", buffer.getvalue(), name=f"{uuid.uuid4().hex}.png")
    assert answer.status_code == 200 and answer.json()["warnings"][0].endswith("no face found")
    assert list(spool.iterdir()) == []


@pytest.mark.e2e  # a real uvicorn server
def test_concurrent_requests_on_a_real_server_get_the_sequential_answers(setup):
    photo, crop = _read(setup, "photo.jpg"), _read(setup, "crop.png")
    client = setup["client"]
    expected = {
        "photo": _post(client, "/api/predict", photo, explain="Male").json(),
        "crop": _post(client, "/api/predict", crop, name="photo.jpg", aligned="1", explain="Male").json(),
    }
    answers, errors = [], []

    def ask(url: str, kind: str) -> None:
        try:
            boundary = uuid.uuid4().hex
            fields = {"aligned": "1" if kind == "crop" else "0", "explain": "Male"}
            body = b"".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                for k, v in fields.items()
            )
            body += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="photo.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode() + (crop if kind == "crop" else photo)
            body += f"\r\n--{boundary}--\r\n".encode()
            request = urllib.request.Request(
                url + "/api/predict",
                data=body,
                method="POST",
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                answers.append((kind, json.loads(response.read())))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    with running_server(create_app(setup["service"])) as url:
        threads = [threading.Thread(target=ask, args=(url, ("photo", "crop")[k % 2])) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == [] and len(answers) == 6
    for kind, body in answers:
        assert body == expected[kind]


def test_serve_listens_on_loopback_with_a_10_mb_limit_unless_told_otherwise(setup):
    from faceattr.cli.entry import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.max_upload_mb, args.model) == ("127.0.0.1", 8000, 10.0, "models/model.pt")
    assert args.allow_host == [] and args.max_faces == 50
    assert args.detector is None and setup["service"].detector == DEFAULT_DETECTOR  # the default follows detect's
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--max-upload-mb", "0"])
