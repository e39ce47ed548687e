"""Shared fixtures (small generated images and zips, never real CelebA; the tiny pipeline clone) and the e2e
guard. Shared functions live in helpers.py.

Tests that run `dvc repro`, `dvc exp run`, several training processes (torchrun's job, done by
faceattr.train.distributed.launch) or a server (mlflow server or ui, faceattr serve, the browser test) carry the
`e2e` marker; `make test-fast` leaves them out. So that the fast tier cannot silently grow slow, an unmarked
test is stopped: at collection when it uses the `repo` fixture, and at run time when it (or any fixture it
sets up, of any scope) starts one of those commands.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from helpers import TINY, build_repo, write_zip

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one torch thread each
    import torch

    torch.set_num_threads(1)
    # and each worker on a core of its own, which the commands it starts inherit: a stage then sees one core
    # (faceattr.device.cpu_cores) and trains with one thread, instead of two workers' trainings running two
    # threads each on two cores, whose OpenMP threads spin while they wait for each other
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    worker = int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw") or 0)
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if len(cores) >= count > 1:
        os.sched_setaffinity(0, {cores[worker % len(cores)]})

E2E_FIXTURES = {"repo"}  # fixtures that run the pipeline: only e2e tests may use them


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Runs before `-m` deselects anything, so `-m "not e2e"` reports an unmarked user of `repo` too."""
    wrong = [
        f"{item.nodeid} (uses {', '.join(sorted(E2E_FIXTURES & set(item.fixturenames)))})"
        for item in items
        if E2E_FIXTURES & set(item.fixturenames) and item.get_closest_marker("e2e") is None
    ]
    if wrong:
        raise pytest.UsageError(
            "not marked e2e but running the pipeline: mark them with @pytest.mark.e2e "
            "(or the module's pytestmark):\n  " + "\n  ".join(wrong)
        )
    # The longest files first: `make test` hands whole files to its workers in this order
    # (--no-loadscope-reorder), so a long file started last cannot keep one core busy while the other idles.
    rank = {name: k for k, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


# The files that take longest under `make test` (its --durations table: each is minutes of dvc runs), longest first.
SLOWEST_FILES = (
    "test_experiments.py",
    "test_registry.py",
    "test_pipeline.py",
    "test_explain_pipeline.py",
    "test_evaluate.py",
    "test_faults.py",
    "test_hostile_dataset.py",
    "test_benchmarks.py",
    "test_finetune.py",
    "test_tracking_server.py",
)


def e2e_command(args, env) -> str | None:
    """What makes this command e2e (a description), or None."""
    words = shlex.split(args) if isinstance(args, (str, bytes)) else [os.fspath(a) for a in args]
    words = [w.decode() if isinstance(w, bytes) else w for w in words]
    names = [Path(w).name for w in words]
    for k, name in enumerate(names):
        after = names[k + 1 : k + 3]
        if name == "dvc" or (name == "-m" and after[:1] == ["dvc"]):
            rest = names[k + (2 if name == "-m" else 1) :][:2]
            if rest[:1] == ["repro"] or rest == ["exp", "run"]:
                return f"dvc {' '.join(rest)}"
        if name == "torchrun" or (name == "-m" and after[:1] == ["torch.distributed.run"]):
            return "torchrun"
        if name == "mlflow" and after[:1] in (["server"], ["ui"]):
            return f"mlflow {after[0]}"
        if name in ("faceattr", "faceattr.cli", "faceattr.cli.entry") and after[:1] == ["serve"]:
            return "faceattr serve"
    world = str((env or {}).get("WORLD_SIZE", "1"))
    if world.isdigit() and int(world) > 1:
        return "a multi-process training"
    return None


class _Running:
    item: pytest.Item | None = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _Running.item = item  # set for its fixtures' set-up (of any scope), the call and the teardown
    try:
        return (yield)
    finally:
        _Running.item = None


def pytest_configure(config):
    original = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):
        item = _Running.item
        if item is not None and item.get_closest_marker("e2e") is None:
            what = e2e_command(args, kwargs.get("env"))
            if what:
                self._child_created = False  # a Popen that never started: nothing for __del__ to reap
                pytest.fail(
                    f"{item.nodeid} runs {what} but is not marked e2e: add @pytest.mark.e2e (or the "
                    "module's pytestmark) so that `make test-fast` stays fast",
                    pytrace=False,
                )
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = guarded
    config.add_cleanup(lambda: setattr(subprocess.Popen, "__init__", original))


@pytest.fixture
def make_zip(tmp_path):
    def _make(entries: dict[str, bytes], name: str = "images.zip") -> Path:
        return write_zip(tmp_path / name, entries)

    return _make


@pytest.fixture(scope="session")
def repo(tmp_path_factory) -> Path:
    """A temporary clone on the tiny config after `dvc repro`, with the results committed as HEAD (e2e only)."""
    return build_repo(tmp_path_factory.mktemp("pipeline"), TINY)
