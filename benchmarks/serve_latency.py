"""Latency of `faceattr serve`'s /api/predict for a 640×480 photo of one face, without and with one heat map
(`explain=ATTR`: predict plus one Grad-CAM in one request, as a page showing both needs), sequentially and
with concurrent clients, against a real uvicorn server (`faceattr serve` in its own process) on loopback.
Figures are printed, never asserted; the last line is machine-readable.

    python benchmarks/serve_latency.py                    # 50 requests per measurement, 4 concurrent clients
    python benchmarks/serve_latency.py --quick --json out.json

The default model is an untrained one shaped as the pipeline trains it (MobileNetV2 alpha 1.0, the
attributes and input size of params.yaml): latency does not depend on the weights. --model times a real one.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def untrained_model(path: Path) -> Path:
    """A freshly initialised model with params.yaml's architecture, attributes and input size."""
    import torch

    from faceattr.config.schema import load_config
    from faceattr.model.model_file import ModelSpec, build_model, save_model

    cfg = load_config(REPO / "params.yaml")
    arch, alpha = cfg.model.arch, cfg.alpha
    attributes, size = list(cfg.labels.attributes), cfg.train.image_size
    torch.manual_seed(0)
    save_model(path, build_model(arch, len(attributes), alpha).eval(), ModelSpec(arch, alpha, attributes, size))
    return path


def start_server(model: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    """`faceattr serve` on a port the kernel picks; its URL read from uvicorn's startup line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceattr.cli", "serve", "--model", str(model), "--port", "0", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    lines = []
    for line in proc.stderr:
        lines.append(line)
        found = re.search(r"Uvicorn running on (http://\S+)", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining the log
            return proc, found.group(1)
    raise SystemExit("faceattr serve did not start:\n" + "".join(lines[-20:]))


def multipart(photo: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    )
    body += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="photo.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def timed_requests(url: str, body: bytes, content_type: str, count: int, explain: bool) -> list[float]:
    """Seconds per request of `count` requests on one kept-alive connection, each checked."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    times = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            connection.request("POST", "/api/predict", body, {"Content-Type": content_type})
            response = connection.getresponse()
            answer = response.read()
            times.append(time.perf_counter() - start)
            faces = json.loads(answer)["faces"] if response.status == 200 else None
            if response.status != 200 or len(faces) != 1 or explain != ("heatmap" in faces[0]):
                raise SystemExit(f"unexpected answer ({response.status}): {answer[:300]!r}")
    finally:
        connection.close()
    return times


def summary(times: list[float]) -> dict:
    ms = np.asarray(times) * 1000
    return {
        "requests": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "mean_ms": round(float(ms.mean()), 1),
    }


def measure(url: str, photo: bytes, attribute: str | None, requests: int, clients: int) -> dict:
    fields = {"explain": attribute} if attribute else {}
    body, content_type = multipart(photo, fields)
    timed_requests(url, body, content_type, 3, bool(attribute))  # warm-up
    figures = {"sequential": summary(timed_requests(url, body, content_type, requests, bool(attribute)))}
    shares = [requests // clients + (k < requests % clients) for k in range(clients)]
    results: list[list[float]] = [[] for _ in range(clients)]

    def client(k: int) -> None:
        results[k] = timed_requests(url, body, content_type, shares[k], bool(attribute))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    figures[f"clients_{clients}"] = {
        **summary([t for r in results for t in r]),
        "requests_per_s": round(requests / wall, 2),
    }
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model file (default: an untrained model shaped as params.yaml trains one)")
    parser.add_argument("--requests", type=int, default=50, help="requests per measurement (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="12 requests per measurement")
    parser.add_argument("--attribute", help="attribute of the heat map (default: the model's first)")
    parser.add_argument("--serve-args", default="", help="more options for faceattr serve, e.g. '--threads 2'")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    requests = 12 if args.quick else args.requests

    import torch

    from faceattr.model.model_file import load_model
    from faceattr.predict import demo_photos as demo

    with tempfile.TemporaryDirectory(prefix="faceattr-serve-bench-") as folder:
        model = Path(args.model) if args.model else untrained_model(Path(folder) / "model.pt")
        spec = load_model(model)[1]
        attribute = args.attribute or spec.attributes[0]
        photo = demo.jpeg(demo.demo_photo(faces=1).rgb)
        proc, url = start_server(model, args.serve_args.split())
        try:
            figures = {
                "predict": measure(url, photo, None, requests, args.clients),
                "predict_heatmap": measure(url, photo, attribute, requests, args.clients),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    figures["setup"] = {
        "model": str(args.model or f"untrained {spec.arch} alpha {spec.alpha}"),
        "input_size": list(spec.image_size),
        "attributes": len(spec.attributes),
        "heatmap_attribute": attribute,
        "photo": "640×480 JPEG, one face",
        "requests": requests,
        "clients": args.clients,
        "cores": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    c = f"clients_{args.clients}"
    print(
        f"faceattr serve latency ({figures['setup']['model']}, input {spec.image_size[1]}×{spec.image_size[0]}, "
        f"{requests} requests each, {torch.get_num_threads()} cores)\n"
    )
    print(f"| /api/predict | sequential p50 | p95 | {args.clients} clients p50 | p95 | requests/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, label in (("predict", "predict"), ("predict_heatmap", f"predict + heat map ({attribute})")):
        f = figures[name]
        print(
            f"| {label} | {f['sequential']['p50_ms']} ms | {f['sequential']['p95_ms']} ms | {f[c]['p50_ms']} ms "
            f"| {f[c]['p95_ms']} ms | {f[c]['requests_per_s']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    print(
        f"serve_predict_p50_ms={figures['predict']['sequential']['p50_ms']} "
        f"serve_heatmap_p50_ms={figures['predict_heatmap']['sequential']['p50_ms']} "
        f"serve_heatmap_p95_ms={figures['predict_heatmap']['sequential']['p95_ms']} "
        f"serve_clients_p50_ms={figures['predict_heatmap'][c]['p50_ms']}"
    )


if __name__ == "__main__":
    main()
