"""The DVC stages (`python -m stages.X`). Importing the package first checks, without importing them, that this
interpreter has the project's dependencies: dvc.yaml's `python` is whatever is first on PATH, and `.venv/bin/dvc
repro` without the environment activated runs the system's, after DVC has already removed the stage's outputs."""

import sys
from importlib.util import find_spec
from pathlib import Path

_NEEDED = ("yaml", "numpy", "pandas", "PIL", "torch", "mlflow")  # find_spec locates them: nothing is imported


def _check_interpreter() -> None:
    checkout = Path(__file__).resolve().parent.parent / "faceattr" / "__init__.py"
    own = find_spec("faceattr")
    missing = [] if own and own.origin and Path(own.origin).resolve() == checkout else ["faceattr (this checkout)"]
    missing += [name for name in _NEEDED if find_spec(name) is None]
    if missing:
        print(
            f"error: {sys.executable} lacks {', '.join(missing)}: activate the environment "
            f"(source .venv/bin/activate) or use make repro; the removed outputs are in DVC's cache: "
            f"dvc checkout restores them",
            file=sys.stderr,
        )
        sys.exit(2)


_check_interpreter()
