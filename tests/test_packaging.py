"""The package as users get it: the wheel `pip wheel .` builds, and that wheel installed outside the repository.

The wheel is built from a copy of the working tree (the files git lists, tracked or untracked but not
ignored), not in the checkout itself: setuptools writes build/ and faceattr.egg-info into the folder it builds
in, and builds the wheel from build/lib without emptying it first, so a build/ left over from an older layout
(the flat faceattr/*.py) would put removed modules into the wheel; and build/ is not git-ignored, so a build
in the shared checkout would show up in every clone the other tests make (helpers.make_clone) meanwhile.
No network: --no-build-isolation builds with this environment's setuptools, --no-index stops pip looking.

The installed-package test installs the wheel into a new virtual environment whose dependencies are this
environment's site-packages, put on sys.path by a `.pth` line. A plain path line in a `.pth` file adds the
folder without processing the `.pth` files inside it, so the editable install of faceattr that lives there
(__editable__.faceattr-*.pth and its finder) stays out: `faceattr` can only come from the new environment,
which the test checks (faceattr.__file__ and every faceattr module loaded). Everything then runs in a folder
outside the repository, with no PYTHONPATH.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest
from helpers import REPO

SOURCE = REPO / "faceattr"
ATTRS = ["Male", "Smiling", "Young"]
LEFT_OUT = ("build/", "dist/")  # never build from old build output (see the docstring)


def _run(args: list, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def source_files() -> set[str]:
    """Every file of the package's source tree (faceattr/...), as wheel names; bytecode left out."""
    return {
        path.relative_to(REPO).as_posix()
        for path in SOURCE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")
    }


def copy_tree(dest: Path) -> Path:
    """The working tree's files that git lists (tracked, or untracked and not ignored), copied to `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file() and not rel.startswith(LEFT_OUT):  # a tracked file deleted in the tree is no file
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the working tree, built offline with this environment's setuptools."""
    root = tmp_path_factory.mktemp("packaging")
    tree = copy_tree(root / "tree")
    out = root / "wheels"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, tree],
        cwd=root,
        env=env,
    )
    built = sorted(out.glob("faceattr-*.whl"))
    assert len(built) == 1, f"expected one faceattr wheel in {out}, found {[p.name for p in out.iterdir()]}"
    return built[0]


def test_wheel_holds_every_module_its_data_files_and_the_console_script(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info")}
        assert len(dist_info) == 1, dist_info
        (dist_info,) = dist_info
        entry_points = configparser.ConfigParser()
        entry_points.read_string(zf.read(f"{dist_info}/entry_points.txt").decode())
        top_level = zf.read(f"{dist_info}/top_level.txt").decode().split()

    packaged = {name for name in names if name.startswith("faceattr/")}
    expected = source_files()

    modules = {name for name in expected if name.endswith(".py")}
    missing_modules = sorted(modules - packaged)
    assert not missing_modules, (
        f"{len(missing_modules)} module(s) of faceattr/ missing from the wheel: {missing_modules}"
    )
    assert "faceattr/data/synth/__init__.py" in packaged  # the subpackage an older wheel lacked

    web = {name for name in expected if name.startswith("faceattr/serve/web/")}
    assert {"faceattr/serve/web/index.html", "faceattr/serve/web/app.js", "faceattr/serve/web/style.css"} <= web
    assert not sorted(web - packaged), f"web files missing from the wheel: {sorted(web - packaged)}"
    assert "faceattr/config/paths.yaml" in packaged

    missing = sorted(expected - packaged)  # any other data file under faceattr/ too
    assert not missing, f"files of faceattr/ missing from the wheel (pyproject's package-data): {missing}"
    stale = sorted(packaged - expected)
    assert not stale, f"files in the wheel that faceattr/ does not have (stale build output?): {stale}"

    # nothing but the package and its metadata: no tests/, benchmarks/, stages/, conftest, params.yaml, data
    leaked = sorted(
        name
        for name in names
        if name.split("/")[0] in ("tests", "benchmarks", "stages")
        or Path(name).name.startswith(("test_", "conftest"))
        or Path(name).name.endswith("_test.py")
    )
    assert not leaked, f"test, benchmark or stage files in the wheel: {leaked}"
    others = sorted(name for name in names if name.split("/")[0] not in ("faceattr", dist_info))
    assert not others, f"files outside faceattr/ in the wheel: {others}"
    assert top_level == ["faceattr"], top_level

    assert entry_points.has_section("console_scripts"), "the wheel declares no console scripts"
    assert dict(entry_points["console_scripts"]) == {"faceattr": "faceattr.cli.entry:main"}


# --- the wheel installed in a fresh environment, used from a folder outside the repository ---------------------

SETUP = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import faceattr
    import faceattr.data.synth, faceattr.serve.app  # the subpackage an older wheel lacked; the web app
    import torch
    from PIL import Image
    from starlette.testclient import TestClient

    from faceattr.config.paths import PATHS_FILE
    from faceattr.model.model_file import ModelSpec, build_model, save_model
    from faceattr.predict import demo_photos as demo
    from faceattr.serve.app import create_app
    from faceattr.serve.service import Service

    # a small MobileNetV2 whose answers depend on the image (tests/helpers.py: small_model)
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", len(ATTRS), alpha=0.25)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        model.train()(torch.rand(16, 3, 64, 52))
    save_model("model.pt", model.eval(), ModelSpec("mobilenet_v2", 0.25, ATTRS, (64, 52)))

    # two synthetic aligned faces (faceattr.data.synth), and a photo of two of them (demo_photos, its detector)
    for k, face in enumerate(demo.synthetic_faces(count=2)):
        Image.fromarray(face.permute(1, 2, 0).numpy()).save(f"face{k}.jpg", quality=95)
    Path("photo.jpg").write_bytes(demo.jpeg(demo.demo_photo(faces=2).rgb))

    # the page and its static files, read from the installed package
    client = TestClient(create_app(Service("model.pt")), base_url="http://127.0.0.1:8000")
    pages = {url: client.get(url) for url in ("/", "/static/app.js", "/static/style.css")}

    print(json.dumps({
        "file": faceattr.__file__,
        "modules": {name: getattr(m, "__file__", None) for name, m in sys.modules.items() if name.startswith("faceattr")},
        "paths_yaml": str(PATHS_FILE),
        "pages": {url: [r.status_code, len(r.content)] for url, r in pages.items()},
        "sys_path": sys.path,
    }))
    """
)


def purelib(python: Path | str) -> Path:
    return Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )


def fresh_venv(root: Path) -> tuple[Path, Path]:
    """A new virtual environment whose dependencies are this environment's site-packages (without faceattr)."""
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root)
    python = venv / "bin" / "python"
    site = purelib(python)
    assert site.is_relative_to(venv), site
    ours = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    # plain path lines: the folders join sys.path, and the .pth files inside them (the editable finder) do not run
    (site / "_faceattr_test_dependencies.pth").write_text("".join(f"{p}\n" for p in dict.fromkeys(ours)))
    return python, site


@pytest.mark.e2e
def test_installed_wheel_works_outside_the_repository(wheel, tmp_path):
    python, site = fresh_venv(tmp_path)
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel],
        cwd=tmp_path,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    script = python.parent / "faceattr"
    assert script.is_file(), "the wheel installed no `faceattr` script"
    shebang = script.read_text().splitlines()[0]
    assert Path(shebang.removeprefix("#!")).parent == python.parent, f"the script runs another interpreter: {shebang}"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert not any(
        (parent / ".git").exists() or (parent / "dvc.yaml").exists() for parent in (elsewhere, *elsewhere.parents)
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "MLFLOW_", "DVC_", "FACEATTR_", "PYTEST"))
    }
    env.update(PATH=f"{python.parent}{os.pathsep}/usr/bin{os.pathsep}/bin", PYTHONNOUSERSITE="1")

    def run(*args) -> subprocess.CompletedProcess:
        return _run(list(args), cwd=elsewhere, env=env)

    # the package, every faceattr module it loads, its data files: all from the new environment
    setup = json.loads(run(python, "-c", f"ATTRS = {ATTRS!r}\n{SETUP}").stdout.splitlines()[-1])
    assert Path(setup["file"]) == site / "faceattr" / "__init__.py", setup["file"]
    outside = {name: f for name, f in setup["modules"].items() if f is None or not Path(f).is_relative_to(site)}
    assert not outside, f"faceattr modules not loaded from the installed wheel: {outside}"
    assert {"faceattr.data.synth", "faceattr.serve.app", "faceattr.predict.detect"} <= set(setup["modules"])
    assert Path(setup["paths_yaml"]).is_relative_to(site)
    assert str(REPO) not in setup["sys_path"] and "" in setup["sys_path"][:1]
    for url, (status, size) in setup["pages"].items():
        assert status == 200 and size > 0, (url, status, size)
    assert {p.name for p in elsewhere.iterdir()} == {"model.pt", "face0.jpg", "face1.jpg", "photo.jpg"}

    usage = run(script, "--help").stdout
    assert usage.startswith("usage: faceattr") and "predict" in usage and "info" in usage
    assert run(script, "--version").stdout.split()[-1] == "0.1.0"

    card = json.loads(run(script, "info", "model.pt", "--no-mlflow", "--format", "json").stdout)
    assert card["arch"] == "mobilenet_v2" and card["alpha"] == 0.25 and card["attributes"] == ATTRS
    assert card["input_size"] == {"height": 64, "width": 52}

    rows = json.loads(
        run(script, "predict", "face0.jpg", "face1.jpg", "--model", "model.pt", "--format", "json").stdout
    )
    assert [row["image"] for row in rows] == ["face0.jpg", "face1.jpg"]  # one row per image
    for row in rows:
        assert set(row) == {"image", *ATTRS}, row
        for attribute in ATTRS:
            answer = row[attribute]
            assert 0 <= answer["probability"] <= 1, row
            if abs(answer["probability"] - 0.5) > 1e-4:  # shown to 4 decimals; decided on the unrounded value
                assert answer["present"] == (answer["probability"] > 0.5), row
    assert rows[0] != {**rows[1], "image": "face0.jpg"}  # the answers depend on the image

    faces = json.loads(
        run(script, "predict", "photo.jpg", "--detect", "--model", "model.pt", "--format", "json").stdout
    )
    assert [(row["image"], row["face"]) for row in faces] == [("photo.jpg", 0), ("photo.jpg", 1)]
    assert all(set(row) == {"image", "face", "box", *ATTRS} for row in faces), faces

    # nothing written beside the inputs (no mlflow.db, no models/ or metrics/ folders)
    assert {p.name for p in elsewhere.iterdir()} == {"model.pt", "face0.jpg", "face1.jpg", "photo.jpg"}
