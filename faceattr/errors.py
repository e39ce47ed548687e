"""User-facing errors: raised for bad input, reported as one clear line without a traceback."""


class FaceattrError(Exception):
    """A problem with the user's input (a file, a line, a parameter) that the user can fix."""
