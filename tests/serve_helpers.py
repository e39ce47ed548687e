"""What the server's API, browser and benchmark tests share: a small model whose answers depend on the
image, and a real uvicorn server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator


from conftest import small_model

ATTRS = ["Eyeglasses", "Male", "Smiling", "Young"]


def tiny_model(path: Path) -> Path:
    """conftest.small_model with the server tests' attributes."""
    return small_model(path, ATTRS)


@contextlib.contextmanager
def running_server(app) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 at a port the kernel picks (no race for a free port); yield its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
            assert response.status == 200
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
