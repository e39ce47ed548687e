"""After `dvc repro`: fail when an output that dvc.lock records is missing from DVC's cache, or damaged there.

DVC logs an error when it cannot copy an output into its cache (a full disk, say) yet `dvc repro` still
exits 0, with dvc.lock pointing at data that is not cached: `dvc checkout`, `dvc push` and every later
`dvc repro` that restores it would then fail. `make repro` runs this check after `dvc repro`.

    python -m faceattr.pipeline.cache_check      # exit 0: every output is cached; exit 1: lists what is not

`dvc status` is asked rather than `dvc data status`: it checks every file of a folder output against its
hash (a full disk mid-copy leaves some files of a folder uncached, or one cut short), where `dvc data
status` without --granular looks only at the folder's listing.
"""

from __future__ import annotations

import json
import sys

from faceattr.pipeline.dvc import run_dvc


def missing_from_cache(cwd: str = ".") -> list[str]:
    """Outputs (as dvc.yaml names them) whose data is missing from, or damaged in, the DVC cache."""
    proc = run_dvc("status", "--json", cwd=cwd, capture=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc status failed ({proc.returncode}): {' '.join(proc.stderr.split())[:500]}")
    missing = set()
    for entries in json.loads(proc.stdout or "{}").values():  # {stage: [{"changed outs": {path: state}}, …]}
        for entry in entries if isinstance(entries, list) else []:
            changed = entry.get("changed outs", {}) if isinstance(entry, dict) else {}
            missing |= {out for out, state in changed.items() if state == "not in cache"}
    return sorted(missing)


def main() -> int:
    try:
        missing = missing_from_cache()
    except RuntimeError as exc:
        print(f"cache_check: error: {exc}", file=sys.stderr)
        return 2
    if missing:
        print(
            f"cache_check: error: {len(missing)} output(s) that dvc.lock records are not in DVC's cache "
            f"(was the disk full while DVC cached them?): {', '.join(missing)}. Free some space and run "
            f"`dvc commit -f` (or `dvc repro -f` for the stages that wrote them).",
            file=sys.stderr,
        )
        return 1
    print("cache_check: every output is in DVC's cache")
    return 0


if __name__ == "__main__":
    sys.exit(main())
