"""Chapter 7's test-set explorer: any test image through any compared model, with its scores and error map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import metrics
from ..embedding.embedded import false_colour
from ..evaluation.compared import LOOKUP
from .static import Control, Explorer, Slot, colormap, frame_uri, frames, image_bytes, page_part

#: Per-pixel RGB distance shown at the top of the error map's colour scale (sqrt(3) is black vs white).
ERROR_MAX = 0.5


#: The explorer's name for chapter 6's SmallUViT, the model whose numbers the book reports.
HEADLINE = "SmallUViT of chapter 6 (the book's headline model)"


def predictions(ev, epochs: int) -> dict[str, np.ndarray]:
    """Test predictions (n, 3, H, W) of chapter 6's SmallUViT (first, under `HEADLINE`), of every other model
    chapter 7 compared, and of the non-learned lookup.

    `ev` is `evaluate.run_stage`'s Evaluation, whose comparison trained every model with `epochs` and kept
    their test predictions (`predicted`), shown here as they were scored. The paper's architecture retrained
    at that budget is named by it (`compared.at_budget`), never as the paper's or the book's model; when
    chapter 6's model is the comparison's (the same budget), it appears once, as the headline.
    """
    from ..models import recolour
    from ..evaluation.compared import PAPER, at_budget
    from ..evaluation.evaluate import test_split

    x_test, _, _ = test_split(ev.emb)
    out = {HEADLINE: recolour.predict(ev.module, x_test, device=ev.device)}
    for name, (_, folder) in ev.runs.items():
        if Path(folder) == Path(ev.store.path).parent / "smalluvit":
            continue  # chapter 6's own model: the headline above
        out[at_budget(epochs) if name == PAPER else name] = ev.predicted[name]
    for name in ev.decoders:  # the pixel recipe's decoders (`evaluate.train_pooled`)
        out[name] = ev.predicted[name]
    out[LOOKUP] = ev.predicted[LOOKUP]
    return out


def error_map(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean RGB distance (H, W) between a prediction and its target, both (3, H, W) in [0, 1]."""
    return np.sqrt(((np.asarray(pred, float) - np.asarray(target, float)) ** 2).sum(0))


class TestSetExplorer(Explorer):
    """Choose a test image and a model: embedded input, prediction, ground truth and error map, with the
    prediction titled by its MS-SSIM and UIQI.

    Parameters
    ----------
    embedded : (n, 3, H, W) embedded test images; `lo`, `hi` their false-colour stretch.
    targets : (n, 3, H, W) ground truth in [0, 1]; `samples` the test images' sample indices.
    predicted : {model: (n, 3, H, W)} from `predictions`.
    static_images : how many test images the static page holds (every model for each).
    """

    __test__ = False  # not a pytest class

    def __init__(self, embedded: np.ndarray, targets: np.ndarray, samples: np.ndarray,
                 predicted: dict[str, np.ndarray], lo: np.ndarray, hi: np.ndarray, static_images: int = 12,
                 view_px: int = 192):
        import ipywidgets as w

        super().__init__()
        self.embedded, self.targets = np.asarray(embedded, np.float32), np.asarray(targets, np.float32)
        self.samples, self.predicted, self.lo, self.hi = np.asarray(samples), predicted, lo, hi
        self.static_images, self.view_px = min(static_images, len(self.samples)), view_px
        target = torch.from_numpy(self.targets)
        self.scores = {m: {k: v.numpy() for k, v in metrics.per_image(torch.from_numpy(p), target).items()
                           if k in ("ms_ssim", "uiqi")} for m, p in predicted.items()}
        self.controls = {
            "image": w.Dropdown(options=[(f"test sample {s}", i) for i, s in enumerate(self.samples)], value=0,
                                description="test image"),
            "model": w.Dropdown(options=list(predicted), value=next(iter(predicted)), description="model",
                                layout=w.Layout(width="420px")),
        }
        self.views = {name: w.Image(format="png", width=view_px, height=view_px)
                      for name in ("embedded input", "prediction", "ground truth", "error map")}
        self.title = w.HTML()
        for c in self.controls.values():
            c.observe(lambda _change: self.update(), names="value")
        self.update()

    def title_of(self, image: int, model: str) -> str:
        s = self.scores[model]
        return f"{model}: MS-SSIM {s['ms_ssim'][image]:.3f}, UIQI {s['uiqi'][image]:.3f}"

    def panels(self, image: int, model: str) -> dict[str, np.ndarray]:
        """The four pictures of one choice, as (H, W, 3) images."""
        pred = self.predicted[model][image]
        return {"embedded input": false_colour(self.embedded[image], self.lo, self.hi),
                "prediction": pred.transpose(1, 2, 0), "ground truth": self.targets[image].transpose(1, 2, 0),
                "error map": colormap(error_map(pred, self.targets[image]), "magma", 0.0, ERROR_MAX)}

    def update(self) -> None:
        image, model = self.controls["image"].value, self.controls["model"].value
        if model not in self.predicted or not 0 <= image < len(self.samples):
            self.say(f"no prediction for test image {image} and model {model!r}")
            return
        for name, picture in self.panels(image, model).items():
            self.views[name].value = image_bytes(picture)
        self.title.value = f"<b>{self.title_of(image, model)}</b>"
        self.say("")

    def widget(self):
        import ipywidgets as w

        captions = [w.VBox([w.HTML(f"<small>{name}</small>"), view]) for name, view in self.views.items()]
        return w.VBox([w.HBox(list(self.controls.values())), self.title, w.HBox(captions), self.message])

    def static_html(self) -> str:
        """Every model for the first `static_images` test images; the error map is drawn by the page from the
        prediction and the ground truth shown (so it is not stored once per model and image)."""
        models = list(self.predicted)
        controls = [Control("image", "test image", [f"test sample {s}" for s in self.samples[:self.static_images]]),
                    Control("model", "model", models)]

        def picture(name: str):
            def make(i: int, m: int = 0) -> str:
                return frame_uri(self.panels(i, models[m])[name])
            return make

        per_image = ("image",)
        both = ("image", "model")
        slots = [Slot(both, frames(controls, both, lambda i, m: f"<b>{self.title_of(i, models[m])}</b>"), "html"),
                 Slot(per_image, frames(controls, per_image, picture("embedded input")), width=self.view_px,
                      caption="embedded input (false colour)"),
                 Slot(both, frames(controls, both, picture("prediction")), width=self.view_px, caption="prediction"),
                 Slot(per_image, frames(controls, per_image, picture("ground truth")), width=self.view_px,
                      caption="ground truth"),
                 Slot((), {}, "distance", width=self.view_px, of=(2, 3), scale=ERROR_MAX, cmap="magma",
                      caption=f"error map (RGB distance, black 0 to yellow {ERROR_MAX})")]
        note = (f"The first {self.static_images} of {len(self.samples)} test images, saved when the chapter ran "
                f"as WebP pictures; the page draws the error map from the two it shows. In JupyterLab the "
                "explorer covers every test image.")
        return page_part("Test-set explorer", controls, slots, note)


def explore_test_set(ev, epochs: int, static_images: int = 12) -> TestSetExplorer:
    """Chapter 7's cell: every compared model's test predictions in one explorer, displayed.

    `ev` is `evaluate.run_stage`'s Evaluation, `epochs` the comparison's budget (`compare_epochs`).
    """
    from ..evaluation.evaluate import test_split

    x_test, y_test, idx = test_split(ev.emb)
    lo, hi = ev.emb.percentiles()
    explorer = TestSetExplorer(x_test, y_test.numpy(), idx, predictions(ev, epochs), lo, hi, static_images)
    explorer.show()
    return explorer
