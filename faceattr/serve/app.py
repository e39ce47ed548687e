"""`faceattr serve`: a web page and a JSON API over one loaded model (faceattr.serve.service), for a person to see
what the model sees in their own photo.

Safe by default, as anything that accepts files from a browser must be: it listens on loopback unless told
otherwise; a request body over the upload limit is refused with 413 as soon as it passes the limit (it is
never read whole first); a non-image, a truncated image or a decompression bomb is a 400 with a JSON error,
and the server goes on; the page and its script and style come from the app itself under a strict
Content-Security-Policy (nothing from another origin, no inline script); nothing of an upload is written
anywhere but Python's temporary folder (multipart parts over 1 MB spool there) and it is gone when the
request ends.

    GET  /              the page            GET  /api/model   architecture, attributes, input size, MLflow run
    GET  /healthz       liveness            POST /api/predict multipart: photo [aligned] [explain=ATTR]
    POST /api/explain   multipart: photo [aligned] face attribute [against] → PNG
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Awaitable, Callable

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
    soon as the bytes received pass the limit. The body (at most the limit) is then handed on to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(
        self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = {"error": f"upload over the limit of {self.max_bytes / 2**20:g} MB (--max-upload-mb)"}
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await _send_json(send, 400, {"error": "Content-Length: not a number"})
            if int(length) > self.max_bytes:
                return await _send_json(send, 413, too_large)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await _send_json(send, 413, too_large)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


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
    return data, name, form


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
        "warnings": found.warnings,
    }


def create_app(service: Service, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> ASGIApp:
    """The ASGI app: the page, its static files and the API, behind the body limit and security headers."""
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
        if not face_text.isdigit():
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
    return SecurityHeaders(BodyLimit(app, int(max_upload_mb * 2**20)))


def serve(
    service: Service, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
) -> None:
    """Serve until interrupted (one process: the model is loaded once, requests share it in threads)."""
    import uvicorn

    uvicorn.run(
        create_app(service, max_upload_mb),
        host=host,
        port=port,
        log_level="info",
        server_header=False,
        limit_concurrency=64,
    )
