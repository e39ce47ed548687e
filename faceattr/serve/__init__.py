"""`faceattr serve`: a web page and JSON API over one loaded model, bound to loopback by default.

service.py holds the model and answers photos (faces, probabilities, heat maps) for the app's threads;
app.py is the Starlette app (limits, security headers, the page in web/). `faceattr serve` is command.py.
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(__name__, {"Service": ".service", "create_app": ".app", "serve": ".app"})
