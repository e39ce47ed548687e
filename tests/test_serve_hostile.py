"""`faceattr serve` against hostile clients: slow connections and truncated bodies cannot lock the others out,
other origins cannot use it (DNS rebinding, cross-origin POSTs), odd form fields and options are clear errors,
and a photo with many faces is answered for its largest few."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request

import pytest
from helpers import running_server, tiny_model
from starlette.testclient import TestClient

from faceattr.cli.entry import build_parser, main
from faceattr.predict import demo_photos as demo
from faceattr.serve import app as serve_app
from faceattr.serve.app import create_app, guarded_protocol, host_name, server_config
from faceattr.serve.service import DEFAULT_MAX_FACES, Service, largest_faces

LOOPBACK = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    model = tiny_model(root / "model.pt")
    return {"model": model, "service": Service(model), "photo": demo.jpeg(demo.demo_photo(faces=2).rgb)}


def _post(client: TestClient, path: str, data: bytes, headers: dict | None = None, **fields):
    return client.post(
        path,
        files={"photo": ("photo.jpg", data, "image/jpeg")},
        data={k: str(v) for k, v in fields.items()},
        headers=headers or {},
    )


# --- other origins -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", "http://127.0.0.1", "http://LOCALHOST:1"],
)
def test_loopback_names_are_answered(setup, base_url):
    client = TestClient(create_app(setup["service"]), base_url=base_url)
    for path in ("/", "/healthz", "/static/app.js"):
        assert client.get(path).status_code == 200, path
    answer = _post(client, "/api/predict", setup["photo"])  # no Origin header: curl, scripts
    assert answer.status_code == 200 and len(answer.json()["rows"]) == 2


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.", ""])
def test_other_host_names_are_refused_dns_rebinding(setup, host):
    """A page of evil.example whose name is made to resolve to 127.0.0.1 reaches the server, and says so."""
    client = TestClient(create_app(setup["service"]), base_url=LOOPBACK)
    headers = {"host": host, "origin": f"http://{host}"}
    for path in ("/", "/healthz", "/api/model"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 400 and "is not a name of this server" in answer.json()["error"], path
    answer = _post(client, "/api/predict", setup["photo"], headers=headers)
    assert answer.status_code == 400 and "--allow-host" in answer.json()["error"]
    assert answer.headers["content-security-policy"]  # refusals carry the security headers too


def test_allowed_host_names_are_answered(setup):
    app = create_app(setup["service"], allowed_hosts=["photos.lan", "192.168.1.5", "[fd00::5]"])
    for base_url in ("http://photos.lan:8000", "http://PHOTOS.LAN", "http://192.168.1.5:8000", "http://[fd00::5]:80"):
        client = TestClient(app, base_url=base_url)
        assert client.get("/api/model").status_code == 200, base_url
        origin = base_url.lower()
        assert _post(client, "/api/predict", setup["photo"], headers={"origin": origin}).status_code == 200
    assert TestClient(app, base_url="http://other.lan").get("/").status_code == 400


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1:9000", "http://localhost:8000", "https://evil.example"]
)
def test_cross_origin_posts_are_refused(setup, origin):
    client = TestClient(create_app(setup["service"]), base_url=LOOPBACK)
    for path, fields in (("/api/predict", {}), ("/api/explain", {"attribute": "Male"})):
        answer = _post(client, path, setup["photo"], headers={"origin": origin}, **fields)
        assert answer.status_code == 403, (path, answer.text)
        assert "cross-origin requests are refused" in answer.json()["error"]
    # a cross-origin GET is answered (without CORS headers the other page cannot read it)
    assert client.get("/healthz", headers={"origin": origin}).status_code == 200


def test_same_origin_posts_from_the_page_are_answered(setup):
    client = TestClient(create_app(setup["service"]), base_url=LOOPBACK)
    for origin in ("http://127.0.0.1:8000", "HTTP://127.0.0.1:8000"):
        answer = _post(client, "/api/predict", setup["photo"], headers={"origin": origin})
        assert answer.status_code == 200 and len(answer.json()["faces"]) == 2
    answer = _post(client, "/api/explain", setup["photo"], headers={"origin": LOOPBACK}, attribute="Male")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"


def test_host_name_of_a_host_header():
    assert [host_name(h) for h in ("127.0.0.1:8000", "LocalHost", "[::1]:8000", "[::1]", "::1", "a.b:1")] == [
        "127.0.0.1",
        "localhost",
        "::1",
        "::1",
        "::1",
        "a.b",
    ]


# --- odd options ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["serve", "--max-upload-mb", "1e308"], "--max-upload-mb: expected a positive number up to 1024"),
        (["serve", "--max-upload-mb", "inf"], "--max-upload-mb: expected a positive number up to 1024"),
        (["serve", "--max-upload-mb", "nan"], "--max-upload-mb: expected a positive number up to 1024"),
        (["serve", "--max-megapixels", "1001"], "--max-megapixels: expected a positive number up to 1000"),
        (["predict", "x.jpg", "--max-megapixels", "1e308"], "--max-megapixels: expected a positive number up to 1000"),
        (["serve", "--max-faces", "0"], "--max-faces: expected a whole number of at least 1"),
        (["serve", "--allow-host", "evil.example/x"], "--allow-host: expected a host name"),
        (["serve", "--allow-host", "évil.example"], "--allow-host: expected a host name"),
    ],
)
def test_out_of_range_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_options_at_their_bounds_are_accepted():
    args = build_parser().parse_args(
        [
            "serve",
            "--max-upload-mb",
            "1024",
            "--max-megapixels",
            "1000",
            "--allow-host",
            "[FD00::5]",
            "--allow-host",
            "a.lan",
        ]
    )
    assert (args.max_upload_mb, args.max_megapixels, args.allow_host) == (1024.0, 1000.0, ["fd00::5", "a.lan"])
    assert args.max_faces == DEFAULT_MAX_FACES


@pytest.fixture
def no_server(monkeypatch):
    """uvicorn must not start (the test would hang): its Server.run fails the test instead."""
    import uvicorn

    def run(self, *args, **kwargs):
        raise AssertionError("uvicorn started")

    monkeypatch.setattr(uvicorn.Server, "run", run)


def test_a_port_in_use_is_one_line_and_exit_code_2(setup, capsys, no_server):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--model", str(setup["model"]), "--port", str(port)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith(f"faceattr: error: --port {port}: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in "\n".join(err)


def test_uvicorns_own_startup_failure_is_exit_code_2(setup, capsys, monkeypatch):
    """The port taken between the check and uvicorn's bind: uvicorn exits 3, faceattr says 2."""
    import uvicorn

    def run(self, *args, **kwargs):
        raise SystemExit(3)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr(serve_app, "port_problem", lambda host, port: None)
    assert main(["serve", "--model", str(setup["model"]), "--port", "8765"]) == 2
    assert "faceattr: error: --port 8765: uvicorn could not listen" in capsys.readouterr().err


# --- many faces ----------------------------------------------------------------------------------------------


def test_largest_faces_keeps_the_largest_in_their_order():
    boxes = [[0, 0, 10, 10], [0, 0, 30, 30], [0, 0, 20, 20], [0, 0, 30, 30], [0, 0, 5, 5]]
    assert largest_faces(boxes, 2) == [1, 3]
    assert largest_faces(boxes, 3) == [1, 2, 3]
    assert largest_faces(boxes, 5) == largest_faces(boxes, 50) == [0, 1, 2, 3, 4]
    assert largest_faces([], 1) == []


def test_a_photo_over_max_faces_is_answered_for_its_largest_and_says_so(setup):
    service = Service(setup["model"], max_faces=1)
    client = TestClient(create_app(service), base_url=LOOPBACK)
    body = _post(client, "/api/predict", setup["photo"]).json()
    full = TestClient(create_app(setup["service"]), base_url=LOOPBACK)
    everything = _post(full, "/api/predict", setup["photo"]).json()
    assert len(everything["faces"]) == 2 and everything["faces_found"] == 2 and everything["warnings"] == []
    areas = [face["box"][2] * face["box"][3] for face in everything["faces"]]
    largest = max(range(2), key=lambda k: (areas[k], -k))
    assert body["faces_found"] == 2 and len(body["faces"]) == len(body["rows"]) == 1
    assert body["faces"][0]["box"] == everything["faces"][largest]["box"]
    assert body["warnings"] == ["photo.jpg: 2 faces found; only the 1 largest are answered (--max-faces)"]
    answer = _post(client, "/api/explain", setup["photo"], attribute="Male", face=1)
    assert answer.status_code == 400 and "has 1 face(s)" in answer.json()["error"]
    assert client.get("/api/model").json()["max_faces"] == 1


# --- slow clients (a real uvicorn server) --------------------------------------------------------------------

HEADER_TIMEOUT_S, BODY_IDLE_S, BODY_TOTAL_S = 3.0, 2.0, 4.0
SLOW_CONNECTIONS = 70  # more than the 64 connections that locked `faceattr serve` out before


@contextlib.contextmanager
def guarded_server(service: Service):
    """`faceattr serve`'s uvicorn configuration (server_config) with shorter timeouts, on a free loopback port in
    a thread of this process; its URL and port."""
    app = create_app(service, body_idle_s=BODY_IDLE_S, body_total_s=BODY_TOTAL_S)
    config = server_config(
        app, log_level="warning", lifespan="off", http=guarded_protocol(header_timeout_s=HEADER_TIMEOUT_S)
    )
    with running_server(app, config) as url:
        yield url, int(url.rsplit(":", 1)[1])


def _connect(port: int, first: bytes) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(first)
    return conn


def _answer_of(conn: socket.socket, within: float) -> tuple[bytes, float]:
    """What the server sent before closing `conn` (b'' when it closed without a word), and when it closed."""
    start, data = time.monotonic(), b""
    conn.settimeout(within)
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        return data + b" [still open]", time.monotonic() - start
    return data, time.monotonic() - start


def _timed_get(url: str) -> tuple[int, float]:
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()
        return response.status, time.monotonic() - start


@pytest.mark.e2e  # a real uvicorn server
def test_slow_clients_cannot_lock_the_others_out(setup):
    with guarded_server(setup["service"]) as (url, port):
        slow = [_connect(port, b"G") for _ in range(SLOW_CONNECTIONS)]
        stop = threading.Event()

        def trickle() -> None:  # one more header byte a second on each, for at most 6 s
            for byte in b"ET /healthz"[:6]:
                if stop.wait(1.0):
                    return
                for conn in slow:
                    with contextlib.suppress(OSError):
                        conn.send(bytes([byte]))

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        try:
            time.sleep(1.5)  # the slow ones are connected and trickling
            for path in ("/healthz", "/api/model", "/healthz"):
                status, took = _timed_get(url + path)
                assert status == 200 and took < 2.0, (path, status, took)

            # a kept-alive connection that then trickles its next request is cut off too
            kept = _connect(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            kept.settimeout(5)
            first = b""
            while not first.endswith(b'{"status":"ok"}'):
                first += kept.recv(65536)
            assert first.startswith(b"HTTP/1.1 200")
            kept.send(b"GE")

            # every slow connection is answered 408 (its headers too slow) or 503 (the oldest waiting of a
            # client with too many) and closed, within the header timeout
            answers = [_answer_of(conn, HEADER_TIMEOUT_S + 3) for conn in slow]
            kept_answer = _answer_of(kept, HEADER_TIMEOUT_S + 3)
        finally:
            stop.set()
            trickler.join(timeout=5)
            for conn in slow:
                conn.close()
        firsts = [data.split(b"\r\n")[0] for data, _ in answers]
        assert set(firsts) <= {b"HTTP/1.1 408 Request Timeout", b"HTTP/1.1 503 Service Unavailable"}, set(firsts)
        assert firsts.count(b"HTTP/1.1 408 Request Timeout") <= 16  # WAITING_PER_CLIENT
        assert kept_answer[0].startswith(b"HTTP/1.1 408")
        status, took = _timed_get(url + "/healthz")
        assert status == 200 and took < 2.0


def _upload_head(length: int) -> bytes:
    return (
        f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


@pytest.mark.e2e  # a real uvicorn server
def test_truncated_and_dragging_bodies_are_dropped(setup):
    with guarded_server(setup["service"]) as (url, port):
        start = time.monotonic()
        truncated = [_connect(port, _upload_head(100_000) + b"--x\r\n1234") for _ in range(8)]  # UPLOADS_PER_CLIENT
        time.sleep(0.3)
        ninth, _ = _answer_of(_connect(port, _upload_head(100_000) + b"--x"), 3)
        assert ninth.startswith(b"HTTP/1.1 429") and b"uploads at once" in ninth
        status, took = _timed_get(url + "/healthz")  # the bodies being waited for hold nobody else up
        assert status == 200 and took < 1.0
        for conn in truncated:
            data, _ = _answer_of(conn, BODY_IDLE_S + 3)
            assert data.startswith(b"HTTP/1.1 408") and b"nothing received for 2 s" in data, data[:200]
            conn.close()
        assert time.monotonic() - start < BODY_IDLE_S + 2
        start = time.monotonic()
        dragging = _connect(port, _upload_head(100_000))
        for _ in range(int(BODY_TOTAL_S * 2) + 4):  # a byte every 0.5 s: never idle, but too long in all
            try:
                dragging.send(b"-")
            except OSError:
                break
            time.sleep(0.5)
        data, _ = _answer_of(dragging, 3)
        assert data.startswith(b"HTTP/1.1 408") and b"not complete within 4 s" in data, data[:200]
        dragging.close()
        assert time.monotonic() - start < BODY_TOTAL_S + 6
