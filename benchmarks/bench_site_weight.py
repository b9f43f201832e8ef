"""What each page of a built book weighs as Chromium loads it (issue 37: no page above 3 MB), with the
browser test's own measure (`tests/test_browser.py`: cache off, scrolled to the end, every file counted).

    python benchmarks/bench_site_weight.py LABEL _build/html

Adds LABEL (e.g. `before`, `after`) to `benchmarks/results/site_weight.json`: the five heaviest pages'
bytes, how many pages weigh over 3 MB, and the site's bytes on disk. Needs Debian's `chromium` and `chromium-driver`.
"""

from __future__ import annotations

import functools
import http.server
import json
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin

import record

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
import test_browser as checks  # noqa: E402  (the browser test's measure, shared)


def weigh(html: Path) -> dict[str, int]:
    """Bytes each page of the book in `html` loads, by page."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = checks.CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--force-device-scale-factor=1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=checks.DRIVER))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        checks.weigh_everything(driver)
        weights = {}
        for page in checks.pages(html):
            driver.get(urljoin(f"http://127.0.0.1:{server.server_port}/", page.relative_to(html).as_posix()))
            weights[page.relative_to(html).as_posix()] = int(checks.settled_weight(driver)["total"])
        return weights
    finally:
        server.shutdown()
        driver.quit()


def main(label: str, html: Path) -> None:
    pages = weigh(html)
    path = record.RESULTS / "site_weight.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    kept = {k: v for k, v in saved.items() if k not in ("benchmark", "machine", "date", "load_average_1min")}
    kept[label] = {"heaviest": dict(sorted(pages.items(), key=lambda kv: -kv[1])[:5]), "pages": len(pages),
                   "pages_over_3_mb": sum(size > checks.PAGE_LIMIT_BYTES for size in pages.values()),
                   "site_bytes": sum(p.stat().st_size for p in html.rglob("*") if p.is_file())}
    record.save("site_weight", kept)
    for name, size in kept[label]["heaviest"].items():
        print(f"{name}: {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
