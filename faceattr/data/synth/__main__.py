"""python -m faceattr.data.synth OUT_DIR [COUNT] [SEED]: generate a data set and say how long it took."""

import argparse
import time
from pathlib import Path

from faceattr.data.synth.dataset import generate_dataset

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m faceattr.data.synth", description=__doc__.split(":", 1)[1])
    parser.add_argument("out_dir", type=Path, help="folder to write the zip and the three label files into")
    parser.add_argument("count", type=int, nargs="?", default=3000, help="images (default: %(default)s)")
    parser.add_argument("seed", type=int, nargs="?", default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    summary = generate_dataset(args.out_dir, count=args.count, seed=args.seed)
    print(f"{summary['count']} images, {summary['identities']} identities in {time.perf_counter() - t0:.1f} s")
