"""User-facing errors: raised for bad input, reported as one clear line without a traceback (`shorten`: how
the CLI and every stage show it)."""

import re


class FaceattrError(Exception):
    """A problem with the user's input (a file, a line, a parameter) that the user can fix."""


MAX_WORD = 300  # a longer run of non-blank characters (a pasted path, a line of a hostile file) is shortened
MAX_MESSAGE = 800  # characters of a whole message; normal ones (40 attribute names and a path) stay whole
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD + 1},}}")


def shorten(message: str) -> str:
    """An error message as it is shown: each word of over MAX_WORD characters cut to its start and end around
    '…' (a path keeps its file name), then the whole cut in its middle past MAX_MESSAGE. Shorter ones unchanged."""

    def cut(match: re.Match) -> str:
        word = match.group()
        return f"{word[:160]}…{word[-100:]}"

    message = _LONG_WORD.sub(cut, message)
    if len(message) > MAX_MESSAGE:
        message = f"{message[: MAX_MESSAGE - 201]} … {message[-198:]}"
    return message
