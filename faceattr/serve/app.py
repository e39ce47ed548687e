"""`faceattr serve`: a web page and a JSON API over one loaded model (faceattr.serve.service), for a person to see
what the model sees in their own photo.

Safe by default, as anything that accepts files from a browser must be: it listens on loopback unless told
otherwise; a request body over the upload limit is refused with 413 as soon as it passes the limit (it is
never read whole first); a non-image, a truncated image or a decompression bomb is a 400 with a JSON error,
and the server goes on; the page and its script and style come from the app itself under a strict
Content-Security-Policy (nothing from another origin, no inline script); nothing of an upload is written
anywhere but Python's temporary folder (multipart parts over 1 MB spool there) and it is gone when the
request ends.

Slow or hostile clients cannot lock the rest out (serve's uvicorn settings, GuardedH11 and BodyLimit): a
connection must send its request headers within HEADER_TIMEOUT_S of opening (or of its previous answer), a
body must keep arriving (BODY_IDLE_S between chunks, BODY_TOTAL_S in all), each client address holds at most
WAITING_PER_CLIENT connections still waiting for their headers (a new one closes its oldest) and
UPLOADS_PER_CLIENT bodies being read. Only requests naming this server (Host: a loopback name, the --host
given, or an --allow-host name) are answered, which defeats DNS rebinding; a POST from another origin (its
Origin header not this server's) is refused with 403.

    GET  /              the page            GET  /api/model   architecture, attributes, input size, MLflow run
    GET  /healthz       liveness            POST /api/predict multipart: photo [aligned] [explain=ATTR]
    POST /api/explain   multipart: photo [aligned] face attribute [against] → PNG
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from faceattr.errors import FaceattrError
from faceattr.explain.heatmaps import to_hwc
from faceattr.serve.service import Service, data_url, png_bytes

WEB = Path(__file__).with_name("web")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
DEFAULT_MAX_UPLOAD_MB = 10.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
HEADER_TIMEOUT_S = 10.0  # a connection's request headers, complete, from its opening or its previous answer
BODY_IDLE_S = 10.0  # the most time between two chunks of a request body
BODY_TOTAL_S = 120.0  # a whole request body (10 MB at 0.7 Mbit/s)
WAITING_PER_CLIENT = 16  # connections of one client address still waiting for their headers
WAITING_TOTAL = 128  # all connections still waiting for their headers
UPLOADS_PER_CLIENT = 8  # request bodies of one client address being read at once
MAX_CONNECTIONS = 512  # uvicorn answers 503 beyond this (its limit_concurrency)
TRUE, FALSE = {"1", "true", "on", "yes"}, {"0", "false", "off", "no", ""}

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


async def _send_json(send: Callable[[dict], Awaitable[None]], status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Refuse a request body over `max_bytes` with 413: at once when its Content-Length says so, else as
    soon as the bytes received pass the limit. A body that stalls (nothing for `idle_s`) or drags on (not
    whole after `total_s`), a body shorter than its Content-Length included, is dropped with 408 and its
    connection closed; a client address reads at most `per_client` bodies at once (429 beyond). The body (at
    most the limit) is then handed on to the app."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        idle_s: float = BODY_IDLE_S,
        total_s: float = BODY_TOTAL_S,
        per_client: int = UPLOADS_PER_CLIENT,
    ) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.idle_s, self.total_s, self.per_client = idle_s, total_s, per_client
        self.reading: dict[str, int] = {}  # client address → bodies being read now (one event loop: no lock)

    async def __call__(
        self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = {"error": f"upload over the limit of {self.max_bytes / 2**20:g} MB (--max-upload-mb)"}
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit():  # bytes: ASCII digits only
                return await _send_json(send, 400, {"error": "Content-Length: not a number"})
            if int(length) > self.max_bytes:
                return await _send_json(send, 413, too_large)
        client = (scope.get("client") or ("", 0))[0]
        has_body = b"transfer-encoding" in dict(scope["headers"]) or (length is not None and int(length) > 0)
        if not has_body:  # a GET: nothing to wait for, and not an upload to count
            return await self.app(scope, receive, send)
        if self.reading.get(client, 0) >= self.per_client:
            return await _send_json(send, 429, {"error": f"more than {self.per_client} uploads at once from {client}"})
        self.reading[client] = self.reading.get(client, 0) + 1
        try:
            body = await self._read(receive, send, too_large)
        finally:
            self.reading[client] -= 1
            if not self.reading[client]:
                del self.reading[client]
        if body is None:
            return None
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(
        self, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]], too_large: dict
    ) -> bytes | None:
        """The whole body; None when the answer (413, 408) was sent instead or the client went away."""
        chunks, size = [], 0
        deadline = time.monotonic() + self.total_s
        while True:
            wait = min(self.idle_s, deadline - time.monotonic())
            try:
                if wait <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), wait)
            except (TimeoutError, asyncio.TimeoutError):
                slow = {
                    "error": f"request body: nothing received for {self.idle_s:g} s, or not complete "
                    f"within {self.total_s:g} s; {size} bytes arrived"
                }
                await _send_json(send, 408, slow)
                return None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_json(send, 413, too_large)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def host_name(text: str) -> str:
    """A Host header's (or an address's) name: lower case, without its port or an IPv6 address's brackets."""
    text = text.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    if text.count(":") == 1:  # name:port (a bare IPv6 address has more than one colon)
        return text.split(":")[0]
    return text


def _without_default_port(origin: str) -> str:
    """An origin (scheme://host[:port]) without the port its scheme implies: http://a:80 is http://a."""
    for scheme, port in (("http://", ":80"), ("https://", ":443")):
        if origin.startswith(scheme) and origin.endswith(port):
            return origin.removesuffix(port)
    return origin


class SameOrigin:
    """Answer only requests that name this server: their Host is one of `hosts` (any port), else 400. It is
    what stops DNS rebinding: a page of evil.example whose name is made to point at 127.0.0.1 reaches the
    server, but its requests say `Host: evil.example`. And refuse with 403 a request that can change
    anything (any method but GET, HEAD, OPTIONS) sent from another origin: its Origin header, when there
    is one, must be this server's own (http or https://<its Host header>)."""

    SAFE = {"GET", "HEAD", "OPTIONS"}

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app, self.hosts = app, {host_name(h) for h in hosts}

    async def __call__(
        self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if host_name(host) not in self.hosts:
            shown = repr(host[:100]) if host else "missing"
            return await _send_json(
                send,
                400,
                {"error": f"Host: {shown} is not a name of this server (faceattr serve --allow-host NAME adds one)"},
            )
        origin = headers.get(b"origin")
        if scope["method"] not in self.SAFE and origin is not None:
            origin_text = origin.decode("latin-1").strip().lower()
            if _without_default_port(origin_text) not in (
                _without_default_port(f"{scheme}://{host.lower()}") for scheme in ("http", "https")
            ):
                return await _send_json(
                    send,
                    403,
                    {"error": f"Origin: {origin_text[:100]!r} is not this server's; cross-origin requests are refused"},
                )
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Every response carries the Content-Security-Policy and its companions."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
    ) -> None:
        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


class BadRequest(Exception):
    """A request the server refuses with 400 and this message (naming the parameter at fault)."""


def _flag(form: Any, name: str) -> bool:
    value = str(form.get(name, "")).strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise BadRequest(f"{name}: expected true or false (1/0, on/off), got {value[:40]!r}")


async def _upload(request: Request) -> tuple[bytes, str, Any]:
    """The multipart form's photo (bytes and file name) and its other fields."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("photo: send a multipart/form-data body with the image as the file field `photo`")
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=4096)
    except HTTPException as exc:
        raise BadRequest(f"malformed multipart body: {exc.detail}") from None
    photo = form.get("photo")
    if not isinstance(photo, UploadFile):
        await form.close()
        raise BadRequest("photo: missing; send the image as the file field `photo`")
    data = await photo.read()
    name = Path(photo.filename or "upload").name[:200] or "upload"
    await form.close()  # a part spooled to the temporary folder is deleted here
    if not data:
        raise BadRequest(f"photo: {name} is empty (0 bytes)")
    return data, name, form


FACE_NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII digits only: str.isdigit() accepts '²', which int() refuses


class _Provenance:
    """The model's MLflow run, looked up once on the first request that asks (MLflow takes seconds to import)."""

    def __init__(self, model_path: Path) -> None:
        self.model_path, self._lock, self._value = model_path, threading.Lock(), None

    def get(self) -> dict:
        with self._lock:
            if self._value is None:
                from faceattr.track.provenance import model_run

                self._value = model_run(self.model_path)
            return self._value


def _answer(service: Service, data: bytes, name: str, aligned: bool, explain: str) -> dict:
    """/api/predict's answer for one photo: its faces (box, crop, optional heat map) and their rows."""
    found = service.analyse(data, name, aligned)
    faces = []
    for k, box in enumerate(found.boxes):
        face: dict[str, Any] = {"face": k, "box": box}
        if not aligned:
            face["crop"] = data_url(png_bytes(to_hwc(found.shown[k])))
        if explain:
            png, _ = service.heat_map(found, k, explain)
            face["heatmap"] = data_url(png)
        faces.append(face)
    return {
        "image": name,
        "width": found.width,
        "height": found.height,
        "aligned": aligned,
        "detector": None if aligned else service.detector,
        "thresholds": service.thresholds,
        "attributes": list(service.spec.attributes),
        "rows": found.rows,
        "faces": faces,
        "faces_found": found.faces_found,
        "warnings": found.warnings,
    }


def create_app(
    service: Service,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    allowed_hosts: Iterable[str] = (),
    body_idle_s: float = BODY_IDLE_S,
    body_total_s: float = BODY_TOTAL_S,
) -> ASGIApp:
    """The ASGI app: the page, its static files and the API, behind the security headers, the Host and Origin
    checks (SameOrigin: the loopback names and `allowed_hosts`) and the body limits (BodyLimit)."""
    provenance = _Provenance(service.model_path)

    async def index(_request: Request) -> Response:
        return FileResponse(WEB / "index.html", media_type="text/html")

    async def no_icon(_request: Request) -> Response:
        return Response(status_code=204)  # browsers ask for one; a 404 would be an error in the console

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def model(_request: Request) -> Response:
        run = await run_in_threadpool(provenance.get)
        return JSONResponse({**service.describe(), "max_upload_mb": max_upload_mb, "mlflow": run})

    async def predict(request: Request) -> Response:
        data, name, form = await _upload(request)
        aligned = _flag(form, "aligned")
        explain = str(form.get("explain", "")).strip()
        if explain:
            service.attribute_index(explain)  # a wrong name fails before any work

        return JSONResponse(await run_in_threadpool(_answer, service, data, name, aligned, explain))

    async def explain(request: Request) -> Response:
        data, name, form = await _upload(request)
        aligned, against = _flag(form, "aligned"), _flag(form, "against")
        attribute = str(form.get("attribute", "")).strip()
        if not attribute:
            raise BadRequest(f"attribute: missing; one of {', '.join(service.spec.attributes)}")
        service.attribute_index(attribute)
        face_text = str(form.get("face", "0")).strip()
        if not FACE_NUMBER.fullmatch(face_text):
            raise BadRequest(f"face: expected a face number (0, 1, ...), got {face_text[:40]!r}")

        def work() -> tuple[bytes, float]:
            found = service.analyse(data, name, aligned)
            return service.heat_map(found, int(face_text), attribute, against)

        png, probability = await run_in_threadpool(work)
        return Response(png, media_type="image/png", headers={"x-probability": f"{probability:.4f}"})

    async def refused(_request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def http_error(_request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/favicon.ico", no_icon),
            Route("/api/model", model),
            Route("/api/predict", predict, methods=["POST"]),
            Route("/api/explain", explain, methods=["POST"]),
            Mount("/static", StaticFiles(directory=WEB), name="static"),
        ],
        exception_handlers={BadRequest: refused, FaceattrError: refused, HTTPException: http_error},
    )
    limited = BodyLimit(app, int(max_upload_mb * 2**20), idle_s=body_idle_s, total_s=body_total_s)
    return SecurityHeaders(SameOrigin(limited, [*LOOPBACK_HOSTS, *allowed_hosts]))


def guarded_protocol(
    header_timeout_s: float = HEADER_TIMEOUT_S, per_client: int = WAITING_PER_CLIENT, total: int = WAITING_TOTAL
) -> type:
    """uvicorn's h11 protocol with a deadline for request headers and a cap on the connections waiting for
    theirs (a new class per server: its bookkeeping is that server's).

    uvicorn times out only an idle keep-alive connection, and each byte received restarts that clock: a
    client sending a header byte a second holds its connection for ever, and enough such connections use up
    the server's limit. Here a connection waiting for its request headers (new, or after an answer) gets
    `header_timeout_s` to send them whole, then 408 and closed; one client address keeps at most `per_client`
    such connections and the server `total`: a new one closes the oldest waiting, so a client that sends its
    request at once is always heard."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    waiting_by_client: dict[str, dict[Any, None]] = {}  # insertion-ordered: oldest first
    waiting_all: dict[Any, None] = {}

    class GuardedH11(H11Protocol):
        _timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_headers()

        def _key(self) -> str:
            return self.client[0] if self.client else ""

        def _await_headers(self) -> None:
            self._stop_waiting()
            self._timer = self.loop.call_later(header_timeout_s, self._too_slow)
            mine = waiting_by_client.setdefault(self._key(), {})
            mine[self] = None
            waiting_all[self] = None
            while len(mine) > per_client:
                next(iter(mine))._refuse(b"503 Service Unavailable")
            while len(waiting_all) > total:
                next(iter(waiting_all))._refuse(b"503 Service Unavailable")

        def _stop_waiting(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            waiting_all.pop(self, None)
            mine = waiting_by_client.get(self._key())
            if mine is not None:
                mine.pop(self, None)
                if not mine:
                    del waiting_by_client[self._key()]

        def _refuse(self, status: bytes) -> None:
            self._stop_waiting()
            if not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 " + status + b"\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
                self.transport.close()

        def _too_slow(self) -> None:
            self._timer = None
            self._refuse(b"408 Request Timeout")

        def handle_events(self) -> None:
            super().handle_events()
            if self._timer is not None and self.conn.their_state is not h11.IDLE:  # its request's headers came
                self._stop_waiting()

        def on_response_complete(self) -> None:
            if not self.transport.is_closing():
                self._await_headers()  # the next request's headers, on a kept-alive connection
            super().on_response_complete()  # may go on to a pipelined request (handle_events)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

    return GuardedH11


def server_config(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, **changes: Any) -> Any:
    """The uvicorn.Config that `faceattr serve` runs (`changes`: other uvicorn options, tests' shorter timeouts)."""
    import uvicorn

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "server_header": False,
        "http": guarded_protocol(),
        "limit_concurrency": MAX_CONNECTIONS,
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": 16 * 1024,  # request line and headers
        **changes,
    }
    return uvicorn.Config(app, **options)


def port_problem(host: str, port: int) -> str | None:
    """Why `host`:`port` cannot be listened on (in use, not an address of this machine), or None. Bound and
    let go at once, as uvicorn binds it (SO_REUSEADDR): a port in TIME_WAIT is free."""
    if port == 0:
        return None
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"--host {host}: {exc.strerror or exc}"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return f"--port {port}: cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def serve(
    service: Service,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    allowed_hosts: Iterable[str] = (),
) -> None:
    """Serve until interrupted (one process: the model is loaded once, requests share it in threads). A port
    in use is a FaceattrError (one line, exit code 2), found before uvicorn starts."""
    import uvicorn

    problem = port_problem(host, port)
    if problem:
        raise FaceattrError(problem)
    app = create_app(service, max_upload_mb, allowed_hosts=[host, *allowed_hosts])
    try:
        uvicorn.Server(server_config(app, host, port)).run()
    except SystemExit as exc:  # uvicorn's startup failure (3): the port taken between the check and now
        if exc.code in (0, None):
            raise
        raise FaceattrError(f"--port {port}: uvicorn could not listen on {host}:{port} (its log above)") from None
