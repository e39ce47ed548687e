"""python -m faceattr.data.synth OUT_DIR [COUNT] [SEED]: generate a data set and say how long it took."""

import sys
import time
from pathlib import Path

from faceattr.data.synth.dataset import generate_dataset

if __name__ == "__main__":
    t0 = time.perf_counter()
    summary = generate_dataset(
        Path(sys.argv[1]),
        count=int(sys.argv[2]) if len(sys.argv) > 2 else 3000,
        seed=int(sys.argv[3]) if len(sys.argv) > 3 else 0,
    )
    print(f"{summary['count']} images, {summary['identities']} identities in {time.perf_counter() - t0:.1f} s")
