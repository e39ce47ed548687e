"""preprocess on a cold and a warm page cache, with and without reading ahead (faceattr.data.prefetch).

At 200,000 images `make bench-scale` found preprocess's time per image 1.2× its time at 50,000: its input
(4.9 GB of JPEG files) had been pushed out of the page cache by the stages before it, so each decoder waited
on one small read at a time. This script isolates that: it copies a folder of JPEGs cyclically into COUNT
files, then times `faceattr.data.pixels.build_pixel_cache` on them in a fresh process per run, on a cold cache
(`sync` and `/proc/sys/vm/drop_caches` first: Linux, as root) or a warm one (every file read first), with
the prefetch thread or without it (`faceattr.data.prefetch.AHEAD = 0`). Every run's output hash is printed:
the bytes must not depend on the condition.

    python benchmarks/preprocess_cache.py --sources data/interim/img_align_celeba --work /big/disk \
        --count 200000 50000 --json out.json

Needs COUNT × the sources' mean size of disk (about 5 GB at 200,000 synthetic 178×218 JPEGs at quality 100)
and as much again for the output at 109×89.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

SIZE = (109, 89)  # make bench-scale's input size


def make_images(sources: Path, folder: Path, count: int) -> None:
    """`count` files 000001.jpg … in `folder`, real copies (each its own page-cache pages) of the sources."""
    blobs = [p.read_bytes() for p in sorted(sources.glob("*.jpg"))]
    if not blobs:
        sys.exit(f"{sources}: no .jpg files (run `dvc repro unzip` first, or pass another --sources)")
    folder.mkdir(parents=True, exist_ok=True)
    have = len(list(folder.glob("*.jpg")))
    for k in range(have, count):
        (folder / f"{k + 1:06d}.jpg").write_bytes(blobs[k % len(blobs)])


def child(images: str, count: int, out: str, prefetch: bool) -> None:
    """One timed build (in a process of its own, so its CPU time includes its decoders' and nothing else)."""
    from faceattr.data import pixels
    from faceattr.data import prefetch as read_ahead

    if not prefetch:
        read_ahead.AHEAD = 0  # the Prefetcher starts no thread
    ids = [f"{k + 1:06d}.jpg" for k in range(count)]

    def cpu_seconds() -> float:  # this process and its reaped decoders
        usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return sum(u.ru_utime + u.ru_stime for u in usage)

    before, started = cpu_seconds(), time.perf_counter()
    meta = pixels.build_pixel_cache(images, ids, SIZE, out)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - before
    print(json.dumps({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "sha256": meta["sha256"]}))


def run(images: Path, count: int, out: Path, cache: str, prefetch: bool) -> dict:
    if cache == "cold":
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    else:
        for k in range(count):
            (images / f"{k + 1:06d}.jpg").read_bytes()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(images), str(count), str(out), str(int(prefetch))],
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.rmtree(out)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(
        count=count,
        cache=cache,
        prefetch=prefetch,
        ms_per_image=round(1000 * result["wall_s"] / count, 3),
        cores_busy=round(result["cpu_s"] / result["wall_s"], 2),
    )
    return result


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        images, count, out, prefetch = sys.argv[2:6]
        return child(images, int(count), out, prefetch == "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, required=True, help="a folder of .jpg files to copy from")
    parser.add_argument("--work", type=Path, default=Path(".bench/preprocess"), help="where the copies go")
    parser.add_argument("--count", type=int, nargs="+", default=[200_000, 50_000], help="image counts to time")
    parser.add_argument("--json", type=Path, help="also write the runs to this JSON file")
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or not Path("/proc/sys/vm/drop_caches").exists():
        sys.exit("a cold page cache needs Linux and root (/proc/sys/vm/drop_caches)")
    images = args.work / "images"
    make_images(args.sources, images, max(args.count))
    runs = []
    print(f"{'images':>8} {'cache':>5} {'prefetch':>8} {'wall s':>7} {'CPU s':>7} {'ms/image':>8} {'cores':>5}  sha256")
    for count in args.count:
        for cache in ("cold", "warm"):
            for prefetch in (False, True):
                r = run(images, count, args.work / "out", cache, prefetch)
                runs.append(r)
                print(
                    f"{count:>8} {cache:>5} {'on' if prefetch else 'off':>8} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} "
                    f"{r['ms_per_image']:>8.3f} {r['cores_busy']:>5.2f}  {r['sha256'][:12]}",
                    flush=True,
                )
    if len({(r["count"], r["sha256"]) for r in runs}) != len(args.count):
        sys.exit("the output differed between conditions")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1) + "\n")


if __name__ == "__main__":
    main()
