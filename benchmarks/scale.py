"""faceattr at scale: every pipeline stage on ~200,000 synthetic images in CelebA's layout, stage by stage.

    python benchmarks/scale.py                          # 200,000 images, after the same bench at 3,000
    python benchmarks/scale.py --count 20000 --baseline 0 --json out.json
    python benchmarks/scale.py --default-pipeline      # also the committed default pipeline (12 epochs)
    python benchmarks/scale.py --count 50000 --last-stage preprocess   # the data stages only
    python benchmarks/scale.py --report a.json b.json  # the tables and growth of earlier --json files

Each run is a `git clone` of this repository's HEAD into --work (its `.venv` linked to the running
interpreter's environment), whose params.yaml is rewritten for the bench: `synth.count` images,
`partition.strategy: official`, `partition.sizes: [all]`, `subset: all`, one epoch of MobileNetV2 alpha 0.25
at 109×89. The real stages then run with the real DVC, one `dvc repro --force --single-item STAGE` at a time, in
dvc.yaml's order. After `synth`, the bench gives the data CelebA's official split: `data.dir` becomes
data/raw/scale, which holds the generated files (hard links) and a `list_eval_partition.txt` with CelebA's
162,770 / 19,867 / 19,962 shares scaled to the count (each boundary moved to the nearest identity boundary,
so no synthetic person is in two splits); the generator's own file has 80/10/10.

Per stage it reports:
- wall: the stage's command (`python -m stages.X`), from start to exit; `dvc s`: the whole `dvc repro`,
  which adds DVC's own work (hashing the dependencies and outputs, copying or linking them into the cache);
- CPU: user + system seconds of the stage's command and every process it waited for (pool workers); the
  `dvc repro` CPU figure in the JSON adds DVC's own (the probe's sampling left out);
- memory: the peak resident memory (RSS) of the largest single process of the command (the kernel's figure),
  the peak proportional set size (PSS) of its processes together (summed, sampled every 0.5 s: pages that
  forked workers share are counted once), and DVC's own process's peak RSS (sampled);
- disk: what the project folder grew by (outputs and DVC cache; hard-linked files counted once), the files
  the stage created or changed (DVC's cache, run cache and MLflow's files included), and the net number of
  files the folder gained (negative when a stage replaces more files than it writes).

With --baseline N [N ...] (default 3000) the same bench first runs on those image counts, and growth tables
compare the sizes (the smallest with the largest, then each with the next): each stage's time ratio against the
image ratio, as an exponent (1: linear), and its CPU time per image beyond the start-up every stage pays
(check_params's CPU), whose growth flags a stage as super-linear (exponent over 1.15). That per-image growth is
judged only where the per-image part is at least a quarter of the stage's CPU at the smaller size: at 3,000
images a data stage's own work is a fraction of a second beside a 7 s start-up, so a middle size (e.g.
`--baseline 3000 20000`) is what measures those stages. The last line printed is machine-readable:
`scale_count=<n> total_s=<s> data_stages_s=<s> max_stage_memory_gb=<gb> superlinear=<stages>`.

A stage's `python` is found on PATH; the bench puts a probe named `python` first on the PATH it gives DVC,
which runs the real interpreter and records the figures above (`--probe`, internal). Nothing of the project
is changed: the stages, dvc.yaml and the generator run as committed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = (
    "check_params",
    "synth",
    "unzip",
    "clean_labels",
    "partition",
    "preprocess",
    "train",
    "evaluate",
    "plots",
    "explain",
)
DATA_STAGES = ("unzip", "clean_labels", "partition", "preprocess")
# CelebA's official list_eval_partition.txt: train / val / test image counts (202,599 images)
CELEBA_SPLITS = (162_770, 19_867, 19_962)
SCALE_DIR = "data/raw/scale"
PROBE_ENV = "FACEATTR_SCALE_PROBE"
SAMPLE_S = 0.5
# a stage's growth per image is judged only where that part is at least this share of its CPU at the smaller size
MIN_PER_IMAGE_SHARE = 0.25
GB = 1e9


# ------------------------------------------------------------------------------------------- the probe
def _pss(process: psutil.Process) -> int:
    """A process's proportional set size from /proc/PID/smaps_rollup (psutil's memory_full_info reads the
    whole smaps, which costs a busy CPU several per cent at this sampling rate); its RSS where there is none."""
    try:
        with open(f"/proc/{process.pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        if psutil.pid_exists(process.pid):
            return process.memory_info().rss
        raise psutil.NoSuchProcess(process.pid) from None
    return process.memory_info().rss


def _sample_peak(pid: int, stop: threading.Event, peak: list[int], tree: bool) -> None:
    """Largest memory seen of pid until stop is set: with `tree`, the PSS of it and its descendants summed
    (pages shared between forked workers counted once), else its RSS. The descendants are listed again
    every few samples only (listing them reads every process's /proc entry)."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs, samples = [root], 0
    while not stop.is_set():
        if tree and samples % 4 == 0:
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
        samples += 1
        total = 0
        for p in procs:
            try:
                total += _pss(p) if tree else p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):  # ended between listing and reading
                pass
        peak[0] = max(peak[0], total)
        stop.wait(SAMPLE_S)


def probe(out: str, argv: list[str]) -> int:
    """Run the real interpreter with argv; write its wall time, CPU time and peak RSS to `out` (JSON)."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, *argv])
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_sample_peak, args=(child.pid, stop, peak, True), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    Path(out).write_text(
        json.dumps(
            {
                "argv": argv,
                "wall_s": wall,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_gb": usage.ru_maxrss * 1024 / GB,
                "peak_pss_sum_gb": peak[0] / GB,
                "probe_cpu_s": sum(os.times()[:2]),
                "returncode": child.returncode,
            }
        )
        + "\n"
    )
    return child.returncode


# ---------------------------------------------------------------------------------------- measuring
def disk_usage(root: Path, since: float = math.inf) -> tuple[int, int, int]:
    """(bytes allocated, regular files, files created or changed at or after `since`) under root, each inode's
    blocks counted once; .git and symbolic links not followed."""
    seen: set[tuple[int, int]] = set()
    size = files = changed = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    continue
                if entry.is_dir():
                    if entry.name != ".git":
                        stack.append(Path(entry.path))
                    continue
                st = entry.stat(follow_symlinks=False)
                files += 1
                changed += st.st_ctime >= since
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    size += st.st_blocks * 512
    return size, files, changed


def run_stage(project: Path, stage: str, env: dict[str, str], logs: Path) -> dict:
    """`dvc repro --force --single-item stage` in project, measured: the probe's figures, DVC's, the disk's."""
    probe_file = logs / f"{stage}.probe.json"
    probe_file.unlink(missing_ok=True)
    since = time.time() - 0.05  # file times come from a coarser kernel clock
    disk0, files0, _ = disk_usage(project)
    started = time.perf_counter()
    with open(logs / f"{stage}.log", "w") as log:
        dvc = subprocess.Popen(
            [str(project / ".venv" / "bin" / "dvc"), "repro", "--force", "--single-item", stage],
            cwd=project,
            env={**env, PROBE_ENV: str(probe_file)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stop, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_sample_peak, args=(dvc.pid, stop, peak, False), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(dvc.pid, 0)
        stop.set()
        sampler.join()
        dvc.returncode = os.waitstatus_to_exitcode(status)
    dvc_wall = time.perf_counter() - started
    if dvc.returncode != 0:
        tail = (logs / f"{stage}.log").read_text()[-3000:]
        raise SystemExit(f"scale: dvc repro {stage} failed ({dvc.returncode}):\n{tail}")
    if not probe_file.is_file():
        raise SystemExit(f"scale: stage {stage} did not run through the probe (already up to date?)")
    measured = json.loads(probe_file.read_text())
    disk1, files1, written = disk_usage(project, since)
    return {
        "stage": stage,
        "wall_s": measured["wall_s"],
        "cpu_s": measured["cpu_s"],
        "peak_rss_gb": measured["peak_rss_gb"],
        "peak_pss_sum_gb": measured["peak_pss_sum_gb"],
        "dvc_wall_s": dvc_wall,
        # DVC and the stage's command; not the probe's own sampling
        "dvc_cpu_s": usage.ru_utime + usage.ru_stime - measured.get("probe_cpu_s", 0.0),
        "dvc_peak_rss_gb": peak[0] / GB,
        "disk_gb": (disk1 - disk0) / GB,
        "files": files1 - files0,
        "files_written": written,
    }


# ------------------------------------------------------------------------------------------ the data
def official_split(identities: list[int]) -> list[int]:
    """Split per image (0 train, 1 val, 2 test) with CelebA's shares, each boundary moved to the nearest
    identity boundary (images of one identity are consecutive) so no identity is in two splits."""
    count = len(identities)
    starts = [k for k in range(count) if k == 0 or identities[k] != identities[k - 1]] + [count]
    total = sum(CELEBA_SPLITS)
    bounds = []
    for cumulative in (CELEBA_SPLITS[0], CELEBA_SPLITS[0] + CELEBA_SPLITS[1]):
        target = round(count * cumulative / total)
        bounds.append(min(starts, key=lambda s: (abs(s - target), s)))
    return [0 if k < bounds[0] else 1 if k < bounds[1] else 2 for k in range(count)]


def write_official_layout(project: Path) -> dict[str, int]:
    """data/raw/scale: the generated files linked, and list_eval_partition.txt with CelebA's shares."""
    source, target = project / "data" / "raw" / "synthetic", project / SCALE_DIR
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.name != "list_eval_partition.txt":
            os.link(path, target / path.name)
    rows = [line.split() for line in (source / "identity_CelebA.txt").read_text().splitlines()]
    splits = official_split([int(ident) for _, ident in rows])
    (target / "list_eval_partition.txt").write_text("".join(f"{name} {s}\n" for (name, _), s in zip(rows, splits)))
    return {name: splits.count(k) for k, name in enumerate(("train", "val", "test"))}


def bench_params(params: dict, count: int) -> dict:
    """The committed params with the bench's settings (the issue's: official split, all images, 1 epoch
    of MobileNetV2 alpha 0.25 at 109×89)."""
    params["synth"]["count"] = count
    params["data"]["dir"] = SCALE_DIR
    params["partition"]["strategy"] = "official"
    params["partition"]["sizes"] = ["all"]
    params["subset"] = "all"
    params["alpha"] = 0.25
    params["model"]["arch"] = "mobilenet_v2"
    params["train"]["epochs"] = 1
    params["train"]["image_size"] = [109, 89]
    return params


# ------------------------------------------------------------------------------------------- a run
def set_param(params: dict, assignment: str) -> None:
    """KEY=VALUE (a dotted key, a YAML value) into params, as `dvc exp run -S` does."""
    key, sep, value = assignment.partition("=")
    if not sep:
        raise SystemExit(f"scale: --set expects KEY=VALUE, got {assignment!r}")
    *groups, last = key.split(".")
    node = params
    for group in groups:
        node = node.setdefault(group, {})
    node[last] = yaml.safe_load(value)


def run_pipeline(
    label: str, count: int | None, work: Path, keep: bool, overrides: list[str] = (), last_stage: str = STAGES[-1]
) -> dict:
    """Clone, set params (count None: the committed defaults; then the overrides), run every stage measured;
    the run's figures."""
    run_dir = work / label
    if run_dir.exists():
        shutil.rmtree(run_dir)
    project, logs, bindir = run_dir / "project", run_dir / "logs", run_dir / "bin"
    logs.mkdir(parents=True)
    bindir.mkdir()
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(project)], check=True)
    (project / ".venv").symlink_to(Path(sys.prefix))
    real_python = project / ".venv" / "bin" / "python"
    shim = bindir / "python"
    shim.write_text(
        f'#!/bin/sh\nif [ -n "${PROBE_ENV}" ]; then exec "{real_python}" "{Path(__file__).resolve()}" '
        f'--probe "${PROBE_ENV}" -- "$@"; fi\nexec "{real_python}" "$@"\n'
    )
    shim.chmod(0o755)
    params_path = project / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    if count is not None:
        params = bench_params(params, count)
    for assignment in overrides:
        set_param(params, assignment)
    if count is not None or overrides:
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH", PROBE_ENV)}
    env.update(
        {
            "PATH": f"{bindir}:{project / '.venv' / 'bin'}:{env.get('PATH', '')}",
            "PYTHONPATH": str(project),
            "DVC_NO_ANALYTICS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    images = params["synth"]["count"]
    print(f"scale: {label}: {images} images in {project}", file=sys.stderr, flush=True)
    stages, started = [], time.perf_counter()
    for stage in STAGES[: STAGES.index(last_stage) + 1]:
        stages.append(run_stage(project, stage, env, logs))
        s = stages[-1]
        (run_dir / "stages.json").write_text(json.dumps(stages, indent=1) + "\n")  # survives an interrupted run
        print(
            f"scale: {label}: {stage} {s['wall_s']:.1f} s (dvc {s['dvc_wall_s']:.1f} s), {s['peak_rss_gb']:.2f} GB",
            file=sys.stderr,
            flush=True,
        )
        if stage == "synth" and count is not None:
            t = time.perf_counter()
            splits = write_official_layout(project)
            print(f"scale: {label}: official split {splits} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    total = time.perf_counter() - started
    train_log = logs / "train.log"
    speed = re.search(r"([\d.]+) images/s", train_log.read_text()) if train_log.is_file() else None
    ran = [s["stage"] for s in stages]
    report = (
        json.loads((project / "data" / "processed" / "partition_report.json").read_text())
        if "partition" in ran
        else {"subsets": {}}
    )
    result = {
        "label": label,
        "images": images,
        "splits": report["subsets"],
        "stages": stages,
        "total_s": total,
        "train_images_per_s": float(speed.group(1)) if speed else None,
        "params": {k: params[k] for k in ("alpha", "subset")}
        | {"epochs": params["train"]["epochs"], "strategy": params["partition"]["strategy"]},
    }
    (run_dir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    if not keep:  # the logs and figures stay
        shutil.rmtree(project)
        shutil.rmtree(bindir)
    return result


# ---------------------------------------------------------------------------------------- reporting
def _sum(stages: list[dict], key: str, names: tuple[str, ...]) -> float:
    return sum(s[key] for s in stages if s["stage"] in names)


def _written(stage: dict) -> str:
    """Files created or changed (runs recorded before the bench counted them show —)."""
    return f"{int(stage['files_written']):,}" if "files_written" in stage else "—"


def table(run: dict) -> str:
    """One run's markdown table: a row per stage, then the data stages and the whole run."""
    head = (
        f"{run['label']}: {run['images']:,} images (alpha {run['params']['alpha']}, {run['params']['epochs']} "
        f"epoch(s), partition {run['params']['strategy']}, subset {run['params']['subset']}; split "
        + ", ".join(f"{n}: {c['train']:,} / {c['val']:,} / {c['test']:,}" for n, c in run["splits"].items())
        + (f"; training {run['train_images_per_s']:.0f} images/s" if run["train_images_per_s"] else "")
        + ")"
    )
    lines = [
        head,
        "",
        "| stage | wall s | CPU s | peak RSS GB (largest process) | peak PSS GB (processes summed) "
        "| dvc repro s | DVC's peak RSS GB | disk GB | files written | files net |",
        "|---|" + "---:|" * 9,
    ]
    for s in run["stages"]:
        lines.append(
            f"| {s['stage']} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | {s['peak_rss_gb']:.2f} | "
            f"{s['peak_pss_sum_gb']:.2f} | {s['dvc_wall_s']:.1f} | {s['dvc_peak_rss_gb']:.2f} | "
            f"{s['disk_gb']:.3f} | {_written(s)} | {s['files']:,} |"
        )
    ran = tuple(s["stage"] for s in run["stages"])
    for name, names in (
        ("data stages (unzip … preprocess)", DATA_STAGES),
        ("all stages" if len(ran) == len(STAGES) else "stages run", ran),
    ):
        chosen = [s for s in run["stages"] if s["stage"] in names]
        if not set(names) <= set(ran):
            continue
        lines.append(
            f"| **{name}** | **{_sum(chosen, 'wall_s', names):.1f}** | {_sum(chosen, 'cpu_s', names):.1f} "
            f"| {max(s['peak_rss_gb'] for s in chosen):.2f} | {max(s['peak_pss_sum_gb'] for s in chosen):.2f} "
            f"| **{_sum(chosen, 'dvc_wall_s', names):.1f}** | {max(s['dvc_peak_rss_gb'] for s in chosen):.2f} "
            f"| {_sum(chosen, 'disk_gb', names):.3f} | "
            f"{_written({'files_written': _sum(chosen, 'files_written', names)} if all('files_written' in c for c in chosen) else {})} "
            f"| {int(_sum(chosen, 'files', names)):,} |"
        )
    return "\n".join(lines)


def exponent(small: float, large: float, ratio: float) -> float:
    """log(large/small) / log(image ratio): 1 is linear, above 1 grows faster than the image count."""
    return math.log(large / small) / math.log(ratio) if small > 0 and large > 0 and ratio > 1 else float("nan")


def _fixed_cpu(run: dict) -> float:
    """CPU seconds any stage spends whatever the image count (starting Python, importing torch): check_params's."""
    return next((s["cpu_s"] for s in run["stages"] if s["stage"] == "check_params"), 0.0)


def growth(base: dict, run: dict) -> str:
    """Per stage, the times at both sizes, their growth exponents against the image count, and the CPU time per
    image beyond the fixed start-up (the stage's CPU less check_params's), whose growth is the fairer test."""
    ratio = run["images"] / base["images"]
    fb, fr = _fixed_cpu(base), _fixed_cpu(run)
    lines = [
        f"growth from {base['images']:,} to {run['images']:,} images (×{ratio:.1f}); exponent = "
        "log(time ratio) / log(image ratio), 1 = linear; per image: CPU ms per image beyond the fixed "
        f"start-up (check_params's CPU: {fb:.1f} s and {fr:.1f} s)",
        "",
        f"| stage | dvc repro s at {base['images']:,} | at {run['images']:,} | exponent | "
        f"CPU s at {base['images']:,} | at {run['images']:,} | exponent | per image ms at {base['images']:,} "
        f"| at {run['images']:,} | per-image exponent |",
        "|---|" + "---:|" * 9,
    ]
    rows = [(s["stage"], s, r) for s, r in zip(base["stages"], run["stages"])]
    both = tuple(name for name, _, _ in rows)  # a run stopped early (--last-stage) is compared on its stages
    for name, names in (
        ("data stages", DATA_STAGES),
        ("all stages" if len(both) == len(STAGES) else "stages run", both),
    ):
        if set(names) <= set(both):
            rows.append(
                (
                    name,
                    *(
                        {key: _sum(r["stages"], key, names) for key in ("dvc_wall_s", "cpu_s")} | {"n": len(names)}
                        for r in (base, run)
                    ),
                )
            )
    for name, s, r in rows:
        n = s.get("n", 1)
        mb, mr = (s["cpu_s"] - n * fb) / base["images"] * 1000, (r["cpu_s"] - n * fr) / run["images"] * 1000
        per_image = (
            f"{exponent(mb * base['images'], mr * run['images'], ratio):.2f}"
            if _measurable(s["cpu_s"], n * fb)
            else "— (start-up dominated)"
        )
        lines.append(
            f"| {name} | {s['dvc_wall_s']:.1f} | {r['dvc_wall_s']:.1f} "
            f"| {exponent(s['dvc_wall_s'], r['dvc_wall_s'], ratio):.2f} | {s['cpu_s']:.1f} | {r['cpu_s']:.1f} "
            f"| {exponent(s['cpu_s'], r['cpu_s'], ratio):.2f} | {mb:.2f} | {mr:.2f} | {per_image} |"
        )
    return "\n".join(lines)


def _measurable(cpu_s: float, fixed_s: float, share: float = MIN_PER_IMAGE_SHARE) -> bool:
    """Whether the per-image part (CPU beyond the start-up) is a large enough share of a stage's CPU at the smaller
    size for its growth to mean something: 0.3 s beside a 7 s start-up is within the start-up's own jitter."""
    return cpu_s > 0 and (cpu_s - fixed_s) / cpu_s >= share


def superlinear(base: dict, run: dict, margin: float = 1.15) -> list[str]:
    """Stages whose CPU time beyond the fixed start-up grows faster than images^margin (their cost per image
    rises with the count); the start-up itself is left out, or every cheap stage would look sublinear."""
    ratio = run["images"] / base["images"]
    fb, fr = _fixed_cpu(base), _fixed_cpu(run)
    return [
        r["stage"]
        for s, r in zip(base["stages"], run["stages"])
        if r["stage"] != "check_params"
        and _measurable(s["cpu_s"], fb)
        and exponent(s["cpu_s"] - fb, r["cpu_s"] - fr, ratio) > margin
    ]


def report(runs: dict[str, dict]) -> tuple[str, list[str]]:
    """Every run's table, the growth from the smallest bench run to the largest, and the whole runs' times
    against the default pipeline's; with the stages that grew faster than linearly."""
    parts = [table(run) for run in runs.values()]
    benches = sorted((r for r in runs.values() if r["label"] != "default"), key=lambda r: r["images"])
    slow: list[str] = []
    pairs = [(a, b) for a, b in zip(benches, benches[1:]) if b["images"] > a["images"]]
    if len(pairs) > 1:  # the whole span too, then each step: a step's start-up share is smaller at larger sizes
        pairs.insert(0, (benches[0], benches[-1]))
    for small, large in pairs:
        parts.append(growth(small, large))
        slow += [stage for stage in superlinear(small, large) if stage not in slow]
    if "default" in runs and benches:
        base = _sum(runs["default"]["stages"], "dvc_wall_s", STAGES)
        parts.append(
            "whole run (dvc repro s, all stages) against the default pipeline's "
            f"({runs['default']['images']:,} images, {runs['default']['params']['epochs']} epochs, alpha "
            f"{runs['default']['params']['alpha']}: {base:.0f} s): "
            + "; ".join(
                f"{r['images']:,} images {_sum(r['stages'], 'dvc_wall_s', STAGES):.0f} s "
                f"(×{_sum(r['stages'], 'dvc_wall_s', STAGES) / base:.1f})"
                for r in benches
            )
        )
    return "\n\n".join(parts), slow


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--probe"]:  # the stage-command probe (see the module docstring)
        sys.exit(probe(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count",
        type=int,
        default=200_000,
        help="synthetic images (default 200000; 0: no such run, e.g. with --default-pipeline)",
    )
    parser.add_argument(
        "--baseline",
        type=int,
        nargs="+",
        default=[3000],
        metavar="N",
        help="first run the same bench on these image counts and compare (default 3000; 0: none); "
        "a middle size such as 3000 20000 measures the growth of the cheap data stages too",
    )
    parser.add_argument(
        "--default-pipeline",
        action="store_true",
        help="also run the committed default pipeline (params.yaml as committed) stage by stage",
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="folder for the runs (default: .bench/scale in the repository); each "
        "run's clone is deleted after it unless --keep, its logs and figures stay",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's clone")
    parser.add_argument(
        "--set",
        "-S",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a param for every run, after the bench's (e.g. -S explain.attributes=[Eyeglasses])",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--last-stage",
        choices=STAGES,
        default=STAGES[-1],
        help="stop after this stage (e.g. preprocess: the data stages only)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="run nothing: report the runs of earlier --json files together",
    )
    args = parser.parse_args(argv)
    runs: dict[str, dict] = {}
    if args.report:
        for path in args.report:
            runs.update({run["label"]: run for run in json.loads(path.read_text())["runs"].values()})
    else:
        baselines = [n for n in args.baseline if n]
        if args.count and args.count < 3 or any(n < 3 for n in baselines):
            parser.error("--count and --baseline need at least 3 images")
        if not (args.count or baselines or args.default_pipeline):
            parser.error("nothing to run")
        work = args.work or REPO / ".bench" / "scale"
        work.mkdir(parents=True, exist_ok=True)
        print(f"scale: working in {work}; free disk {shutil.disk_usage(work).free / GB:.1f} GB", file=sys.stderr)
        if args.default_pipeline:
            runs["default"] = run_pipeline("default", None, work, args.keep, args.set, args.last_stage)
        for count in dict.fromkeys(sorted(c for c in (*baselines, args.count) if c)):
            runs[f"bench-{count}"] = run_pipeline(f"bench-{count}", count, work, args.keep, args.set, args.last_stage)
    text, slow = report(runs)
    print(text + "\n")
    if args.json and not args.report:
        args.json.write_text(
            json.dumps(
                {"cpu_cores": os.cpu_count(), "load_average_after": os.getloadavg(), "runs": runs, "superlinear": slow},
                indent=1,
            )
            + "\n"
        )
    largest = max(runs.values(), key=lambda r: (r["label"] != "default", r["images"]))
    stages = largest["stages"]
    print(
        f"scale_count={largest['images']} total_s={_sum(stages, 'dvc_wall_s', STAGES):.1f} "
        f"data_stages_s={_sum(stages, 'dvc_wall_s', DATA_STAGES):.1f} "
        f"max_stage_memory_gb={max(max(s['peak_rss_gb'], s['peak_pss_sum_gb']) for s in stages):.2f} "
        f"superlinear={','.join(slow) or 'none'}"
    )


if __name__ == "__main__":
    main()
