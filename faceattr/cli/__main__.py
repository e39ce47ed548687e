"""`python -m faceattr.cli`: the `faceattr` command without its console script."""

import sys

from faceattr.cli.entry import main

sys.exit(main())
