"""A chapter as a JupyterLab reader meets it: opened in JupyterLab in headless Chromium, run, and read.

The prose must show numbers and citations, not MyST roles: no rendered Markdown cell or output may hold
`{glue:`, `{cite:` or `{eval}`. Needs JupyterLab (the `lab` extra, `make lab`) and Debian's `chromium`
and `chromium-driver`.
"""

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Chromium and ChromeDriver: "
                                 "apt-get install chromium chromium-driver"),
              pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None,
                                 reason="needs JupyterLab: `make lab` installs the lab extra")]
RAW_ROLES = ("{glue:", "{cite:", "{eval}")
TOKEN = "xrfnb-lab-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_lab(root: Path):
    """JupyterLab on loopback serving `root` (its kernels import this checkout's xrfnb, with root as
    XRFNB_ROOT); yields the base URL."""
    port = free_port()
    env = {**os.environ, "XRFNB_ROOT": str(root),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.open_browser=False", "--allow-root"], env=env, cwd=root, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    try:
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of chapter 1 (so nothing is saved into the checkout)."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "notebooks" / "01_pigments.ipynb", tmp_path / "notebooks")
    shutil.copy(ROOT / "book" / "references.bib", tmp_path / "book")
    shutil.copy(ROOT / "_config.yml", tmp_path)  # the project's address, which every page header names
    (tmp_path / "_toc.yml").write_text("root: notebooks/01_pigments\n")
    with serve_lab(tmp_path) as base:
        yield base


def chromium():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--no-first-run", "--disable-background-networking"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))


FINISHED = """
const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!nb || !nb.content || !nb.sessionContext || !nb.sessionContext.session) return false;
const kernel = nb.sessionContext.session.kernel;
const prompts = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(p => p.textContent);
// hidden-input cells show no prompt
return kernel.status === 'idle' && prompts.some(p => /\\[\\d+\\]/.test(p)) &&
  prompts.every(p => p === '' || /\\[\\d+\\]/.test(p));
"""

ERRORS = """
const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
let n = 0;
for (let i = 0; i < cells.length; i++) {
  const c = cells.get(i);
  if (c.type === 'code') { for (let j = 0; j < c.outputs.length; j++) { if (c.outputs.get(j).type === 'error') n++; } }
}
return n;
"""

RENDERED = """
return Array.from(document.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown, .jp-OutputArea-output'))
  .map(e => e.textContent);
"""


def run_all(driver, base: str, notebook: str, timeout_s: float = 600) -> bool:
    """Open a notebook in JupyterLab, run all its cells and wait until the kernel is done; True if it was."""
    driver.get(f"{base}/lab/tree/{notebook}?token={TOKEN}")
    deadline = time.time() + 120
    while time.time() < deadline and not driver.execute_script(
            "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            "return !!(w && w.sessionContext && w.sessionContext.isReady);"):
        time.sleep(1)
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells'); return true;")
    deadline = time.time() + timeout_s
    time.sleep(5)
    while time.time() < deadline and not driver.execute_script(FINISHED):
        time.sleep(2)
    return driver.execute_script(FINISHED)


def test_a_chapter_run_in_jupyterlab_shows_no_raw_myst_role(lab):
    driver = chromium()
    try:
        finished = run_all(driver, lab, "notebooks/01_pigments.ipynb")
        if not finished and os.environ.get("XRFNB_SCREENSHOTS"):
            driver.save_screenshot(os.path.join(os.environ["XRFNB_SCREENSHOTS"], "lab_01_unfinished.png"))
        assert finished, "chapter 1 did not finish running in JupyterLab within 10 minutes"
        texts = driver.execute_script(RENDERED)
        errors = driver.execute_script(ERRORS)
        if os.environ.get("XRFNB_SCREENSHOTS"):
            driver.save_screenshot(os.path.join(os.environ["XRFNB_SCREENSHOTS"], "lab_01_pigments.png"))
    finally:
        driver.quit()
    raw = [t[:120] for t in texts if any(role in t for role in RAW_ROLES)]
    assert not raw, f"raw MyST roles in JupyterLab: {raw}"
    joined = "\n".join(texts)
    assert "(Bombini et al., 2025)" in joined, "the overview's citation is not rendered"
    assert "eV FWHM" in joined and "{glue" not in joined  # the summary's numbers are filled in
    assert errors == 0, "a cell of chapter 1 raised in JupyterLab"
