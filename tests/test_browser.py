"""`faceattr serve`'s page in a real browser: headless Chromium (Debian's package, driven by Playwright) against
a real uvicorn server on loopback: upload a photo of two faces, see two face cards, click an attribute,
see its heat map; the page asks nothing of any other address and breaks no rule of its security policy.

FACEATTR_SCREENSHOT=path saves the screenshot there (besides the test's temporary folder);
FACEATTR_SERVE_MODEL=models/model.pt serves that model instead of the test's untrained one, so a docs/serve-and-api.md
screenshot comes from a trained model through this same code path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import running_server, tiny_model

from faceattr.predict import demo_photos as demo
from faceattr.serve.app import create_app
from faceattr.serve.service import Service

pytestmark = pytest.mark.e2e  # a uvicorn server and Chromium


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    return path


def test_upload_shows_two_faces_and_a_clicked_heat_map(tmp_path):
    chromium = _chromium()
    from playwright.sync_api import expect, sync_playwright

    model = Path(os.environ.get("FACEATTR_SERVE_MODEL") or tiny_model(tmp_path / "model.pt"))
    photo = tmp_path / "two_faces.jpg"
    photo.write_bytes(demo.jpeg(demo.demo_photo(faces=2).rgb))
    requests, problems = [], []
    service = Service(model)
    with running_server(create_app(service)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: message.type == "error" and problems.append(message.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(url + "/")
            # Waits use selectors: a JavaScript predicate would be eval(), which the page's policy forbids.
            expect(page.locator("#model-info")).to_contain_text(service.spec.arch)
            page.set_input_files("#file", str(photo))
            page.wait_for_selector(".face >> nth=1", timeout=30_000)
            assert page.locator(".face").count() == 2 and page.locator(".box").count() == 2
            assert "2 faces" in page.locator("#status").text_content()
            first = page.locator(".face").first
            bars = first.locator(".bars li")
            assert bars.count() == len(service.spec.attributes)
            shown = [float(v) for v in bars.locator(".value").all_text_contents()]
            assert shown == sorted(shown, reverse=True)  # sorted bars, most probable first
            assert first.locator("img.crop").evaluate("img => img.complete && img.naturalWidth") == 178
            attribute = bars.nth(0).get_attribute("data-attribute")
            bars.nth(0).click()
            heat = first.locator("img.heat")
            expect(heat).to_have_attribute("data-attribute", attribute, timeout=30_000)
            assert heat.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [178, 218]
            assert attribute in first.locator(".heat-caption").text_content()
            shots = [tmp_path / "serve.png"] + (
                [Path(os.environ["FACEATTR_SCREENSHOT"])] if os.environ.get("FACEATTR_SCREENSHOT") else []
            )
            for shot in shots:
                shot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "serve.png").stat().st_size > 10_000
    elsewhere = [r for r in requests if not r.startswith((url + "/", "data:", "blob:" + url + "/"))]
    assert requests and elsewhere == []
    assert any("/api/explain" in r for r in requests)
    assert problems == []  # no script error, no request or style refused by the Content-Security-Policy
