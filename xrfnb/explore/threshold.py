"""Chapter 3's threshold explorer: what the similarity threshold does to one painting's clusters.

For a threshold the same clusters are re-matched with the palette (`information.resynthesise`): each
cluster keeps the pigments whose CIEDE2000 similarity passes, and the information per pixel is
counts x KL(p_cluster || p_mean) of the pixel's own cluster, whose image mean is `information.colour_nats`.
"""

from __future__ import annotations

import numpy as np

from ..synthetic import information, synth
from ..palette.pigments import Palette
from .static import Control, Explorer, Slot, colormap, frame_uri, frames, image_bytes, page_part, swatch

#: Thresholds the static page holds.
STEPS = tuple(np.round(np.arange(0.2, 0.951, 0.05), 2))


def nats_map(s: synth.Synthesis) -> np.ndarray:
    """Nats of colour each pixel's photons carry for its cluster against the image's mean mixture (H, W)."""
    shares = np.bincount(s.labels.ravel(), minlength=len(s.cluster_rgb)).astype(float)
    p = np.clip(s.mixtures, information.TINY, None)
    mean = (shares / shares.sum()) @ p
    per_cluster = s.counts * (p * (np.log(p) - np.log(mean))).sum(1)
    return per_cluster[s.labels]


def kept_table(s: synth.Synthesis, names: list[str], rgb: np.ndarray) -> str:
    """Each cluster's colour and the pigments it keeps, with their share of its mixture, as an HTML table."""
    rows = []
    for k, weights in enumerate(s.weights):
        kept = np.flatnonzero(weights > 0)
        kept = kept[np.argsort(-weights[kept])]
        share = weights / weights.sum()
        cells = ", ".join(swatch(rgb[j], f"{names[j]} {share[j]:.2f}") for j in kept)
        rows.append(f"<tr><td>{swatch(s.cluster_rgb[k], str(k))}</td><td>{len(kept)}</td><td>{cells}</td></tr>")
    return ('<table style="font-size:0.8em"><tr><th>cluster</th><th>kept</th><th>pigments (share)</th></tr>'
            + "".join(rows) + "</table>")


class ThresholdExplorer(Explorer):
    """A slider over the threshold: the clustered image, pigments kept per cluster, information per pixel."""

    def __init__(self, synthesis: synth.Synthesis, palette: Palette, threshold: float = synth.THRESHOLD,
                 steps: tuple[float, ...] = STEPS, view_px: int = 256):
        import ipywidgets as w

        super().__init__()
        self.synthesis, self.palette, self.steps, self.view_px = synthesis, palette, steps, view_px
        self.names = list(palette.names)
        nats = [nats_map(self.at(t)) for t in steps]
        self.nats_max = float(max(n.max() for n in nats))  # one colour scale over the static steps
        self.controls = {"threshold": w.FloatSlider(value=threshold, min=0.05, max=1.0, step=0.01,
                                                    description="threshold", continuous_update=False)}
        self.views = {"clustered image": w.Image(format="png", width=view_px, height=view_px,
                                                 value=image_bytes(synthesis.clustered_rgb())),
                      "information per pixel": w.Image(format="png", width=view_px, height=view_px),
                      "pigments kept": w.HTML()}
        self.summary = w.HTML()
        self.controls["threshold"].observe(lambda _change: self.update(), names="value")
        self.update()

    def at(self, threshold: float) -> synth.Synthesis:
        return information.resynthesise(self.synthesis, self.palette, threshold, self.synthesis.counts)

    def describe(self, threshold: float) -> str:
        s = self.at(threshold)
        shares = np.bincount(s.labels.ravel(), minlength=len(s.cluster_rgb))
        kept = information.pigments_kept(s.weights) @ shares / shares.sum()
        alpha = synth.ciede2000_similarity(s.cluster_rgb, self.palette.rgb)
        return (f"threshold {threshold:.2f}: a pixel's cluster keeps {kept:.1f} pigments on average, "
                f"{synth.fallbacks(alpha, threshold)} cluster(s) fall back to their single most similar pigment; "
                f"{information.colour_nats(s.mixtures, shares, s.counts):.1f} nats of colour per pixel "
                f"(map: 0 to {self.nats_max:.0f} nats)")

    def update(self) -> None:
        t = float(self.controls["threshold"].value)
        if not 0 < t <= 1:
            self.say(f"threshold {t} is outside (0, 1]: every cluster would take its single most similar pigment")
        else:
            self.say("")
        s = self.at(t)
        self.views["information per pixel"].value = image_bytes(colormap(nats_map(s), "viridis", 0, self.nats_max))
        self.views["pigments kept"].value = kept_table(s, self.names, self.palette.rgb)
        self.summary.value = f"<b>{self.describe(t)}</b>"

    def widget(self):
        import ipywidgets as w

        views = [w.VBox([w.HTML(f"<small>{name}</small>"), view]) for name, view in self.views.items()]
        return w.VBox([w.HBox(list(self.controls.values())), self.summary, w.HBox(views), self.message])

    def static_html(self) -> str:
        labels = [f"{t:.2f}" for t in self.steps]
        start = int(np.argmin(np.abs(np.asarray(self.steps) - self.controls["threshold"].value)))
        controls = [Control("threshold", "threshold", labels, "range", start)]
        key = ("threshold",)
        clustered = frame_uri(self.synthesis.clustered_rgb())
        slots = [Slot(key, frames(controls, key, lambda i: f"<b>{self.describe(self.steps[i])}</b>"), "html"),
                 Slot((), {"": clustered}, width=self.view_px, caption="clustered image"),
                 Slot(key, frames(controls, key, lambda i: frame_uri(
                     colormap(nats_map(self.at(self.steps[i])), "viridis", 0, self.nats_max))),
                      width=self.view_px, caption="information per pixel (nats, viridis)"),
                 Slot(key, frames(controls, key, lambda i: kept_table(self.at(self.steps[i]), self.names,
                                                                     self.palette.rgb)), "html")]
        note = f"Thresholds {labels[0]} to {labels[-1]} in steps of 0.05 saved; in JupyterLab any threshold."
        return page_part("Threshold explorer", controls, slots, note)


def explore_threshold(synthesis: synth.Synthesis, palette: Palette, threshold: float) -> ThresholdExplorer:
    """Chapter 3's cell: the threshold explorer on one synthesised painting, displayed, starting at `threshold`."""
    explorer = ThresholdExplorer(synthesis, palette, threshold)
    explorer.show()
    return explorer
