"""The built book as a reader meets it: every page opened in headless Chromium, served on loopback.

Fails on a same-origin response of 400 or more (download buttons included), a JavaScript error, an image
that does not decode, a relative link or #anchor that points nowhere, and a figure panel that is all one
colour. Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).
"""

import functools
import http.server
import os
import shutil
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import urlopen

import numpy as np
import pytest
from PIL import Image

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Chromium and ChromeDriver: "
                                 "apt-get install chromium chromium-driver (as .ci/run does)")]


class Links(HTMLParser):
    """Every href and src of a page, and every id it defines."""

    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key) and tag in ("a", "img", "link", "script"):
                self.refs.append(attrs[key])


@functools.cache
def parsed(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(errors="replace"))
    return links


@pytest.fixture(scope="module")
def site(smoke_book):
    """The book served on 127.0.0.1; yields (base URL, html folder, [(path, status)] of every response)."""
    responses = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            responses.append((self.path, int(code)))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(smoke_book)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", smoke_book, responses
    server.shutdown()


def javascript_error(entry: dict) -> bool:
    """A script that failed to load or raised (`Uncaught ...`); not a theme's own console message."""
    message = entry["message"]
    return entry["level"] == "SEVERE" and ("Uncaught" in message or "Failed to load resource" in message)


def pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html")
                  if "_static" not in p.parts and p.name != "genindex.html" and not p.name.startswith("."))


def test_every_page_loads_without_errors_in_chromium(site):
    from selenium import webdriver

    base, html, responses = site
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    problems = []
    try:
        for page in pages(html):
            url = urljoin(base, page.relative_to(html).as_posix())
            driver.get(url)
            broken = driver.execute_script(
                "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                ".map(i => i.src)")
            problems += [f"{url}: image does not decode: {src}" for src in broken]
            problems += [f"{url}: JavaScript: {entry['message']}" for entry in driver.get_log("browser")
                         if javascript_error(entry)]
    finally:
        driver.quit()
    problems += [f"HTTP {status}: {path}" for path, status in responses if status >= 400]
    assert not problems, "\n".join(problems)


def test_every_relative_link_and_anchor_points_somewhere(site):
    base, html, responses = site
    problems = []
    for page in pages(html):
        for ref in parsed(page).refs:
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("mailto:", "javascript:")):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{page.relative_to(html)}: {ref} points at a missing file")
            elif parts.path:  # the server must answer it too (download buttons included)
                with urlopen(urljoin(base, target.relative_to(html).as_posix())) as reply:
                    assert reply.status < 400
            if parts.fragment and target.suffix == ".html" and target.exists():
                if unquote(parts.fragment) not in parsed(target).ids:
                    problems.append(f"{page.relative_to(html)}: {ref}: no #{parts.fragment} on that page")
    assert not problems, "\n".join(sorted(set(problems)))


def blank_panels(path: Path, columns: int = 3) -> list[int]:
    """Columns of a figure whose drawn (non-white) pixels are nearly all one colour, such as a black panel."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=float) / 255
    found = []
    for k, part in enumerate(np.array_split(rgb, columns, axis=1)):
        drawn = part[(part < 0.95).any(-1)]
        if len(drawn) > 0.3 * part.shape[0] * part.shape[1] and drawn.std(0).max() < 0.01:
            found.append(k)
    return found


def test_no_figure_has_a_blank_panel(site):
    _, html, _ = site
    figures = sorted((html / "_images").glob("*.png"))
    assert figures, "the book has no figures"
    problems = [f"{p.name}: column {k + 1} of 3 is one colour" for p in figures for k in blank_panels(p)]
    assert not problems, "\n".join(problems)


def test_the_blank_panel_check_catches_a_black_ground_truth(tmp_path):
    rgb = np.full((90, 90, 3), 255, np.uint8)
    rgb[10:80, 5:25] = np.random.default_rng(0).integers(0, 255, (70, 20, 3))
    rgb[10:80, 35:55] = np.random.default_rng(1).integers(0, 255, (70, 20, 3))
    rgb[:, 60:] = 0  # the third column solid black, as the triplet bug drew it
    Image.fromarray(rgb).save(tmp_path / "t.png")
    assert blank_panels(tmp_path / "t.png") == [2]


#: What a chapter page may weigh: its HTML (the explorers' saved frames are inside it) and its images.
PAGE_LIMIT_BYTES = 8 * 1024 * 1024


def page_weight(page: Path) -> int:
    """Bytes a reader downloads for a page: its HTML and the local images it shows."""
    images = {(page.parent / unquote(urlsplit(ref).path)).resolve() for ref in parsed(page).refs
              if not urlsplit(ref).scheme and ref.lower().endswith((".png", ".jpg", ".jpeg", ".svg", ".gif"))}
    return page.stat().st_size + sum(p.stat().st_size for p in images if p.exists())


def test_the_test_set_explorer_works_offline_in_the_static_book(site):
    """Chapter 7 without a kernel: choosing another test image and another model changes the prediction."""
    from selenium import webdriver
    from selenium.webdriver.support.ui import Select

    base, html, responses = site
    page = html / "book" / "executed" / "07_evaluate.html"
    assert page_weight(page) < PAGE_LIMIT_BYTES, f"chapter 7 weighs {page_weight(page) / 2**20:.1f} MB"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        driver.get(urljoin(base, page.relative_to(html).as_posix()))
        explorer = None
        for _ in range(40):  # the page's scripts may still be laying it out
            explorer = next((e for e in driver.find_elements("css selector", ".xrfnb-explorer")
                             if "Test-set explorer" in e.get_attribute("textContent")), None)
            if explorer is not None:
                break
            time.sleep(0.25)
        assert explorer is not None, "chapter 7 has no test-set explorer"
        driver.execute_script("arguments[0].scrollIntoView()", explorer)
        prediction = explorer.find_element("css selector", 'img[alt="prediction"]')
        title = explorer.find_element("css selector", '[data-slot="0"]')

        def shown() -> tuple[str, str]:
            return prediction.get_attribute("src"), title.text

        first = shown()
        assert first[0].startswith("data:image/") and "MS-SSIM" in first[1] and "UIQI" in first[1]
        image, model = (Select(s) for s in explorer.find_elements("css selector", "select"))
        image.select_by_index(1)
        other_image = shown()
        model.select_by_index(len(model.options) - 1)
        other_model = shown()
        if os.environ.get("XRFNB_SCREENSHOTS"):
            driver.save_screenshot(os.path.join(os.environ["XRFNB_SCREENSHOTS"], "book_07_test_set.png"))
        errors = [e["message"] for e in driver.get_log("browser") if javascript_error(e)]
    finally:
        driver.quit()
    assert other_image[0] != first[0] and other_model[0] != other_image[0]
    assert other_model[1] != other_image[1], "the title does not follow the model"
    assert not errors, errors
    scripts = [ref for ref in parsed(page).refs if urlsplit(ref).scheme and ref.split("?")[0].endswith(".js")]
    assert not scripts, f"chapter 7 loads scripts from elsewhere: {scripts}"
