"""Both built books (smoke and published) as a reader meets them: every page opened in headless Chromium,
served on loopback.

Fails on a same-origin response of 400 or more (download buttons included), any console error (the
theme's included), an image that does not decode, a relative link or #anchor that points nowhere, a figure
panel that is all one colour, an image shown above 1.1x its pixel size at desktop width, an image without
a caption or with a file path for alt text, a build machine's path in a page's text, a code block cut off
at desktop width, and a table caption clipped at 1400 px or 390 px. (A constant map drawn without a note
is refused when the figure is saved: `tests/test_plots.py`.)

The reader checks of `reader_checks.js` (its header gives each rule) fail on table cells whose text
touches its neighbour, a page wider than a 390 px phone (or content cut off), a table that scrolls without
a visible cue, an image shown at under half its width on a phone that cannot be opened, figure text under
7 px high as a phone shows it (from the height `plots.save` records in the PNG), raw Markdown in the text,
and a parameter's name where its value belongs; each is proven to fail on a synthetic page.
A page may weigh at most 3 MB (its HTML and everything it loads), and the site holds no copied
notebooks, source maps or Font Awesome script. Needs Debian's `chromium` and `chromium-driver`
(`.ci/run` installs them).
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


@pytest.fixture(scope="module", params=["smoke_book", "published_book"])
def site(request):
    """Each book served on 127.0.0.1; yields (base URL, html folder, [(path, status)] of every response)."""
    book = request.getfixturevalue(request.param)
    responses = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            responses.append((self.path, int(code)))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(book)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", book, responses
    server.shutdown()


def console_error(entry: dict) -> bool:
    """Any console error: a script that failed to load or raised, or a theme's own error message."""
    return entry["level"] == "SEVERE"


#: Widths (CSS px) at which the pages are checked: a desktop window and a phone.
DESKTOP, PHONE = 1400, 390
#: The narrowest a PHONE-wide page shows a figure wider than this (CSS px): a notebook output in the built
#: book (measured: 327 px at 390; a Markdown page's figure is wider). What `tests/test_phone_figures.py`
#: assumes, without a browser; `NARROWER_THAN_THE_COLUMN` checks it.
PHONE_COLUMN_PX = 327
#: An image may be shown at most this much larger than its own pixels.
MAX_UPSCALE = 1.1
#: Text that only a build machine's file system has (absolute home, work and temporary folders).
BUILD_PATH = r"(^|[\s'\"(])(/work/|/home/|/tmp/|/Users/|/root/|[A-Z]:\\)"

#: Per page, in the browser: what a reader would see wrong. Returns [[kind, detail]].
LAYOUT_PROBLEMS = r"""
const [desktop, maxUpscale, buildPath] = arguments;
const article = document.querySelector('article') || document.body;
const found = [];
if (!article) return found;  // a redirect page (index.html) before it moves on
const clipper = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
  if (getComputedStyle(p).overflowX !== 'visible') return p; } return null; };
for (const c of article.querySelectorAll('table caption')) {
  const r = c.getBoundingClientRect(), box = clipper(c);
  if (box) { const b = box.getBoundingClientRect();
    if (r.left < b.left - 1 || r.right > b.right + 1) found.push(['table caption clipped', c.innerText.slice(0, 60)]); }
}
if (desktop) {
  for (const img of article.querySelectorAll('img')) {
    const shown = img.getBoundingClientRect().width, name = img.src.split('/').pop();
    if (img.naturalWidth && shown > maxUpscale * img.naturalWidth)
      found.push(['image upscaled', `${name}: ${img.naturalWidth} px shown at ${Math.round(shown)} px`]);
    const figure = img.closest('figure'), caption = figure && figure.querySelector('figcaption');
    if (!caption || !caption.innerText.trim()) found.push(['figure without caption', name]);
    const alt = (img.getAttribute('alt') || '').trim();
    if (!alt || /[\\/]|\.(png|jpe?g|svg|gif)$/i.test(alt)) found.push(['alt text missing or a path', `${name}: ${alt}`]);
  }
  for (const pre of article.querySelectorAll('pre')) {
    if (pre.closest('.cell')) continue;  // a notebook's code cells scroll, as code does; prose blocks must fit
    if (pre.scrollWidth > pre.clientWidth + 1) found.push(['code block cut off', pre.innerText.split('\n')[0].slice(0, 60)]);
  }
  const match = document.body.innerText.match(new RegExp(buildPath, 'm'));
  if (match) { const at = document.body.innerText.indexOf(match[0]);
    found.push(['build path in the text', document.body.innerText.slice(at, at + 80)]); }
}
return found;
"""


#: Per page, in the browser: the figures (`plots.save`'s, named in `figures`) a phone shows narrower than
#: the width `test_phone_figures.py` assumes for them (their own, or PHONE_COLUMN_PX where wider), which
#: would shrink their text below what that test measured.
NARROWER_THAN_THE_COLUMN = r"""
const [column, figures] = arguments;
const article = document.querySelector('article') || document.body;
if (!article) return [];  // a redirecting page (index.html) between two documents: it shows no figure
const name = img => decodeURIComponent(img.src.split('/').pop().split('?')[0]);
return Array.from(article.querySelectorAll('img')).filter(i => i.naturalWidth && figures.includes(name(i)))
  .map(i => [name(i), i.naturalWidth, i.getBoundingClientRect().width])
  .filter(([, natural, shown]) => shown < Math.min(natural, column) - 1)
  .map(([name, natural, shown]) => `${name}: ${natural} px shown at ${Math.round(shown)} px`);
"""


def pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html")
                  if "_static" not in p.parts and p.name != "genindex.html" and not p.name.startswith("."))


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def test_every_page_loads_without_errors_in_chromium(site, browser):
    base, html, responses = site
    problems = []
    browser.set_window_size(DESKTOP, 1000)
    for page in pages(html):
        url = urljoin(base, page.relative_to(html).as_posix())
        browser.get(url)
        deadline = time.monotonic() + 10  # an explorer sets its images' sources by script, after the load
        while True:
            broken = browser.execute_script(
                "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                ".map(i => i.src)")
            if not broken or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        problems += [f"{url}: image does not decode: {src}" for src in broken]
        problems += [f"{url}: console: {entry['message']}" for entry in browser.get_log("browser")
                     if console_error(entry)]
    problems += [f"HTTP {status}: {path}" for path, status in responses if status >= 400]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_every_page_reads_well_at_desktop_and_phone_width(site, browser, width):
    """Figures at no more than 1.1x their pixels, each with a caption and a real alt text, no build path in
    the text, no code block cut off (desktop); no table caption clipped (both widths)."""
    base, html, _ = site
    browser.set_window_size(width, 1000)
    problems = []
    for page in pages(html):
        browser.get(urljoin(base, page.relative_to(html).as_posix()))
        browser.execute_script("return document.fonts.ready")
        found = browser.execute_script(LAYOUT_PROBLEMS, width == DESKTOP, MAX_UPSCALE, BUILD_PATH)
        problems += [f"{page.relative_to(html)} at {width} px: {kind}: {detail}" for kind, detail in found]
    assert not problems, "\n".join(problems)


def test_a_phone_shows_every_figure_at_least_as_wide_as_the_figure_test_assumes(site, browser):
    """`test_phone_figures.py` judges each figure's text at its own width or PHONE_COLUMN_PX: no page may
    show one narrower."""
    base, html, _ = site
    figures = sorted(figure_records(html))
    browser.set_window_size(PHONE, 1000)
    problems = []
    for page in pages(html):
        browser.get(urljoin(base, page.relative_to(html).as_posix()))
        problems += [f"{page.relative_to(html)}: {found}"
                     for found in browser.execute_script(NARROWER_THAN_THE_COLUMN, PHONE_COLUMN_PX, figures)]
    assert figures and not problems, "\n".join(problems) or "no figure carries plots.save's record"


def test_the_phone_column_check_finds_a_figure_shown_narrower(tmp_path, browser):
    Image.new("RGB", (1200, 300), "white").save(tmp_path / "wide.png")
    (tmp_path / "page.html").write_text(
        "<html><body style='margin:8px'><article>"
        "<figure style='margin:0'><img src='wide.png' alt='a' style='max-width:100%'></figure>"
        "<figure style='margin:0'><img src='wide.png' alt='b' style='max-width:100%;width:200px'></figure>"
        "<img src='icon.png' alt='not a figure' style='width:20px'>"
        "</article></body></html>")
    Image.new("RGB", (64, 64), "white").save(tmp_path / "icon.png")
    browser.set_window_size(PHONE, 1000)
    browser.get((tmp_path / "page.html").as_uri())
    found = browser.execute_script(NARROWER_THAN_THE_COLUMN, PHONE_COLUMN_PX, ["wide.png"])
    assert found == ["wide.png: 1200 px shown at 200 px"]


def test_the_layout_checks_catch_each_defect(tmp_path, browser):
    """A page with every defect: an upscaled, uncaptioned image with a path for alt text, a build path, a
    cut-off code block and a clipped table caption."""
    Image.new("RGB", (50, 40), "red").save(tmp_path / "small.png")
    wide = "".join(f"<td>{k:06d}</td>" for k in range(60))
    (tmp_path / "bad.html").write_text(
        "<html><body><article style='width:700px'>"
        "<img src='small.png' alt='../_images/small.png' style='width:600px'>"
        "<p>written by /work/laptop3/xrfnb/scans/realdata.py</p>"
        f"<pre style='overflow:auto'>{'x' * 300}</pre>"
        f"<div style='overflow-x:auto'><table><caption>{'a long caption ' * 30}</caption><tr>{wide}</tr></table></div>"
        "</article></body></html>")
    browser.set_window_size(DESKTOP, 1000)
    browser.get((tmp_path / "bad.html").as_uri())
    kinds = {kind for kind, _ in browser.execute_script(LAYOUT_PROBLEMS, True, MAX_UPSCALE, BUILD_PATH)}
    assert kinds == {"image upscaled", "figure without caption", "alt text missing or a path",
                     "build path in the text", "code block cut off", "table caption clipped"}


#: The reader checks (`reader_checks.js`, whose header states each rule), and the widths each runs at.
READER_CHECKS = (Path(__file__).with_name("reader_checks.js")).read_text()
AT_WIDTH = {DESKTOP: ("cellsTouch", "hiddenScroll", "rawMarkdown", "parameterName"),
            PHONE: ("cellsTouch", "hiddenScroll", "pageTooWide", "shrunkImage", "figureText")}


def reader_problems(browser, checks, params: dict | None = None, figures: dict | None = None) -> list[list[str]]:
    """[[kind, detail]] the named checks find on the page open in `browser`."""
    browser.execute_script("return document.fonts.ready")
    return browser.execute_script(READER_CHECKS + "\nreturn run(arguments[0], arguments[1], arguments[2]);",
                                  list(checks), params or {}, figures or {})


def figure_records(html: Path) -> dict[str, dict[str, str]]:
    """{image file name: what `plots.save` recorded in it} for the site's figures that carry a record."""
    from xrfnb import plots

    return {p.name: found for p in sorted((html / "_images").glob("*.png")) if (found := plots.figure_record(p))}


def record_parameters(browser, base: str) -> dict:
    """The run's parameters {name: value}, from the execution record's parameter table."""
    browser.get(urljoin(base, "book/execution_record.html"))
    params, deadline = {}, time.monotonic() + 10
    while not params and time.monotonic() < deadline:  # the page may still be loading under load
        params = browser.execute_script(READER_CHECKS + "\nreturn recordParameters();")
        time.sleep(0 if params else 0.5)
    assert params, "the execution record has no parameter table"
    return params


def unexpected(problems: list[tuple[str, str, str]]) -> list[str]:
    """The problems (page, kind, detail) a book must not have, one line each (both books: the published
    one is drawn by the same code, its run republished after every check here existed)."""
    return [f"{page}: {kind}: {detail}" for page, kind, detail in problems]


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_every_page_passes_the_reader_checks(site, browser, width):
    from xrfnb import plots

    base, html, _ = site
    params, records = record_parameters(browser, base), figure_records(html)
    figures = {name: float(found[plots.TEXT_PX_KEY]) for name, found in records.items() if plots.TEXT_PX_KEY in found}
    browser.set_window_size(width, 1000)
    problems = []
    for page in pages(html):
        browser.get(urljoin(base, page.relative_to(html).as_posix()))
        problems += [(page.relative_to(html).as_posix(), kind, detail)
                     for kind, detail in reader_problems(browser, AT_WIDTH[width], params, figures)]
    wrong = unexpected(problems)
    assert not wrong, f"at {width} px:\n" + "\n".join(wrong)


#: One synthetic page per check, with the defect, and the same page as the book's style draws it (which
#: must pass: the checks find the defect, not the kind of content).
CELLS = "<tr><td style='padding:{0}'>0.4131</td><td style='padding:{0};text-align:right'>22.9901</td></tr>"
WIDE_TABLE = "<table><tr>" + "".join(f"<td>{k:06d}</td>" for k in range(40)) + "</tr></table>"
SHA256 = "e09a9e6b1b91e44942f9b9e53b002a6501631fe906f271ceab" + "0" * 14
CUE = "background:linear-gradient(to left, #fff, transparent) right / 2em 100% no-repeat local"
SYNTHETIC = {
    "cellsTouch": (f"<table style='border-collapse:collapse'>{CELLS.format('0')}</table>",
                   f"<table>{CELLS.format('0.3em 0.7em')}</table>"),
    "pageTooWide": (f"<p>the lock's sha256 <code>{SHA256}</code></p>",
                    f"<p>the lock's sha256 <code style='overflow-wrap:anywhere'>{SHA256}</code></p>"),
    "hiddenScroll": (f"<div style='overflow-x:auto;scrollbar-width:none'>{WIDE_TABLE}</div>",
                     f"<div style='overflow-x:auto;{CUE}'>{WIDE_TABLE}</div>"),
    "shrunkImage": ("<img src='wide.png' alt='a wide figure' style='max-width:100%'>",
                    "<a href='wide.png'><img src='wide.png' alt='a wide figure' style='max-width:100%'></a>"),
    "figureText": ("<a href='wide.png'><img src='wide.png' alt='a wide figure' style='max-width:100%'></a>",
                   "<a href='narrow.png'><img src='narrow.png' alt='a narrow figure' style='max-width:100%'></a>"),
    "rawMarkdown": ("<p>training parameters are *[choice]*s, trained for **5** epochs (`compare_epochs`), "
                    "see [the record](record.md)</p>",
                    "<p>training parameters are <em>choices</em>, trained for <strong>5</strong> epochs "
                    "(<code>compare_epochs</code>, <code>a**2</code>)</p>"),
    "parameterName": ("<p>The static book holds the first explore_images test images.</p>"
                      "<p>It holds the first <code>explore_images</code> test images.</p>",
                      "<p>The static book holds the first 12 test images (<code>explore_images</code>); "
                      "K_max and s_loss = (1 - s)/2 are maths; the file run_record.json is a name.</p>"
                      "<table><tr><th>srgb_loss</th></tr></table>"
                      "<p><code>explore_images</code> and <code>compare_epochs</code> are parameters.</p>"),
}
#: What each synthetic page with a defect must be found to hold.
FOUND = {"cellsTouch": ["table cells touch"], "pageTooWide": ["page wider than the viewport"],
         "hiddenScroll": ["table scrolls without a visible cue"],
         "shrunkImage": ["image too small to read and not openable"], "rawMarkdown": ["raw Markdown in the text"],
         "figureText": ["figure text below a legible size"],
         "parameterName": ["parameter name in the prose", "parameter name where its value belongs"]}


@pytest.mark.parametrize("check", sorted(SYNTHETIC))
def test_each_reader_check_fails_on_its_defect_and_passes_the_books_style(check, tmp_path, browser):
    Image.new("RGB", (1600, 300), "white").save(tmp_path / "wide.png")
    Image.new("RGB", (330, 300), "white").save(tmp_path / "narrow.png")
    params = {"explore_images": "12", "compare_epochs": "5"}
    figures = {"wide.png": 12.0, "narrow.png": 12.0}  # text 12 px high in the image: 3 px shown, and 12
    browser.set_window_size(PHONE, 1000)
    kinds = {}
    for name, body in zip(("bad", "good"), SYNTHETIC[check]):
        (tmp_path / f"{name}.html").write_text(f"<html><body style='margin:8px'><article>{body}</article></body></html>")
        browser.get((tmp_path / f"{name}.html").as_uri())
        kinds[name] = sorted(kind for kind, _ in reader_problems(browser, [check], params, figures))
    assert kinds == {"bad": FOUND[check], "good": []}


#: The most a page may weigh: its HTML and everything it loads (issue 37: no page above 3 MB).
PAGE_LIMIT_BYTES = 3_000_000


def settled_weight(browser, wait_s: float = 10) -> dict:
    """The open page's weight once it is shown to its end and has loaded nothing more for half a second."""
    browser.execute_script("return document.fonts.ready")
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight); return document.fonts.ready")
    weight, deadline = None, time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = browser.execute_script(READER_CHECKS + "\nreturn pageWeight();")
        if weight is not None and now["count"] == weight["count"]:
            return now
        weight = now
    return weight


def weigh_everything(browser) -> None:
    """Every later page load fetches all its files anew and lists them all (no cache, no 250-entry cap)."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                            {"source": "performance.setResourceTimingBufferSize(100000)"})
    browser.set_window_size(DESKTOP, 1000)


def test_the_page_weight_counts_the_page_and_what_it_loads(tmp_path, browser):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (600, 600, 3), np.uint8)).save(tmp_path / "noise.png")
    (tmp_path / "page.html").write_text("<html><body><p>text</p>" + "<p>filler</p>" * 3000
                                        + "<img src='noise.png' alt='noise'></body></html>")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        weigh_everything(browser)
        browser.get(f"http://127.0.0.1:{server.server_port}/page.html")
        weight = settled_weight(browser)
    finally:
        server.shutdown()
    files = (tmp_path / "page.html").stat().st_size + (tmp_path / "noise.png").stat().st_size
    assert files <= weight["total"] < files + 20_000, weight


def test_no_page_weighs_more_than_3_mb(site, browser):
    """Bytes per page as the browser loaded them (Performance API, cache off, scrolled to the end)."""
    base, html, _ = site
    weigh_everything(browser)
    heavy = []
    for page in pages(html):
        browser.get(urljoin(base, page.relative_to(html).as_posix()))
        weight = settled_weight(browser)
        if weight["total"] > PAGE_LIMIT_BYTES:
            heavy.append((page.relative_to(html).as_posix(), "heavier than 3 MB",
                          f"{weight['total'] / 1e6:.2f} MB; largest: "
                          + ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in weight["largest"])))
    wrong = unexpected(heavy)
    assert not wrong, "\n".join(wrong)


def test_the_site_holds_no_copied_notebooks_source_maps_or_font_script(site):
    _, html, _ = site
    extra = [p.relative_to(html) for p in html.rglob("*")
             if p.suffix in (".ipynb", ".map") or p.name == "fontawesome.js" or "_sources" in p.parts]
    assert not extra, f"the site holds files no page needs: {extra[:10]}"


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


def test_the_static_test_set_explorer_draws_the_error_map_of_the_pictures_it_shows(tmp_path, browser):
    """The page draws the error map (it is not stored per model): the distance between the prediction and
    the ground truth it shows, coloured as the live explorer colours it, and it follows the model."""
    from selenium.webdriver.support.ui import Select

    from xrfnb.explore import TestSetExplorer
    from xrfnb.explore.static import colormap
    from xrfnb.explore.testset import ERROR_MAX, error_map

    rng = np.random.default_rng(2)
    targets = rng.random((2, 3, 24, 24)).astype(np.float32)
    predicted = {"near": np.clip(targets + rng.normal(0, 0.1, targets.shape), 0, 1).astype(np.float32),
                 "grey": np.full_like(targets, 0.5)}
    explorer = TestSetExplorer(rng.normal(size=targets.shape).astype(np.float32), targets, np.array([3, 7]),
                               predicted, np.full(3, -2.0), np.full(3, 2.0), view_px=48)
    (tmp_path / "explorer.html").write_text(f"<html><body>{explorer.static_html()}</body></html>")
    browser.get((tmp_path / "explorer.html").as_uri())
    read = """const root = document.querySelector('.xrfnb-explorer'), out = {};
      for (const [name, el] of [['prediction', root.querySelector('img[alt="prediction"]')],
                                ['truth', root.querySelector('img[alt="ground truth"]')],
                                ['error', root.querySelector('canvas')]]) {
        let c = el;
        if (el.tagName === 'IMG') { c = document.createElement('canvas'); c.width = el.naturalWidth;
          c.height = el.naturalHeight; c.getContext('2d').drawImage(el, 0, 0); }
        out[name] = Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
      }
      out.drawn = root.querySelector('canvas').dataset.drawn || ''; return out;"""

    def shown(ticket: str) -> dict:
        for _ in range(40):
            got = browser.execute_script(read)
            if got["drawn"] == ticket:
                return {k: np.array(v, np.uint8).reshape(24, 24, 4)[..., :3] for k, v in got.items() if k != "drawn"}
            time.sleep(0.1)
        raise AssertionError(f"the error map was not drawn (ticket {ticket})")

    first = shown("1")
    expected = colormap(error_map(first["prediction"].transpose(2, 0, 1) / 255, first["truth"].transpose(2, 0, 1) / 255),
                        "magma", 0.0, ERROR_MAX)
    assert np.abs(first["error"].astype(int) - expected).max() <= 8, "the page's error map is not the distance shown"
    Select(browser.find_elements("css selector", "select")[1]).select_by_index(1)
    grey = shown("2")
    assert np.abs(grey["error"].astype(int) - first["error"]).mean() > 10, "the error map does not follow the model"


def test_the_test_set_explorer_works_offline_in_the_static_book(site):
    """Chapter 7 without a kernel: choosing another test image and another model changes the prediction."""
    from selenium import webdriver
    from selenium.webdriver.support.ui import Select

    base, html, responses = site
    page = html / "book" / "executed" / "07_evaluate.html"
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
        errors = [e["message"] for e in driver.get_log("browser") if console_error(e)]
    finally:
        driver.quit()
    assert other_image[0] != first[0] and other_model[0] != other_image[0]
    assert other_model[1] != other_image[1], "the title does not follow the model"
    assert not errors, errors
    scripts = [ref for ref in parsed(page).refs if urlsplit(ref).scheme and ref.split("?")[0].endswith(".js")]
    assert not scripts, f"chapter 7 loads scripts from elsewhere: {scripts}"
