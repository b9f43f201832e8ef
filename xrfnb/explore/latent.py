"""Chapter 4's latent-space view: the DVE's 3-D codes, turned by the reader, coloured by pigment.

Live, two sliders turn a matplotlib 3-D scatter; on the static page a small canvas script draws the same
points and turns them by dragging or by the same two sliders. Pigments are drawn in their own colours.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..plots import styled
from .static import Explorer, figure_png, swatch

CANVAS_JS = """(function(){
var root=document.getElementById("%(id)s"), data=JSON.parse(root.querySelector("script.xrfnb-spec").textContent);
var canvas=root.querySelector("canvas"), ctx=canvas.getContext("2d");
var az=root.querySelector('[data-angle="azimuth"]'), el=root.querySelector('[data-angle="elevation"]');
var by=root.querySelector("select");
function draw(){
  var a=az.value*Math.PI/180, e=el.value*Math.PI/180, set=data.sets[by.value], p=data.points, n=p.length/3;
  var ca=Math.cos(a), sa=Math.sin(a), ce=Math.cos(e), se=Math.sin(e), w=canvas.width, h=canvas.height;
  var order=[], xs=new Float32Array(n), ys=new Float32Array(n), ds=new Float32Array(n);
  for(var i=0;i<n;i++){var x=p[3*i], y=p[3*i+1], z=p[3*i+2];
    var u=ca*x-sa*y, v=sa*x+ca*y; xs[i]=u; ys[i]=ce*z-se*v; ds[i]=se*z+ce*v; order.push(i);}
  order.sort(function(i,j){return ds[i]-ds[j];});
  ctx.fillStyle="#fff"; ctx.fillRect(0,0,w,h);
  ctx.strokeStyle="rgba(0,0,0,0.35)"; ctx.lineWidth=0.5;
  for(var k=0;k<n;k++){var i=order[k], px=w/2+xs[i]*w*0.28-2, py=h/2-ys[i]*h*0.28-2;
    ctx.fillStyle=set.colours[set.labels[i]]; ctx.fillRect(px,py,4,4); ctx.strokeRect(px,py,4,4);}
  root.querySelector(".xrfnb-legend").innerHTML=set.legend;
}
var drag=null;
canvas.addEventListener("mousedown",function(ev){drag=[ev.clientX,ev.clientY,+az.value,+el.value];});
window.addEventListener("mouseup",function(){drag=null;});
canvas.addEventListener("mousemove",function(ev){if(!drag){return;}
  az.value=((drag[2]+(ev.clientX-drag[0])+540)%%360)-180; el.value=Math.max(-90,Math.min(90,drag[3]+(ev.clientY-drag[1])));
  draw();});
[az,el,by].forEach(function(c){c.addEventListener("input",draw); c.addEventListener("change",draw);});
draw();
})();"""


def hex_colour(rgb) -> str:
    c = np.asarray(rgb, float)
    c = c if c.max() > 1 else c * 255
    return "#{:02x}{:02x}{:02x}".format(*np.clip(c, 0, 255).astype(int))


def scaled(z: np.ndarray) -> np.ndarray:
    """Codes centred and scaled to the unit cube's half-width, so any turn stays inside the view."""
    z = np.asarray(z, float)
    centre = (z.max(0) + z.min(0)) / 2
    return (z - centre) / max(float(np.abs(z - centre).max()), 1e-12)


class LatentExplorer(Explorer):
    """Turnable 3-D view of latent codes `z` (n, 3), coloured by one of several labellings.

    `colourings` maps a title to (labels (n,), names, colours (len(names), 3)), e.g. the dominant pigment
    with the palette's own colours, and the latent cluster. `note` says which coordinates of a latent of
    another size than three are shown (`embedded.shown_latent`).
    """

    def __init__(self, z: np.ndarray, colourings: dict[str, tuple[np.ndarray, list[str], np.ndarray]],
                 max_points: int = 3000, seed: int = 0, note: str = ""):
        import ipywidgets as w

        super().__init__()
        self.note = note
        keep = np.random.default_rng(seed).permutation(len(z))[:max_points]
        self.z = scaled(np.asarray(z)[keep])
        self.colourings = {t: (np.asarray(lab)[keep], list(names), np.asarray(col)) for t, (lab, names, col)
                           in colourings.items()}
        self.controls = {
            "colour by": w.Dropdown(options=list(colourings), description="colour by"),
            "azimuth": w.IntSlider(value=-60, min=-180, max=180, step=5, description="azimuth",
                                   continuous_update=False),
            "elevation": w.IntSlider(value=30, min=-90, max=90, step=5, description="elevation",
                                     continuous_update=False),
        }
        self.views = {"latent": w.Image(format="png"), "legend": w.HTML()}
        for c in self.controls.values():
            c.observe(lambda _change: self.update(), names="value")
        self.update()

    def legend(self, title: str) -> str:
        labels, names, colours = self.colourings[title]
        present = np.unique(labels)
        return "<br>".join(swatch(colours[j], names[j]) for j in present)

    @styled
    def figure(self, title: str, azimuth: float, elevation: float):
        import matplotlib.pyplot as plt

        labels, names, colours = self.colourings[title]
        fig = plt.figure(figsize=(5.2, 5.2))
        ax = fig.add_subplot(projection="3d")
        col = np.asarray(colours, float)
        col = col / 255 if col.max() > 1 else col
        ax.scatter(*self.z.T, s=3, c=col[labels], depthshade=False, edgecolors="0.4", linewidths=0.1)
        ax.view_init(elev=elevation, azim=azimuth)
        ax.set(title=f"{title}\n({self.note})" if self.note else title, xlabel="z1", ylabel="z2", zlabel="z3")
        return fig

    def update(self) -> None:
        title = self.controls["colour by"].value
        if title not in self.colourings:
            self.say(f"no colouring named {title!r}")
            return
        self.say("")
        self.views["latent"].value = figure_png(self.figure(title, self.controls["azimuth"].value,
                                                            self.controls["elevation"].value))
        self.views["legend"].value = f"<small>{self.legend(title)}</small>"

    def static_html(self) -> str:
        sets = [{"labels": lab.astype(int).tolist(), "colours": [hex_colour(c) for c in col],
                 "legend": f"<small>{self.legend(t)}</small>"} for t, (lab, _, col) in self.colourings.items()]
        payload = json.dumps({"points": np.round(self.z, 3).ravel().tolist(), "sets": sets},
                             separators=(",", ":")).replace("</", "<\\/")
        ident = "xrfnb-latent-" + hashlib.sha1(payload.encode()).hexdigest()[:12]
        options = "".join(f'<option value="{i}">{t}</option>' for i, t in enumerate(self.colourings))
        return (f'<div class="xrfnb-explorer" id="{ident}"><p><strong>Latent-space view</strong> '
                f'(drag the picture to turn it)</p>'
                f'<label>colour by <select>{options}</select></label> '
                f'<label>azimuth <input type="range" min="-180" max="180" value="-60" data-angle="azimuth"></label> '
                f'<label>elevation <input type="range" min="-90" max="90" value="30" data-angle="elevation"></label>'
                f'<div><canvas width="420" height="420" style="border:1px solid #ddd;cursor:grab"></canvas>'
                f'<div class="xrfnb-legend" style="display:inline-block;vertical-align:top;margin-left:1em"></div>'
                f'</div><p style="font-size:0.85em">{len(self.z)} held-out spectra, axes scaled to the view'
                f'{"; " + self.note if self.note else ""}.</p>'
                f'<script type="application/json" class="xrfnb-spec">{payload}</script>'
                f'<script>{CANVAS_JS % {"id": ident}}</script></div>')


def explore_latent(z: np.ndarray, dominant: np.ndarray, pigment_names: list[str], pigment_rgb: np.ndarray,
                   clusters: np.ndarray, seed: int = 0, note: str = "") -> LatentExplorer:
    """Chapter 4's cell: held-out codes (n, 3) coloured by dominant pigment (its own colour) and by latent
    cluster; `note` names the coordinates shown of a latent of another size."""
    import matplotlib.pyplot as plt

    k = int(clusters.max()) + 1
    tab = plt.get_cmap("tab20", max(k, 1))
    explorer = LatentExplorer(z, {"dominant pigment": (dominant, pigment_names, pigment_rgb),
                                  "latent cluster": (clusters, [f"cluster {j}" for j in range(k)],
                                                     np.array([tab(j)[:3] for j in range(k)]))}, seed=seed,
                               note=note)
    explorer.show()
    return explorer
