#!/usr/bin/env python
"""Probe faceattr.data.pixels.build_pixel_cache in a fresh subprocess per run: where its time goes (the kernel's view).

benchmarks/preprocess_cache.py times the conditions side by side; this probe adds what explains them.

Parent:  preprocess_probe.py run LABEL N {warm|cold|asis} OUT_DIR [--impl orig|no-read-ahead] --images DIR --results FILE
  warm: every input file is read once first (page cache), cold: sync + drop_caches right before,
  asis: nothing.  The child's JSON goes into the results file (a list), out_dir is deleted and `sync` run.
Child:   preprocess_probe.py child N OUT_DIR IMPL IMAGES  -> prints one JSON line (prefix RESULT ).

Recorded: wall s of the call, CPU s (RUSAGE_SELF + RUSAGE_CHILDREN after the call; the pool is joined by
then), cores busy, /proc/vmstat deltas (pgmajfault, pgpgin, pgpgout), peak nr_dirty+nr_writeback (pages and
MiB) sampled every 0.5 s by a thread, plus: time in the final fsync, main-thread CPU, /proc/pressure/io
stall deltas, the fraction of 0.1 s samples in which the main process / the decode workers were in D
(uninterruptible I/O wait), R (running) or S (sleeping), and a 0.5 s timeline of bytes written.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VMSTAT_KEYS = ("pgmajfault", "pgpgin", "pgpgout", "nr_dirty", "nr_writeback")
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def vmstat() -> dict:
    out = {}
    with open("/proc/vmstat") as fh:
        for line in fh:
            k, v = line.split()
            if k in VMSTAT_KEYS:
                out[k] = int(v)
    return out


def cpu_stat() -> list[int]:
    with open("/proc/stat") as fh:
        return [int(x) for x in fh.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal


def psi_io() -> dict:
    try:
        out = {}
        with open("/proc/pressure/io") as fh:
            for line in fh:
                kind, *fields = line.split()
                out[kind] = int(dict(f.split("=") for f in fields)["total"])  # microseconds
        return out
    except OSError:
        return {}


def proc_stat(path: str):
    try:
        with open(path) as fh:
            s = fh.read()
    except OSError:
        return None
    rest = s.rsplit(")", 1)[1].split()
    return rest[0], (int(rest[11]) + int(rest[12])) / TICK  # state, utime+stime seconds


def children(pid: int) -> list[int]:
    kids = []
    for t in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            kids += [int(x) for x in open(t).read().split()]
        except OSError:
            pass
    return kids


class Sampler(threading.Thread):
    def __init__(self, out_dir: str):
        super().__init__(daemon=True)
        self.stop_evt = threading.Event()
        self.pid = os.getpid()
        self.out_parent, self.out_name = os.path.dirname(out_dir), os.path.basename(out_dir)
        self.peak_dirty = 0
        self.states = {"main": {}, "workers": {}}
        self.timeline = []
        self.worker_cpu = {}
        self.t0 = time.perf_counter()

    def run(self):
        n = 0
        staging = None
        while not self.stop_evt.is_set():
            st = proc_stat(f"/proc/{self.pid}/task/{self.pid}/stat")
            if st:
                self.states["main"][st[0]] = self.states["main"].get(st[0], 0) + 1
            for kid in children(self.pid):
                ks = proc_stat(f"/proc/{kid}/stat")
                if ks:
                    self.states["workers"][ks[0]] = self.states["workers"].get(ks[0], 0) + 1
                    self.worker_cpu[kid] = ks[1]
            if n % 5 == 0:
                v = vmstat()
                dirty = v["nr_dirty"] + v["nr_writeback"]
                self.peak_dirty = max(self.peak_dirty, dirty)
                if staging is None:
                    found = glob.glob(os.path.join(self.out_parent, f".{self.out_name}.*.tmp", "pixels.npy"))
                    staging = found[0] if found else None
                try:
                    size = os.stat(staging).st_size if staging else 0
                except OSError:
                    size = -1
                main_cpu = st[1] if st else None
                self.timeline.append(
                    [
                        round(time.perf_counter() - self.t0, 2),
                        size,
                        dirty,
                        main_cpu,
                        round(sum(self.worker_cpu.values()), 2),
                    ]
                )
            n += 1
            self.stop_evt.wait(0.1)


def child(n: int, out_dir: str, impl: str, images: str) -> None:
    sys.path.insert(0, REPO)
    import faceattr.data.pixels as pixels
    import faceattr.data.prefetch as prefetch

    if impl == "no-read-ahead":
        prefetch.AHEAD = 0  # the Prefetcher starts no thread: preprocess as it was before the read-ahead
    elif impl != "orig":
        sys.exit(f"--impl: orig or no-read-ahead, not {impl!r}")
    build = pixels.build_pixel_cache
    ids = [f"{i + 1:06d}.jpg" for i in range(n)]
    fsync_time = [0.0]
    real_fsync = os.fsync

    def timed_fsync(fd):
        t = time.perf_counter()
        real_fsync(fd)
        fsync_time[0] += time.perf_counter() - t

    os.fsync = timed_fsync

    sampler = Sampler(out_dir)
    v0, p0, c0 = vmstat(), psi_io(), cpu_stat()
    r0s, r0c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    main_cpu0 = proc_stat(f"/proc/{os.getpid()}/task/{os.getpid()}/stat")[1]
    sampler.start()
    t0 = time.perf_counter()
    meta = build(images, ids, (109, 89), out_dir)
    wall = time.perf_counter() - t0
    main_cpu1 = proc_stat(f"/proc/{os.getpid()}/task/{os.getpid()}/stat")[1]
    r1s, r1c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    v1, p1, c1 = vmstat(), psi_io(), cpu_stat()
    sampler.stop_evt.set()
    sampler.join()
    cpu_self = (r1s.ru_utime + r1s.ru_stime) - (r0s.ru_utime + r0s.ru_stime)
    cpu_kids = (r1c.ru_utime + r1c.ru_stime) - (r0c.ru_utime + r0c.ru_stime)
    cpu = cpu_self + cpu_kids

    def frac(d):
        tot = sum(d.values()) or 1
        return {k: round(v / tot, 3) for k, v in sorted(d.items())}

    res = {
        "n": n,
        "impl": impl,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "cpu_main_process_s": round(cpu_self, 2),
        "cpu_main_thread_s": round(main_cpu1 - main_cpu0, 2),
        "cpu_children_s": round(cpu_kids, 2),
        "main_user_s": round(r1s.ru_utime - r0s.ru_utime, 2),
        "main_sys_s": round(r1s.ru_stime - r0s.ru_stime, 2),
        "children_user_s": round(r1c.ru_utime - r0c.ru_utime, 2),
        "children_sys_s": round(r1c.ru_stime - r0c.ru_stime, 2),
        "cores_busy": round(cpu / wall, 3),
        "ms_per_image": round(1000 * wall / n, 4),
        "cpu_ms_per_image": round(1000 * cpu / n, 4),
        "fsync_s": round(fsync_time[0], 2),
        "pgmajfault": v1["pgmajfault"] - v0["pgmajfault"],
        "pgpgin_MiB": round((v1["pgpgin"] - v0["pgpgin"]) / 1024, 1),  # pgpgin/out count KiB
        "pgpgout_MiB": round((v1["pgpgout"] - v0["pgpgout"]) / 1024, 1),
        "peak_dirty_plus_writeback_MiB": round(sampler.peak_dirty * PAGE / 2**20, 1),
        "psi_io_some_s": round((p1.get("some", 0) - p0.get("some", 0)) / 1e6, 2),
        "psi_io_full_s": round((p1.get("full", 0) - p0.get("full", 0)) / 1e6, 2),
        "main_state_frac": frac(sampler.states["main"]),
        "worker_state_frac": frac(sampler.states["workers"]),
        # whole machine, core-seconds during the call (all processes and kernel threads)
        "machine_core_s": {
            k: round((b - a) / TICK, 2)
            for k, a, b in zip(("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"), c0, c1)
        },
        "sha256": meta["sha256"],
        "timeline_cols": ["t_s", "bytes_written", "dirty+wb_pages", "main_thread_cpu_s", "workers_cpu_s"],
        "timeline": sampler.timeline,
    }
    print("RESULT " + json.dumps(res), flush=True)


def prewarm(images: str, n: int) -> float:
    t = time.perf_counter()
    buf = bytearray(1 << 20)
    for i in range(n):
        with open(os.path.join(images, f"{i + 1:06d}.jpg"), "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    return time.perf_counter() - t


def parent(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("label")
    ap.add_argument("n", type=int)
    ap.add_argument("cache", choices=["warm", "cold", "asis"])
    ap.add_argument("out_dir")
    ap.add_argument("--impl", default="orig")
    ap.add_argument("--images", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--keep", action="store_true", help="keep out_dir (for the identity check)")
    a = ap.parse_args(argv)
    if os.path.exists(a.out_dir):
        shutil.rmtree(a.out_dir)
    prep = {}
    if a.cache == "warm":
        prep["prewarm_read_s"] = round(prewarm(a.images, a.n), 2)
        prep["prewarm_second_pass_s"] = round(prewarm(a.images, a.n), 2)  # fast if all cached
    elif a.cache == "cold":
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
    prep["free_before"] = subprocess.run(["free", "-m"], capture_output=True, text=True).stdout
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONPATH=REPO)
    p = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "child", str(a.n), a.out_dir, a.impl, a.images],
        capture_output=True,
        text=True,
        env=env,
    )
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode or not line:
        sys.exit(f"child failed rc={p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    res = json.loads(line[0][7:])
    res.update(label=a.label, cache=a.cache, out_dir=a.out_dir, when=time.strftime("%H:%M:%S"), **prep)
    if not a.keep:
        shutil.rmtree(a.out_dir, ignore_errors=True)
        subprocess.run(["sync"], check=True)
    results = json.load(open(a.results)) if os.path.exists(a.results) else []
    results.append(res)
    with open(a.results + ".tmp", "w") as fh:
        json.dump(results, fh, indent=1)
    os.replace(a.results + ".tmp", a.results)
    short = {k: v for k, v in res.items() if k not in ("timeline", "timeline_cols", "free_before")}
    print(json.dumps(short))


if __name__ == "__main__":
    if sys.argv[1] == "child":
        child(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "run":
        parent(sys.argv[2:])
    else:
        sys.exit(__doc__)
