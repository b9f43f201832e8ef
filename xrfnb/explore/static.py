"""The explorers' two faces: live ipywidgets for a kernel, and a self-contained HTML page part for the book.

A static book has no kernel, so each explorer also writes its precomputable choices into one HTML output:
the controls, every frame they select (PNG/JPEG data URIs or HTML snippets) and a few lines of inline
JavaScript that swap them. Nothing is loaded from elsewhere. `show` displays both in one output: JupyterLab
renders the widget (its widget renderer outranks HTML), the book renders the HTML (the book's myst-nb
priority drops the widget view, `_config.yml`).
"""

from __future__ import annotations

import abc
import base64
import hashlib
import io
import itertools
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def image_bytes(rgb: np.ndarray, fmt: str = "png", quality: int = 88) -> bytes:
    """An (H, W, 3) image, uint8 or float in [0, 1], encoded as PNG or JPEG."""
    from PIL import Image

    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(a).save(out, format=fmt.upper(), **({"quality": quality} if fmt == "jpeg" else {}))
    return out.getvalue()


def data_uri(data: bytes, fmt: str = "png") -> str:
    return f"data:image/{fmt};base64,{base64.b64encode(data).decode()}"


def figure_png(fig, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    from ..plots import style

    out = io.BytesIO()
    with style():
        fig.savefig(out, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return out.getvalue()


def colormap(values: np.ndarray, cmap: str = "magma", vmin: float | None = None,
             vmax: float | None = None) -> np.ndarray:
    """A 2-D array as an (H, W, 3) uint8 false-colour image (vmin/vmax default to the data's range)."""
    import matplotlib

    v = np.asarray(values, float)
    lo = np.nanmin(v) if vmin is None else vmin
    hi = np.nanmax(v) if vmax is None else vmax
    scaled = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    return (matplotlib.colormaps[cmap](np.clip(scaled, 0, 1))[..., :3] * 255).astype(np.uint8)


def swatch(rgb, label: str = "", size: int = 14) -> str:
    """An inline colour square (rgb in [0, 1] or uint8) with an optional label, as HTML."""
    c = np.asarray(rgb, float)
    c = c if c.max() > 1 else c * 255
    colour = "#{:02x}{:02x}{:02x}".format(*np.clip(c, 0, 255).astype(int))
    box = (f'<span style="display:inline-block;width:{size}px;height:{size}px;background:{colour};'
           f'border:1px solid #888;vertical-align:middle;margin-right:3px"></span>')
    return box + label


@dataclass
class Control:
    """A choice a reader makes: its options' labels, shown as a drop-down or (kind 'range') a slider."""

    name: str
    label: str
    options: list[str]
    kind: str = "select"
    start: int = 0


@dataclass
class Slot:
    """One place on the page showing a frame chosen by some controls' indices ('i|j' keys)."""

    keys: tuple[str, ...]
    frames: dict[str, str]
    kind: str = "img"  # 'img' (data URI) or 'html'
    width: int = 0  # CSS px for images, 0 for natural size
    caption: str = ""


def frames(controls: list[Control], keys: tuple[str, ...], make: Callable[..., str]) -> dict[str, str]:
    """Every frame of a slot: make(*option indices) for all combinations of the named controls."""
    by_name = {c.name: c for c in controls}
    ranges = [range(len(by_name[k].options)) for k in keys]
    return {"|".join(map(str, combo)): make(*combo) for combo in itertools.product(*ranges)}


PLAYER_JS = """(function(){
var root=document.getElementById("%(id)s");
var spec=JSON.parse(root.querySelector("script.xrfnb-spec").textContent);
function index(name){return root.querySelector('[data-control="'+name+'"]').value;}
function update(){
  spec.controls.forEach(function(c){
    var out=root.querySelector('[data-shows="'+c.name+'"]'); if(out){out.textContent=c.options[index(c.name)];}});
  spec.slots.forEach(function(s,i){
    var el=root.querySelector('[data-slot="'+i+'"]'), v=s.frames[s.keys.map(index).join("|")];
    if(v===undefined){return;} if(s.kind==="img"){el.src=v;}else{el.innerHTML=v;}});
}
root.querySelectorAll("[data-control]").forEach(function(c){
  c.addEventListener("input",update); c.addEventListener("change",update);});
update();
})();"""


def page_part(title: str, controls: list[Control], slots: list[Slot], note: str = "") -> str:
    """The static explorer as one HTML fragment: controls, slots and the script that connects them."""
    spec = {"controls": [{"name": c.name, "options": c.options} for c in controls],
            "slots": [{"keys": list(s.keys), "frames": s.frames, "kind": s.kind} for s in slots]}
    payload = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
    ident = "xrfnb-explore-" + hashlib.sha1(payload.encode()).hexdigest()[:12]
    inputs = []
    for c in controls:
        if c.kind == "range":
            field_html = (f'<input type="range" min="0" max="{len(c.options) - 1}" step="1" value="{c.start}" '
                          f'data-control="{c.name}"> <output data-shows="{c.name}"></output>')
        else:
            opts = "".join(f'<option value="{i}"{" selected" if i == c.start else ""}>{o}</option>'
                           for i, o in enumerate(c.options))
            field_html = f'<select data-control="{c.name}">{opts}</select>'
        inputs.append(f'<label style="margin-right:1.2em">{c.label} {field_html}</label>')
    views = []
    for i, s in enumerate(slots):
        style = f' style="width:{s.width}px;image-rendering:pixelated"' if s.width else ""
        body = f'<img data-slot="{i}" alt="{s.caption}"{style}>' if s.kind == "img" else f'<div data-slot="{i}"></div>'
        caption = f'<figcaption style="font-size:0.85em">{s.caption}</figcaption>' if s.caption else ""
        views.append(f'<figure style="display:inline-block;margin:0 0.6em 0.6em 0;vertical-align:top">'
                     f'{body}{caption}</figure>')
    return (f'<div class="xrfnb-explorer" id="{ident}"><p><strong>{title}</strong></p>'
            f'<div class="xrfnb-controls">{"".join(inputs)}</div><div>{"".join(views)}</div>'
            f'{f"<p style=font-size:0.85em>{note}</p>" if note else ""}'
            f'<script type="application/json" class="xrfnb-spec">{payload}</script>'
            f'<script>{PLAYER_JS % {"id": ident}}</script></div>')


class Explorer(abc.ABC):
    """Base of every explorer: `controls` and `views` (ipywidgets), a `message` line, and the static page."""

    def __init__(self) -> None:
        import ipywidgets as w

        self.controls: dict[str, w.Widget] = {}
        self.views: dict[str, w.Widget] = {}
        self.message = w.HTML()

    def say(self, text: str) -> None:
        """Show a one-line message in the widget (bad input, what was not found); '' clears it."""
        from html import escape

        self.message.value = f'<span style="color:#a00">{escape(text)}</span>' if text else ""

    def widget(self):
        """The live explorer: controls on top, views beside each other, the message line below."""
        import ipywidgets as w

        return w.VBox([w.HBox(list(self.controls.values())), w.HBox(list(self.views.values())), self.message])

    @abc.abstractmethod
    def static_html(self) -> str:
        """The explorer for a page without a kernel (see `page_part`)."""

    def show(self) -> None:
        """Display the live widget with the static page as its fallback, in one output."""
        from IPython.display import display

        box = self.widget()
        display({WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": box.model_id},
                 "text/html": self.static_html(),
                 "text/plain": f"{type(self).__name__} (needs a live kernel with ipywidgets)"}, raw=True)
