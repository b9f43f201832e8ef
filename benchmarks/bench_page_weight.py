"""What an executed notebook's outputs weigh on its book page, by kind, as stored and as the current code
would store the same pictures (issue 37: no page above 3 MB).

For each executed notebook (default: the published run's, `book/published/executed/`):
- figures: the bytes of each image/png output (the page loads it as a file); "after" applies `plots.save`'s
  storage rule to the same picture (a 256-colour palette over MAX_PNG_BYTES, then the page's width: here
  the picture is resampled to PAGE_WIDTH_PX, where `save` draws the figure again at that width);
- explorers: the static page part's HTML; "after" decodes every stored frame and encodes it as the
  explorers now do (`frame_uri`, WebP at FRAME_QUALITY; a plot with `figure_uri`'s palette), and drops the
  error maps the page now draws itself;
- widget state: the notebook's saved widget state, which the page carried (`book/_ext/lean_site.py` now
  drops it);
- other: the rest of the HTML outputs.
With `--site` (a built book's `_build/html`) each chapter's page weight is estimated as well: those bytes
plus the theme's files the page loads (its CSS, scripts and web fonts, counted once).

The error map drawn from the WebP frames is compared with the one drawn from the stored frames (the
closest to the exact map a published notebook holds): mean absolute difference in RGB distance.

    python benchmarks/bench_page_weight.py [--executed book/published/executed] [--site _build/html]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import record

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xrfnb.explore import static  # noqa: E402
from xrfnb.explore.testset import ERROR_MAX, error_map  # noqa: E402
from xrfnb.plots import page  # noqa: E402

SPEC = re.compile(r'<script type="application/json" class="xrfnb-spec">(.*?)</script>', re.S)
TITLE = re.compile(r'<p><strong>(.*?)</strong></p>')
#: Slots whose frames the current code stores differently: the page draws chapter 7's error maps, and the
#: datacube explorer's spectra are plots.
DRAWN = {("Test-set explorer", 4)}
PLOTS = {("Datacube explorer", 2)}


def decoded(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def plot_uri(rgb: np.ndarray) -> str:
    """A stored plot re-encoded as `figure_uri` encodes a figure (256-colour PNG)."""
    out = io.BytesIO()
    Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return static.data_uri(out.getvalue())


def explorer_after(html: str) -> tuple[int, dict]:
    """The bytes of one static explorer as the current code would store its frames, and for chapter 7's
    the error maps' difference (drawn from WebP frames against drawn from the stored ones)."""
    title, match = TITLE.search(html), SPEC.search(html)
    if not (title and match):  # the latent explorer: points and colours, no pictures
        return len(html), {}
    title = title.group(1)
    spec = json.loads(match.group(1).replace("<\\/", "</"))
    found = {}
    for i, slot in enumerate(spec["slots"]):
        if slot["kind"] != "img":
            continue
        if (title, i) in DRAWN:
            slot["frames"] = {}
            continue
        encode = plot_uri if (title, i) in PLOTS else static.frame_uri
        slot["frames"] = {key: encode(decoded(uri)) for key, uri in slot["frames"].items()}
    if title == "Test-set explorer":
        found = error_map_difference(json.loads(match.group(1).replace("<\\/", "</")), spec)
    payload = json.dumps(spec, separators=(",", ":"))
    return len(html) - len(match.group(1)) + len(payload), found


def error_map_difference(stored: dict, after: dict) -> dict:
    """Mean |distance(WebP prediction, WebP truth) - distance(stored prediction, stored truth)| over every
    stored image and model, in RGB distance and as a share of the map's scale (ERROR_MAX)."""
    diffs = []
    for key, uri in stored["slots"][2]["frames"].items():
        image = key.split("|")[0]
        was = error_map(decoded(uri).transpose(2, 0, 1) / 255,
                        decoded(stored["slots"][3]["frames"][image]).transpose(2, 0, 1) / 255)
        now = error_map(decoded(after["slots"][2]["frames"][key]).transpose(2, 0, 1) / 255,
                        decoded(after["slots"][3]["frames"][image]).transpose(2, 0, 1) / 255)
        diffs.append(np.abs(now - was).mean())
    mean = float(np.mean(diffs))
    return {"error_map_mean_abs_difference": round(mean, 4), "error_map_difference_of_scale_pct":
            round(100 * mean / ERROR_MAX, 2)}


def figure_after(png: bytes) -> int:
    """The bytes `plots.save`'s rule would store for this picture (see the module's docstring)."""
    if len(png) <= page.MAX_PNG_BYTES:
        return len(png)
    im = Image.open(io.BytesIO(png)).convert("RGB")
    for step in ("palette", "width"):
        if step == "width" and im.width > page.PAGE_WIDTH_PX:
            im = im.resize((page.PAGE_WIDTH_PX, round(im.height * page.PAGE_WIDTH_PX / im.width)), Image.LANCZOS)
        out = io.BytesIO()
        im.quantize(256, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
        if out.tell() <= page.MAX_PNG_BYTES or step == "width":
            return out.tell()
    raise AssertionError("unreachable")


def weigh(notebook: Path) -> dict:
    nb = json.loads(notebook.read_text())
    before = {"figures": 0, "explorers": 0, "widget_state": len(json.dumps(nb["metadata"].get("widgets", {}))),
              "other_html": 0}
    after = {**before, "widget_state": 0}
    extra = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                png = base64.b64decode("".join(data["image/png"]))
                before["figures"] += len(png)
                after["figures"] += figure_after(png)
            html = "".join(data.get("text/html", ""))
            if 'class="xrfnb-explorer"' in html:
                before["explorers"] += len(html)
                size, found = explorer_after(html)
                after["explorers"] += size
                extra.update(found)
            elif html:
                before["other_html"] += len(html)
                after["other_html"] += len(html)
    return {"before": {**before, "total": sum(before.values())}, "after": {**after, "total": sum(after.values())},
            **extra}


def theme_bytes(site: Path, page_path: Path) -> int:
    """The page's own HTML chrome is not counted here; the files it loads: CSS, scripts, their web fonts."""
    text = page_path.read_text(errors="replace")
    files = set()
    for ref in re.findall(r'(?:src|href)="([^"?#]+\.(?:css|js))(?:\?[^"]*)?"', text):
        target = (page_path.parent / ref).resolve()
        if target.exists():
            files.add(target)
    for css in [f for f in files if f.suffix == ".css"]:
        for font in re.findall(r'url\(["\']?([^)"\'?#]+\.woff2)', css.read_text(errors="replace")):
            target = (css.parent / font).resolve()
            if target.exists():
                files.add(target)
    return sum(f.stat().st_size for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executed", type=Path, default=Path("book/published/executed"))
    parser.add_argument("--site", type=Path, default=None)
    args = parser.parse_args()
    results = {"frame_format": f"{static.FRAME_FORMAT} quality {static.FRAME_QUALITY}",
               "max_png_bytes": page.MAX_PNG_BYTES, "page_width_px": page.PAGE_WIDTH_PX}
    for notebook in sorted(args.executed.glob("*.ipynb")):
        found = weigh(notebook)
        if args.site:
            built = args.site / "book" / "executed" / f"{notebook.stem}.html"
            if built.exists():
                text = built.read_text(errors="replace")
                outputs = found["before"]["explorers"] + found["before"]["other_html"]
                chrome = len(text.encode()) - outputs - found["before"]["widget_state"]
                found["page_estimate"] = {
                    "theme_and_chrome": theme_bytes(args.site, built) + max(chrome, 0),
                    "before": theme_bytes(args.site, built) + len(text.encode()) + found["before"]["figures"],
                    "after": theme_bytes(args.site, built) + max(chrome, 0) + found["after"]["total"]}
        results[notebook.stem] = found
        print(notebook.stem, json.dumps(found))
    print(record.save("page_weight", results))


if __name__ == "__main__":
    main()
