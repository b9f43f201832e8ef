"""A lighter site: no source maps, no Font Awesome script where the theme's CSS already draws the icons, and
no saved widget state where no widget is drawn.

pydata-sphinx-theme puts `scripts/fontawesome.js` (1.5 MB, the SVG version of Font Awesome) on every
page, while its stylesheet already carries Font Awesome's web-font rules and fonts (`vendor/fontawesome`),
which draw the same `<i class="fa-...">` icons. After an HTML build each page loses the script tag, and
the script and every `.map` file (the theme's source maps, 3.5 MB that only a browser's developer tools
read) are deleted. The copied sources (`_sources/`, 12 MB of executed notebooks) are turned off in
`_config.yml` (`html_copy_source: false`); without them the theme's download button would link files
that are not there, so it is turned off here, and copies an earlier build left in the output folder are
deleted. (jupyter-book 1 does not pass `html.use_download_button` on to the theme.)

An executed notebook keeps its widgets' last state (papermill stores it, so JupyterLab can show them), and
myst-nb copies it into the page as a JSON script: 228 kB on chapter 7, every picture the live explorer
showed. The book loads no widget manager (`nb_ipywidgets_js: {}` in `_config.yml`; the explorers show their
static page part instead), so nothing reads it and each page loses it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

SCRIPT = "_static/scripts/fontawesome.js"
SCRIPT_TAG = re.compile(r'[ \t]*<script\b[^>]*\bsrc="[^"]*' + re.escape(SCRIPT) + r'(\?[^"]*)?"[^>]*></script>\n?')
WIDGET_STATE = re.compile(r'[ \t]*<script type="application/vnd\.jupyter\.widget-state\+json">.*?</script>\n?', re.S)


def lighten_page(page: Path) -> bool:
    """Remove the Font Awesome script tag and the saved widget state from one page (written to a temporary
    name, then renamed)."""
    text = page.read_text(encoding="utf-8")
    lean = WIDGET_STATE.sub("", SCRIPT_TAG.sub("", text))
    if lean == text:
        return False
    tmp = page.with_name(page.name + ".tmp")
    tmp.write_text(lean, encoding="utf-8")
    tmp.replace(page)
    return True


def lighten(app, exception) -> None:
    """After a successful HTML build: drop the script from every page, then its files and all source maps."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    pages = [p for p in out.rglob("*.html") if "_static" not in p.relative_to(out).parts]  # not theme templates
    for page in pages:
        lighten_page(page)
    if not any(SCRIPT in page.read_text(encoding="utf-8") for page in pages):
        for path in (out / SCRIPT, out / f"{SCRIPT}.LICENSE.txt"):
            path.unlink(missing_ok=True)
    for source_map in out.rglob("*.map"):
        source_map.unlink()
    if not app.config.html_copy_source:  # copies an earlier build left in the same folder
        shutil.rmtree(out / "_sources", ignore_errors=True)


def no_download_button(app, config) -> None:
    """Without copied sources the download button (`.ipynb`, `.md`, print) has nothing to link."""
    if not config.html_copy_source:
        config.html_theme_options = {**(config.html_theme_options or {}), "use_download_button": False}


def setup(app):
    app.connect("config-inited", no_download_button)
    app.connect("build-finished", lighten)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
