"""The explorers' two faces: live ipywidgets for a kernel, and a self-contained HTML page part for the book.

A static book has no kernel, so each explorer also writes its precomputable choices into one HTML output:
the controls, every frame they select (data URIs, or HTML snippets) and a few lines of inline JavaScript
that swap them. Nothing is loaded from elsewhere. The frames are what a page weighs (issue 37: no page above
3 MB), so pictures are stored as lossy WebP at FRAME_QUALITY (`frame_uri`), plots as 256-colour PNG
(`figure_uri`), and a picture that is a function of two others (an error map) is drawn by the page itself
from them (`Slot` of kind 'distance') instead of being stored for every choice. `show` displays both in one output: JupyterLab
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


#: The static pages' pictures: lossy WebP at this quality. On chapter 7's 128 px test crops it stores a
#: prediction in about 2.3 kB against 5.7 kB as JPEG at quality 88, differing from the picture by
#: about 2.5 of 255 per channel on average (`benchmarks/bench_frames.py`).
FRAME_FORMAT, FRAME_QUALITY = "webp", 80


def uint8_image(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) image, uint8 or float in [0, 1], as uint8."""
    a = np.asarray(rgb)
    return a if a.dtype == np.uint8 else (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)


def image_bytes(rgb: np.ndarray, fmt: str = "png", quality: int = 88) -> bytes:
    """An (H, W, 3) image, uint8 or float in [0, 1], encoded as PNG, or as JPEG or WebP at `quality`."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(uint8_image(rgb)).save(out, format=fmt.upper(),
                                           **({"quality": quality} if fmt in ("jpeg", "webp") else {}))
    return out.getvalue()


def frame_uri(rgb: np.ndarray) -> str:
    """A picture for a static page: WebP at FRAME_QUALITY, as a data URI."""
    return data_uri(image_bytes(rgb, FRAME_FORMAT, FRAME_QUALITY), FRAME_FORMAT)


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


def figure_uri(fig, dpi: int = 80) -> str:
    """A matplotlib figure for a static page: PNG with an adaptive 256-colour palette (a line plot keeps
    its look at about a third of the bytes), as a data URI; the figure is closed."""
    from PIL import Image

    with Image.open(io.BytesIO(figure_png(fig, dpi))) as im:
        small = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return data_uri(out.getvalue())


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
    """One place on the page showing a frame chosen by some controls' indices ('i|j' keys).

    Kind 'distance' stores no frames: the page draws the per-pixel Euclidean RGB distance between the
    pictures of the two image slots `of` (slot indices), divided by `scale` and coloured by `cmap` (as
    `colormap` colours it), on a canvas.
    """

    keys: tuple[str, ...]
    frames: dict[str, str]
    kind: str = "img"  # 'img' (data URI), 'html' or 'distance'
    width: int = 0  # CSS px for images, 0 for natural size
    caption: str = ""
    of: tuple[int, int] = (0, 0)
    scale: float = 1.0
    cmap: str = "magma"

    def spec(self) -> dict:
        """What the page's script needs of this slot."""
        if self.kind != "distance":
            return {"keys": list(self.keys), "frames": self.frames, "kind": self.kind}
        return {"keys": [], "frames": {}, "kind": self.kind, "of": list(self.of), "scale": self.scale,
                "lut": colour_table(self.cmap)}


def colour_table(cmap: str) -> list[int]:
    """A colour map's 256 colours as [r0, g0, b0, r1, ...], uint8, the entries `colormap` picks from."""
    return colormap(np.linspace(0, 1, 256)[None], cmap, 0.0, 1.0).reshape(-1).tolist()


def frames(controls: list[Control], keys: tuple[str, ...], make: Callable[..., str]) -> dict[str, str]:
    """Every frame of a slot: make(*option indices) for all combinations of the named controls."""
    by_name = {c.name: c for c in controls}
    ranges = [range(len(by_name[k].options)) for k in keys]
    return {"|".join(map(str, combo)): make(*combo) for combo in itertools.product(*ranges)}


PLAYER_JS = """(function(){
var root=document.getElementById("%(id)s");
var spec=JSON.parse(root.querySelector("script.xrfnb-spec").textContent);
function index(name){return root.querySelector('[data-control="'+name+'"]').value;}
var drawn=0;
function pixels(img){
  var c=document.createElement("canvas"); c.width=img.naturalWidth; c.height=img.naturalHeight;
  var g=c.getContext("2d"); g.drawImage(img,0,0); return g.getImageData(0,0,c.width,c.height).data;
}
function distance(s,el,ticket){
  var a=root.querySelector('[data-slot="'+s.of[0]+'"]'), b=root.querySelector('[data-slot="'+s.of[1]+'"]');
  Promise.all([a.decode(),b.decode()]).then(function(){
    if(ticket!==drawn){return;}
    var p=pixels(a), q=pixels(b); el.width=a.naturalWidth; el.height=a.naturalHeight;
    var g=el.getContext("2d"), out=g.createImageData(el.width,el.height), o=out.data;
    for(var k=0;k<p.length;k+=4){
      var d=0; for(var j=0;j<3;j++){var e=(p[k+j]-q[k+j])/255; d+=e*e;}
      var v=3*Math.min(255,Math.floor(Math.sqrt(d)/s.scale*256));
      o[k]=s.lut[v]; o[k+1]=s.lut[v+1]; o[k+2]=s.lut[v+2]; o[k+3]=255;}
    g.putImageData(out,0,0); el.dataset.drawn=ticket;
  }).catch(function(){});
}
function update(){
  var ticket=++drawn;
  spec.controls.forEach(function(c){
    var out=root.querySelector('[data-shows="'+c.name+'"]'); if(out){out.textContent=c.options[index(c.name)];}});
  spec.slots.forEach(function(s,i){
    var el=root.querySelector('[data-slot="'+i+'"]');
    if(s.kind==="distance"){distance(s,el,ticket);return;}
    var v=s.frames[s.keys.map(index).join("|")];
    if(v===undefined){return;} if(s.kind==="img"){el.src=v;}else{el.innerHTML=v;}});
}
root.querySelectorAll("[data-control]").forEach(function(c){
  c.addEventListener("input",update); c.addEventListener("change",update);});
update();
})();"""


def page_part(title: str, controls: list[Control], slots: list[Slot], note: str = "") -> str:
    """The static explorer as one HTML fragment: controls, slots and the script that connects them."""
    spec = {"controls": [{"name": c.name, "options": c.options} for c in controls],
            "slots": [s.spec() for s in slots]}
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
        body = (f'<img data-slot="{i}" alt="{s.caption}"{style}>' if s.kind == "img" else
                f'<canvas data-slot="{i}" aria-label="{s.caption}" role="img"{style}></canvas>'
                if s.kind == "distance" else f'<div data-slot="{i}"></div>')
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
