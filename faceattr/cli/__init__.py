"""The `faceattr` command line: `main` dispatches to the `command.py` of each subcommand's folder."""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(__name__, {"main": ".entry", "build_parser": ".entry"})
