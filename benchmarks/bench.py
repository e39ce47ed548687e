"""faceattr's benchmark: training and inference speed against a naive pipeline and the compute ceiling,
and peak memory when training on 50,000 images. Figures are printed, never asserted.

    python benchmarks/bench.py            # the full set (about 20-30 minutes on a 2-core CPU)
    python benchmarks/bench.py --quick    # fewer steps, images and memory-run time (about 5 minutes)
    python benchmarks/bench.py --predict-only   # only `faceattr predict`: PyTorch against ONNX Runtime

On identical synthetic data, model (MobileNetV2, alpha 1.0), batch size and resolution (218×178), it measures
1. `naive`: training images/s of a pipeline built like the published project's: a DataLoader with 3 workers
   doing per-sample PIL decode, resize, flip and random rotation, NCHW float32;
2. `faceattr`: training images/s of faceattr's `fit` on the pixel cache (the train stage's code path);
3. `ceiling`: compute-only images/s of the same model and precision on random tensors;
then inference on a folder of aligned images: `faceattr predict` against a naive per-image PIL + float32
NCHW eager loop, and the ONNX Runtime path (faceattr's session options, ONNX Runtime's defaults, batch 16;
the `faceattr predict` variants alternate, 3 rounds, medians); and peak resident memory of `fit` on 3,000
and 50,000 images at 109×89. Each measurement runs in a fresh process. The last line printed is
machine-readable:

    train_vs_naive=<x> train_vs_ceiling=<y> predict_vs_naive=<z> peak_rss_gb_50k=<w>
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

ATTRIBUTES = [
    "Black_Hair",
    "Eyeglasses",
    "Heavy_Makeup",
    "Male",
    "Mustache",
    "Pale_Skin",
    "Smiling",
    "Wavy_Hair",
    "Wearing_Hat",
    "Young",
]
FULL = (218, 178)
HALF = (109, 89)
REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def training_config(**changes):
    """The repository's params.yaml as a TrainConfig (`Params.training()`) with `changes`
    (`TrainConfig.with_changes`: each key put in the group that declares it)."""
    from faceattr.config.schema import load_config

    return load_config(REPO_PARAMS).training().with_changes(**changes)


# ------------------------------------------------------------------------------------------------ data
def synthetic_folder(work: Path, count: int, unique: int) -> tuple[Path, list[str], np.ndarray]:
    """`count` aligned 178×218 synthetic faces as JPEG files, made from `unique` generated ones (copies
    under new names beyond that: what is measured is reading and training, not the generator)."""
    from faceattr.data.labels import parse_attribute_file
    from faceattr.data.synth import generate_dataset

    source = work / f"synth-{unique}"
    if not (source / "list_attr_celeba.txt").is_file():
        generate_dataset(source, unique)
    table, _ = parse_attribute_file(source / "list_attr_celeba.txt")
    labels = table.values[:, [table.names.index(a) for a in ATTRIBUTES]].astype(np.float32)
    folder = work / f"images-{count}"
    ids = [f"{k + 1:06d}.jpg" for k in range(count)]
    if not folder.is_dir() or len(os.listdir(folder)) != count:
        shutil.rmtree(folder, ignore_errors=True)
        staging = work / f".images-{count}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with zipfile.ZipFile(source / "img_align_celeba.zip") as zf:
            blobs = [zf.read(f"img_align_celeba/{k + 1:06d}.jpg") for k in range(unique)]
        for k, name in enumerate(ids):
            (staging / name).write_bytes(blobs[k % unique])
        staging.rename(folder)
    return folder, ids, labels[np.arange(count) % unique]


def pixel_cache(work: Path, folder: Path, ids: list[str], size: tuple[int, int]) -> tuple[Path, float]:
    """The preprocess stage's cache of `folder` at `size`; returns it and the seconds it took (0 if reused)."""
    from faceattr.data.pixels import META_FILE, build_pixel_cache

    out = work / f"pixels-{len(ids)}-{size[0]}x{size[1]}"
    if (out / META_FILE).is_file():
        return out, 0.0
    started = time.perf_counter()
    build_pixel_cache(folder, ids, size, out)
    return out, time.perf_counter() - started


# ------------------------------------------------------------------------------------------- measures
def _ids_labels(args) -> tuple[list[str], np.ndarray]:
    meta = json.loads((Path(args.cache) / "meta.json").read_text()) if args.cache else None
    ids = meta["ids"] if meta else sorted(os.listdir(args.folder))
    return ids, np.load(args.labels)


def measure_naive_train(args) -> dict:
    """The published project's input pipeline: per-sample PIL work in 3 DataLoader workers, NCHW float32."""
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import models
    from torchvision.transforms import functional as TF

    ids, labels = _ids_labels(args)
    height, width = args.size

    class PublishedStyle(Dataset):
        def __len__(self) -> int:
            return args.steps * args.batch_size

        def __getitem__(self, k: int):
            img = Image.open(Path(args.folder) / ids[k]).convert("RGB").resize((width, height), Image.BILINEAR)
            if random.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
            img = img.rotate(random.uniform(-10, 10), resample=Image.BILINEAR)
            x = TF.normalize(TF.to_tensor(img), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
            return x, torch.from_numpy(labels[k])

    torch.manual_seed(0)
    model = models.mobilenet_v2(width_mult=args.alpha, num_classes=len(ATTRIBUTES)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = torch.nn.BCEWithLogitsLoss()
    loader = DataLoader(PublishedStyle(), batch_size=args.batch_size, shuffle=True, num_workers=3, drop_last=True)
    started = time.perf_counter()
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - started
    return {"images_per_second": args.steps * args.batch_size / seconds, "seconds": seconds}


def measure_faceattr_train(args) -> dict:
    """faceattr's `fit` (the train stage's code) on the pixel cache, one epoch of `steps` batches."""
    from faceattr.data.pixels import PixelCache
    from faceattr.data.splits import Split
    from faceattr.train.loop import fit

    ids, labels = _ids_labels(args)
    cache = PixelCache(args.cache)
    n = args.steps * args.batch_size
    train = Split(cache.images(ids[:n]), torch.from_numpy(labels[:n]))
    val = Split(cache.images(ids[n : n + args.batch_size]), torch.from_numpy(labels[n : n + args.batch_size]))
    cfg = training_config(
        alpha=args.alpha,
        image_size=tuple(args.size),
        epochs=1,
        batch_size=args.batch_size,
        warmup_epochs=0,
        device=args.device,
        augment={
            "hflip": True,
            "max_rotate_deg": 8,
            "max_translate": 0.05,
            "max_scale": 0.05,
            "brightness": 0.1,
            "contrast": 0.1,
        },
    )
    result = fit(cfg, ATTRIBUTES, train, val, Path(args.work) / "checkpoints")
    return {"images_per_second": result.images_per_second, "device": result.device, "bf16": result.bf16}


def measure_ceiling(args) -> dict:
    """Compute only: the same model, precision and memory format on random tensors already in place."""
    from faceattr.device import autocast, select_device, set_threads, use_bf16
    from faceattr.model.model_file import build_model

    device = select_device(args.device)
    bf16 = use_bf16(device, "auto")
    if device.type == "cpu":
        set_threads(0)
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", len(ATTRIBUTES), args.alpha).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = torch.nn.BCEWithLogitsLoss()
    x = torch.randn(args.batch_size, 3, *args.size, device=device).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(args.batch_size, len(ATTRIBUTES), device=device) > 0.5).float()
    model.train()
    started = time.perf_counter()
    for _ in range(args.steps):
        with autocast(device, bf16):
            logits = model(x)
        loss = criterion(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
    seconds = time.perf_counter() - started
    return {"images_per_second": args.steps * args.batch_size / seconds, "bf16": bf16}


def measure_naive_predict(args) -> dict:
    """Per image: PIL decode and resize, float32 NCHW, one eager forward pass (batch 1)."""
    from PIL import Image
    from torchvision.transforms import functional as TF

    from faceattr.model.model_file import load_model

    model, spec = load_model(args.model)
    height, width = spec.image_size
    names = sorted(os.listdir(args.folder))
    started = time.perf_counter()
    with torch.inference_mode():
        for name in names:
            img = Image.open(Path(args.folder) / name).convert("RGB").resize((width, height), Image.BILINEAR)
            x = TF.normalize(TF.to_tensor(img), list(spec.mean), list(spec.std))
            torch.sigmoid(model(x[None]))
    seconds = time.perf_counter() - started
    return {"images_per_second": len(names) / seconds, "seconds": seconds}


def measure_cli_predict(args) -> dict:
    """`faceattr predict <folder>` in this process (CSV to nowhere), with --model or --onnx.

    With --onnx, `--onnx-session plain` builds ONNX Runtime's session with default SessionOptions (as
    before issue 20) instead of faceattr's (onnx_export.session_options); --onnx-batch sets the images
    per session.run.
    """
    from faceattr.cli.entry import main
    from faceattr.model import onnx_export

    if args.onnx_session == "plain":
        import onnxruntime as ort

        onnx_export.session_options = lambda threads=None: ort.SessionOptions()
    if args.onnx_batch:
        onnx_export.OnnxPredictor.batch_size = int(args.onnx_batch)
    argv = [
        "predict",
        args.folder,
        "--format",
        "csv",
        *(["--onnx", args.onnx] if args.onnx else ["--model", args.model]),
    ]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"faceattr {' '.join(argv)} exited {status}")
    return {"images_per_second": len(os.listdir(args.folder)) / seconds, "seconds": seconds}


class _TimeUp(Exception):
    pass


def measure_memory(args) -> dict:
    """Peak resident memory of `fit` on a pixel cache; with --seconds, training is cut off after that long."""
    from faceattr.data.pixels import PixelCache
    from faceattr.data.splits import Split
    from faceattr.train.loop import fit

    peak = {"rss": 0, "anon": 0}

    def sample() -> None:
        while True:
            status = Path("/proc/self/status").read_text()
            fields = {
                line.split(":")[0]: int(line.split()[1]) * 1024
                for line in status.splitlines()
                if line.startswith(("VmRSS", "RssAnon"))
            }
            peak["rss"] = max(peak["rss"], fields.get("VmRSS", 0))
            peak["anon"] = max(peak["anon"], fields.get("RssAnon", 0))
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    ids, labels = _ids_labels(args)
    cache = PixelCache(args.cache)
    n_val = max(args.batch_size, len(ids) // 20)
    train = Split(cache.images(ids[:-n_val]), torch.from_numpy(labels[:-n_val]))
    val = Split(cache.images(ids[-n_val:]), torch.from_numpy(labels[-n_val:]))
    # flips only (every other augmentation off); the keys not given are params.yaml's
    cfg = training_config(
        alpha=args.alpha,
        image_size=tuple(cache.size),
        epochs=1,
        batch_size=args.batch_size,
        device=args.device,
        augment={
            "hflip": True,
            "max_rotate_deg": 0,
            "max_translate": 0,
            "max_scale": 0,
            "brightness": 0,
            "contrast": 0,
            "erase": 0,
        },
    )
    completed = True
    if args.seconds:

        def time_up(*_):
            raise _TimeUp

        signal.signal(signal.SIGALRM, time_up)
        signal.setitimer(signal.ITIMER_REAL, args.seconds)
    started = time.perf_counter()
    try:
        fit(cfg, ATTRIBUTES, train, val, Path(args.work) / f"checkpoints-{os.getpid()}")
    except _TimeUp:
        completed = False
    signal.setitimer(signal.ITIMER_REAL, 0)
    hwm = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM")
    )
    return {
        "train_images": len(train.images),
        "val_images": len(val.images),
        "completed_epoch": completed,
        "seconds": time.perf_counter() - started,
        "peak_rss_gb": max(hwm, peak["rss"]) / 2**30,
        "peak_anon_gb": peak["anon"] / 2**30,
    }


MEASURES = {
    "naive_train": measure_naive_train,
    "faceattr_train": measure_faceattr_train,
    "ceiling": measure_ceiling,
    "naive_predict": measure_naive_predict,
    "cli_predict": measure_cli_predict,
    "memory": measure_memory,
}


def run_measure(name: str, **options) -> dict:
    """Run one measure in a fresh Python process and return its JSON result."""
    argv = [sys.executable, __file__, "--measure", name]
    for key, value in options.items():
        if value is None:
            continue
        argv += [f"--{key.replace('_', '-')}", *(map(str, value) if isinstance(value, (list, tuple)) else [str(value)])]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"measure {name} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and images: about 5 minutes")
    parser.add_argument("--work", default=".bench", help="scratch folder for generated data (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch (default: 32, as published)")
    parser.add_argument("--steps", type=int, help="training steps per measure (default: 75 full, 12 quick)")
    parser.add_argument("--memory-images", type=int, default=50_000, help="images of the memory run (default: 50,000)")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    # one measure, run by main() in a child process
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument(
        "--predict-only",
        action="store_true",
        help="only inference: `faceattr predict` against `--onnx` (default and faceattr's ONNX "
        "Runtime session) at 109×89 and 218×178, alternating, --repeats times, medians",
    )
    parser.add_argument("--repeats", type=int, help="inference runs per variant, alternating (default: 3; 1 quick)")
    parser.add_argument("--predict-images", type=int, help="inference images (default: 1000; 300 quick)")
    parser.add_argument(
        "--predict-sizes",
        nargs="+",
        default=[f"{h}x{w}" for h, w in (HALF, FULL)],
        help="with --predict-only: input sizes HxW (default: %(default)s)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=sorted(PREDICT_VARIANTS),
        default=list(PREDICT_VARIANTS),
        help="with --predict-only: which ways to predict (default: all)",
    )
    for name in ("folder", "cache", "labels", "model", "onnx", "onnx_session", "onnx_batch"):
        parser.add_argument(f"--{name.replace('_', '-')}", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, nargs=2, default=list(FULL), help=argparse.SUPPRESS)
    parser.add_argument("--alpha", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(MEASURES[args.measure](args)))
        return

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    steps = args.steps or (12 if args.quick else 75)
    predict_images = args.predict_images or (300 if args.quick else 1000)
    repeats = args.repeats or (1 if args.quick else 3)
    figures: dict = {
        "mode": "quick" if args.quick else "full",
        "batch_size": args.batch_size,
        "steps": steps,
        "resolution": list(FULL),
        "alpha": 1.0,
        "torch": torch.__version__,
        "cpu_cores": len(os.sched_getaffinity(0)),
    }

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.predict_only:
        import onnxruntime

        from faceattr.device import cpu_description

        say(f"inference only: {predict_images} aligned images, {repeats} alternating runs per variant")
        predict_folder, _, _ = synthetic_folder(work, predict_images, min(predict_images, 3000))
        figures.update(
            mode="predict-only",
            cpu=cpu_description(),
            onnxruntime=onnxruntime.__version__,
            predict_images=predict_images,
            repeats=repeats,
            load_before=os.getloadavg()[0],
        )
        figures["predict_side_by_side"] = {
            size: predict_side_by_side(
                work, predict_folder, tuple(map(int, size.split("x"))), repeats, say, args.variants
            )
            for size in args.predict_sizes
        }
        figures["load_after"] = os.getloadavg()[0]
        print(report_side_by_side(figures))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        return

    say(f"data: {steps * args.batch_size + args.batch_size} training images and {predict_images} for inference")
    n_train = steps * args.batch_size + args.batch_size
    folder, ids, labels = synthetic_folder(work, n_train, min(n_train, 3000))
    np.save(work / f"labels-{n_train}.npy", labels)
    cache, seconds = pixel_cache(work, folder, ids, FULL)
    figures["preprocess_seconds_per_1000"] = round(seconds / len(ids) * 1000, 2) if seconds else None
    common = dict(
        work=work,
        labels=work / f"labels-{n_train}.npy",
        size=FULL,
        batch_size=args.batch_size,
        steps=steps,
        device=args.device,
    )

    say("training: naive pipeline …")
    naive = run_measure("naive_train", folder=folder, **common)
    say(f"  {naive['images_per_second']:.1f} images/s\ntraining: faceattr …")
    ours = run_measure("faceattr_train", cache=cache, **common)
    say(
        f"  {ours['images_per_second']:.1f} images/s ({ours['device']}, bf16 {ours['bf16']})\ntraining: compute ceiling …"
    )
    ceiling = run_measure("ceiling", **{k: v for k, v in common.items() if k not in ("labels",)})
    say(f"  {ceiling['images_per_second']:.1f} images/s")
    figures["train"] = {"naive": naive, "faceattr": ours, "ceiling": ceiling}

    say(f"inference: {predict_images} aligned images …")
    predict_folder, _, _ = synthetic_folder(work, predict_images, min(predict_images, 3000))
    model_path, _ = predict_models(work, FULL)
    naive_predict = run_measure("naive_predict", folder=predict_folder, model=model_path)
    side = predict_side_by_side(work, predict_folder, FULL, repeats, say)
    cli_predict, onnx_predict = side["faceattr"], side["faceattr_onnx"]
    figures["predict"] = {"naive": naive_predict, **side}
    say(
        f"  naive {naive_predict['images_per_second']:.1f}, faceattr {cli_predict['images_per_second']:.1f}, "
        f"onnx {onnx_predict['images_per_second']:.1f} images/s"
    )

    memory = {}
    for count in (3000, args.memory_images):
        say(f"memory: {count} images at {HALF[0]}×{HALF[1]} …")
        mem_folder, mem_ids, mem_labels = synthetic_folder(work, count, 3000)
        np.save(work / f"labels-{count}.npy", mem_labels)
        mem_cache, seconds = pixel_cache(work, mem_folder, mem_ids, HALF)
        memory[count] = run_measure(
            "memory",
            cache=mem_cache,
            labels=work / f"labels-{count}.npy",
            work=work,
            batch_size=64,
            device=args.device,
            seconds=90 if args.quick else None,
        )
        memory[count]["preprocess_seconds"] = round(seconds, 1) if seconds else None
        r = memory[count]
        span = "a full epoch" if r["completed_epoch"] else f"the first {r['seconds']:.0f} s"
        say(f"  peak RSS {r['peak_rss_gb']:.2f} GB (anonymous {r['peak_anon_gb']:.2f} GB) over {span}")
    figures["memory"] = memory

    ratios = {
        "train_vs_naive": ours["images_per_second"] / naive["images_per_second"],
        "train_vs_ceiling": ours["images_per_second"] / ceiling["images_per_second"],
        "predict_vs_naive": cli_predict["images_per_second"] / naive_predict["images_per_second"],
        "peak_rss_gb_50k": memory[args.memory_images]["peak_rss_gb"],
    }
    figures["ratios"] = ratios
    print(report(figures, args.memory_images))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    print(" ".join(f"{k}={v:.3f}" if k != "peak_rss_gb_50k" else f"{k}={v:.2f}" for k, v in ratios.items()))


# `faceattr predict` on the same folder: PyTorch, ONNX Runtime with default session options (as before
# issue 20), and with faceattr's (onnx_export.session_options), each at images per session.run shown
PREDICT_VARIANTS = {
    "faceattr": ("`faceattr predict` (PyTorch)", {}),
    "faceattr_onnx_plain": ("`--onnx`, default SessionOptions, batch 256", {"onnx_session": "plain"}),
    "faceattr_onnx": ("`--onnx`, faceattr's SessionOptions, batch 256", {"onnx_session": "tuned"}),
    "faceattr_onnx_b16": ("`--onnx`, faceattr's SessionOptions, batch 16", {"onnx_session": "tuned", "onnx_batch": 16}),
}


def predict_models(work: Path, size: tuple[int, int]) -> tuple[Path, Path]:
    """A MobileNetV2 (alpha 1.0, seed 0, untrained: speed does not depend on the weights) at `size`, and its
    ONNX export."""
    from faceattr.model.model_file import ModelSpec, build_model, save_model
    from faceattr.model.onnx_export import export_onnx

    model_path, onnx_path = work / f"model-{size[0]}x{size[1]}.pt", work / f"model-{size[0]}x{size[1]}.onnx"
    if not onnx_path.is_file():
        torch.manual_seed(0)
        save_model(
            model_path,
            build_model("mobilenet_v2", len(ATTRIBUTES), 1.0).eval(),
            ModelSpec("mobilenet_v2", 1.0, ATTRIBUTES, size),
        )
        with contextlib.redirect_stdout(io.StringIO()):
            export_onnx(model_path, onnx_path)
    return model_path, onnx_path


def predict_side_by_side(
    work: Path, folder: Path, size: tuple[int, int], repeats: int, say, variants=tuple(PREDICT_VARIANTS)
) -> dict:
    """Each of `variants` (PREDICT_VARIANTS) in turn, `repeats` rounds (so load from other jobs falls on
    all alike), each run a fresh process; per variant the median images/s and every run's."""
    model_path, onnx_path = predict_models(work, size)
    runs: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(repeats):
        for key in variants:
            options = PREDICT_VARIANTS[key][1]
            where = {"onnx": onnx_path, **options} if options else {"model": model_path}
            runs[key].append(run_measure("cli_predict", folder=folder, **where)["images_per_second"])
        say(
            f"  {size[0]}×{size[1]} round {r + 1}/{repeats}: "
            + ", ".join(f"{k} {v[-1]:.1f}" for k, v in runs.items())
            + " images/s"
        )
    return {k: {"images_per_second": float(np.median(v)), "runs": [round(x, 1) for x in v]} for k, v in runs.items()}


def report_side_by_side(f: dict) -> str:
    sizes = list(f["predict_side_by_side"])
    lines = [
        f"faceattr predict, side by side ({f['cpu']}; torch {f['torch']}, onnxruntime {f['onnxruntime']}; "
        f"MobileNetV2 alpha 1.0; {f['predict_images']} aligned images; median of {f['repeats']} alternating runs; "
        f"load average {f['load_before']:.1f} before, {f['load_after']:.1f} after)",
        "",
        "| images/s | " + " | ".join(s.replace("x", "×") for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for key, (label, _) in PREDICT_VARIANTS.items():
        if key not in f["predict_side_by_side"][sizes[0]]:
            continue
        cells = [f["predict_side_by_side"][s][key] for s in sizes]
        lines.append(
            f"| {label} | "
            + " | ".join(f"{c['images_per_second']:.1f} ({', '.join(map(str, c['runs']))})" for c in cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def report(f: dict, memory_images: int) -> str:
    t, p, m = f["train"], f["predict"], f["memory"]
    lines = [
        f"faceattr benchmark ({f['mode']}; {f['cpu_cores']} cores; torch {f['torch']}; MobileNetV2 alpha 1.0, "
        f"{f['resolution'][0]}×{f['resolution'][1]}, batch {f['batch_size']}, {f['steps']} steps)",
        "",
        "| training | images/s |",
        "|---|---:|",
        f"| naive (PIL, 3 workers, NCHW fp32) | {t['naive']['images_per_second']:.1f} |",
        f"| faceattr (pixel cache, batched augmentation{', bf16' if t['faceattr']['bf16'] else ''}, channels_last) | "
        f"{t['faceattr']['images_per_second']:.1f} |",
        f"| compute-only ceiling (random tensors) | {t['ceiling']['images_per_second']:.1f} |",
        "",
        "| inference (folder of aligned images) | images/s |",
        "|---|---:|",
        f"| naive (PIL, per image, NCHW fp32) | {p['naive']['images_per_second']:.1f} |",
        f"| `faceattr predict` | {p['faceattr']['images_per_second']:.1f} |",
        f"| `faceattr predict --onnx` (ONNX Runtime) | {p['faceattr_onnx']['images_per_second']:.1f} |",
        *(
            [
                f"| `faceattr predict --onnx`, default SessionOptions | "
                f"{p['faceattr_onnx_plain']['images_per_second']:.1f} |",
                f"| `faceattr predict --onnx`, batch 16 | {p['faceattr_onnx_b16']['images_per_second']:.1f} |",
            ]
            if "faceattr_onnx_plain" in p
            else []
        ),
        "",
        "| memory (fit at 109×89, batch 64) | peak RSS GB | peak anonymous GB | measured over |",
        "|---|---:|---:|---|",
    ]
    for count, r in m.items():
        span = "a full epoch" if r["completed_epoch"] else f"the first {r['seconds']:.0f} s"
        lines.append(f"| {count:,} images | {r['peak_rss_gb']:.2f} | {r['peak_anon_gb']:.2f} | {span} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
