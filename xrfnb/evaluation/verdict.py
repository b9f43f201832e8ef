"""The book's answer up front: the verdict box, written from result files (the results page's findings,
which read the same `Run`, are `findings`).

Every number comes from a run's files (`book/results/`, the glued values of `book/executed/*.ipynb`, the
run record) or from `xrfnb/data/paper_results.yml`; nothing is typed. A book built from a run other than the
published one (the smoke book) says so and gives the published run's numbers, read from `book/published/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import locations, prose, result_files
from . import colour_budget
from .compared import LOOKUP, at_budget, short_name
from .compared import POOLED as POOLED_DECODER
from ..io import read_json

CLUSTERED = "clustered image (the data's ceiling)"
ORACLE = "oracle floor, per pixel"
POOLED = "oracle floor, counts pooled 3 x 3"


def paper() -> dict:
    """The paper's reported numbers and training scale (`xrfnb/data/paper_results.yml`)."""
    from .evaluate import paper_results

    return paper_results()


def glued(executed: Path) -> dict[str, str]:
    """Every value the executed notebooks glued, by name (the plain-text form myst-nb pastes)."""
    values = {}
    for notebook in sorted(Path(executed).glob("*.ipynb")):
        for cell in read_json(notebook).get("cells", []):
            for out in cell.get("outputs", []):
                name = out.get("metadata", {}).get("scrapbook", {}).get("name")
                text = out.get("data", {}).get("application/papermill.record/text/plain")
                if name and text is not None:
                    values[name] = text.strip("'\"")
    return values


@dataclass(frozen=True)
class Run:
    """One run's results as the verdict reads them."""

    record: dict
    metrics: dict
    table: pd.DataFrame  # the paper's table beside the run's, indexed by metric
    comparison: pd.DataFrame  # the compared models, indexed by model
    floors: pd.DataFrame  # the data's ceiling and floors, indexed by model
    counts: pd.DataFrame  # robustness by counts per pixel
    options: pd.DataFrame  # robustness by generator setting
    scaling: dict
    glue: dict[str, str]
    like: pd.DataFrame = field(default_factory=pd.DataFrame)  # the paper's scoring beside the book's
    gap: dict = field(default_factory=dict)  # validation against test (`like_for_like.split_gap`)
    budget: pd.DataFrame = field(default_factory=pd.DataFrame)  # where the colour goes, rung by rung
    budget_sentence: str = ""
    sizes: pd.DataFrame = field(default_factory=pd.DataFrame)  # the budget's decoders at other embedding sizes

    @classmethod
    def load(cls, book: Path) -> Run:
        """The run whose `executed/`, `results/` sit under `book` (e.g. `book/` or `book/published/`); its
        result files are read as `result_files` writes them."""
        results = Path(book) / "results"
        missing = result_files.missing(results)
        if missing:
            raise FileNotFoundError(f"{results}: missing {', '.join(missing)} (run chapter 7 first)")
        counts, options = result_files.read_robustness(results)
        like, gap = result_files.read_like_for_like(results)
        budget, _ = result_files.read_colour_budget(results)
        budget_sentence = colour_budget.sentence(budget) if len(budget) > 1 else ""  # worded by this code
        return cls(record=read_json(Path(book) / "executed" / "run.json"),
                   metrics=result_files.read_metrics(results), table=result_files.read_paper_table(results),
                   comparison=result_files.read_comparison(results), floors=result_files.read_floors(results),
                   counts=counts, options=options, scaling=result_files.read_scaling(results),
                   glue=glued(Path(book) / "executed"), like=like, gap=gap,
                   budget=budget, budget_sentence=budget_sentence,
                   sizes=result_files.read_embedding_sizes(results)[0])

    @property
    def profile(self) -> str:
        return self.record["profile"]

    def interval(self, metric: str) -> tuple[float, float, float]:
        row = self.table.loc[metric]
        return float(row["reproduced"]), float(row["95 % interval low"]), float(row["95 % interval high"])

    def floor(self, row: str, metric: str) -> float | None:
        if row in self.floors.index and metric in self.floors.columns and pd.notna(self.floors.loc[row, metric]):
            return float(self.floors.loc[row, metric])
        return None


def _range(value: float, low: float, high: float, digits: int = 4) -> str:
    return f"{value:.{digits}f} ({low:.{digits}f} to {high:.{digits}f})"


def srgb_reading(run: Run) -> dict:
    """Which reading of the paper's sRGB loss its own MS-SSIM supports, measured on this run's models.

    Every (MS-SSIM, loss) pair this run measured (models, baselines, robustness settings) is fitted with a
    line; the fit gives the loss that goes with the paper's MS-SSIM, to compare with the paper's loss as
    printed and multiplied back by 3 (the other reading: printed after dividing by the maximum, 3).
    """
    pairs = [(run.metrics["ms_ssim"], run.metrics["srgb_loss"])]
    for frame in (run.comparison, run.counts, run.options):
        if {"ms_ssim", "srgb_loss"} <= set(frame.columns):
            pairs += [tuple(r) for r in frame[["ms_ssim", "srgb_loss"]].dropna().to_numpy()]
    ms, loss = np.array(pairs, float).T
    slope, intercept = np.polyfit(ms, loss, 1)
    p = paper()["metrics"]
    printed, paper_ms = p["srgb_loss"]["value"], p["ms_ssim"]["value"]
    expected = float(intercept + slope * paper_ms)
    divided = 3 * printed
    return {"pairs": len(pairs), "expected": expected, "printed": printed, "divided": divided,
            "paper_ms_ssim": paper_ms, "ms_ssim_at_divided": float((divided - intercept) / slope),
            "reading": "as printed" if abs(expected - printed) <= abs(expected - divided) else "divided by 3",
            "ms_range": (float(ms.min()), float(ms.max()))}


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def trained_epochs(run: Run) -> str:
    """The epochs chapter 6 trained (fewer than asked when the stopping rule ended it), from its glue."""
    return str(run.glue.get("uvit_epochs", run.record["parameters"]["uvit_epochs"]))


def how_trained(run: Run) -> str:
    """How chapter 6's training ended, from its glue: by its stopping rule, or at its last allowed epoch."""
    epochs, most = run.glue.get("uvit_epochs"), run.glue.get("uvit_max_epochs")
    if epochs is None or most is None or int(epochs) < int(most):
        return "Trained to its stopping rule on this run's training set"
    return f"Trained on this run's training set for all {int(most)} epochs it was given (its stopping rule did not end it)"


def verdict_sentence(run: Run) -> str:
    """One sentence: where this run's MS-SSIM and loss sit against the paper's, by their intervals."""
    p = paper()["metrics"]
    ms, ms_lo, ms_hi = run.interval("ms_ssim")
    loss, lo, hi = run.interval("srgb_loss")
    if ms_hi < p["ms_ssim"]["value"] and lo > p["srgb_loss"]["value"]:
        return (f"At `{run.profile}` scale the reproduction falls short of the paper: the whole 95 % interval of "
                f"its MS-SSIM lies below the paper's {p['ms_ssim']['value']:.4f} and that of its loss above the "
                f"paper's {p['srgb_loss']['value']:.4f}.")
    if ms_lo > p["ms_ssim"]["value"] and hi < p["srgb_loss"]["value"]:
        return f"At `{run.profile}` scale the reproduction does better than the paper on both numbers."
    return (f"At `{run.profile}` scale the reproduction is not shown apart from the paper: the paper's values lie "
            f"within, or on both sides of, the 95 % intervals of its MS-SSIM and loss.")


def causes(run: Run, scale: dict) -> list[str]:
    """The measured causes of the gap, each a sentence with its numbers."""
    found = []
    train, paper_train = run.scaling.get("train_images"), round(scale["images"] * scale["train_fraction"])
    if train:
        paintings = run.scaling.get("train_paintings")
        source = (f"the {paintings:,d} paintings of the training split" if paintings else
                  "the paintings of the training split (this run's record does not count them)")
        found.append(f"*Scale.* SmallUViT trained on {train:,d} crops of {run.scaling['image_size']} px from "
                     f"{source} for {trained_epochs(run)} "
                     f"epochs; the paper trained on about {paper_train:,d} images "
                     f"({scale['train_fraction']:.0%} of about {scale['images']:,d}) for {scale['epochs']} epochs, "
                     f"{paper_train / train:.0f} times more images.")
    clustered, oracle = run.floor(CLUSTERED, "ms_ssim"), run.floor(ORACLE, "ms_ssim")
    if clustered is not None and oracle is not None:
        found.append(f"*The data's ceiling.* On the same test crops the clustered image the cubes were drawn "
                     f"from reaches an MS-SSIM of {clustered:.4f}, and the oracle that decodes each pixel from the "
                     f"true mixtures {oracle:.4f}: the paper's {paper()['metrics']['ms_ssim']['value']:.4f} sits "
                     f"{'above' if paper()['metrics']['ms_ssim']['value'] > oracle else 'below'} the per-pixel "
                     f"oracle of these data and {'above' if paper()['metrics']['ms_ssim']['value'] > clustered else 'below'}"
                     f" their ceiling.")
    elif run.floor(ORACLE, "srgb_loss") is not None:
        found.append(f"*The data's floor.* The oracle that decodes each pixel from the true mixtures has a redmean "
                     f"loss of {run.floor(ORACLE, 'srgb_loss'):.4f} on the same test crops, against SmallUViT's "
                     f"{run.metrics['srgb_loss']:.4f}; this run's files hold no MS-SSIM of the floor or of the "
                     f"clustered image (measured from the next run of chapter 7 on).")
    if LOOKUP in run.comparison.index:
        row = run.comparison.loc[LOOKUP]
        ms, ms_lo, ms_hi = run.interval("ms_ssim")
        same = prose.inside(row["ms_ssim"], (ms_lo, ms_hi))
        said = prose.versus(row["ms_ssim"], ms, (ms_lo, ms_hi), of="SmallUViT's ")
        found.append(f"*The model adds {'nothing measurable' if same else 'something'} over a lookup.* Painting "
                     f"each pixel's latent cluster in the mean training colour of that cluster, with no parameter "
                     f"learned, scores an MS-SSIM of {said}.")
    if POOLED_DECODER in run.comparison.index:
        found.append(_pooled(run))
    if len(run.sizes) > 1:
        found.append(_embedding(run))
    models = run.scaling.get("models", {})
    if {"SmallUViT", "U-Net"} <= set(models):
        found.append(_convolution(run, models["SmallUViT"], models["U-Net"]))
    return found


def _pooled(run: Run) -> str:
    """The pooled decoder (chapter 7, section 4a) against SmallUViT, with SmallUViT's interval: how much
    of the gap a recipe for the noise closes, with the same latent as input."""
    row = run.comparison.loc[POOLED_DECODER]
    ms, ms_lo, ms_hi = run.interval("ms_ssim")
    said = prose.versus(float(row["ms_ssim"]), ms, (ms_lo, ms_hi), of="SmallUViT's ")
    steps = run.glue.get("pooled_steps")
    recipe = f"{int(steps):,d} steps of 4,096 pixels" if steps else "the pixel recipe"
    return (f"*Photon noise, and a recipe for it.* On the same 3-D latent, a per-pixel MLP that also reads the "
            f"latent pooled by total variation (photons of a region, edges kept), trained for {recipe}, "
            f"scores an MS-SSIM of {said} (chapter 7, section 4a).")


def _embedding(run: Run) -> str:
    """What the embedding costs once the photons are pooled (chapter 7, section 8b): perfect pooling of the
    run's latent, and the pooled decoder on it and on the largest PCA, each with its interval."""
    from .embedding_sizes import POOLED, SEGMENTS

    own, largest = run.sizes.index[0], run.sizes.index[-1]

    def ms(row: str, model: str) -> str:
        m = f"{model} ms_ssim"
        return _range(*(float(run.sizes.loc[row, c]) for c in (m, f"{m} low", f"{m} high")))

    return (f"*The embedding, once photons are pooled.* Each pixel given its true segment's mean of the run's "
            f"latent, “{own}”, a per-pixel MLP reaches an MS-SSIM of {ms(own, SEGMENTS)}: no pooling of that "
            f"latent gives more. The same pooled decoder on a PCA of the spectra with "
            f"{int(run.sizes.loc[largest, 'dimensions'])} components ({largest}) scores {ms(largest, POOLED)}, against "
            f"{ms(own, POOLED)} on the run's latent, both trained on the same "
            f"{run.glue.get('sizes_images', 'first')} training images (chapter 7, section 8b).")


def _convolution(run: Run, uvit: dict, unet: dict) -> str:
    """The U-Net against SmallUViT at the comparison's budget, with SmallUViT's interval there when the
    run's table of compared models holds it."""
    budget = at_budget(uvit["epochs"])
    if budget in run.comparison.index and "ms_ssim low" in run.comparison.columns:
        row = run.comparison.loc[budget]
        interval = (float(row["ms_ssim low"]), float(row["ms_ssim high"]))
        said = prose.versus(unet["ms_ssim"], uvit["ms_ssim"], interval, of="SmallUViT's ")
        measured = not prose.inside(unet["ms_ssim"], interval)
    else:
        said = f"{unet['ms_ssim']:.4f} against SmallUViT's {uvit['ms_ssim']:.4f}, with no interval in this run's files"
        measured = False
    ahead = unet["ms_ssim"] > uvit["ms_ssim"]
    lead = ("A convolution learns faster here" if measured and ahead else
            "SmallUViT learns faster here" if measured else
            "No measured difference between a convolution and SmallUViT")
    return (f"*{lead}.* At the comparison budget of {uvit['epochs']} epochs a convolutional U-Net of SmallUViT's "
            f"size scores an MS-SSIM of {said}.")


def what_it_would_take(root: Path, run: Run) -> str:
    """The scaling study's answer at the shown run's scale (`book/scaling/fit.json`), or that it is not yet
    measured there: a study of another profile's data (the smoke study, say) does not answer for this run.

    It quotes what the study measured at its compute budget, and its extrapolation to the paper's training
    set only where no result measured for SmallUViT (the study's points, this run's) lies above it
    (`scaling_report.measured_above`)."""
    from ..scaling import scaling_report

    profile = run.profile
    fit_path, study_path = root / "book" / "scaling" / "fit.json", root / "book" / "scaling" / "study.json"
    fit = read_json(fit_path) if fit_path.exists() else {}
    uvit = fit.get("models", {}).get("SmallUViT", {})
    done = sorted((p for p in uvit.get("points", []) if p.get("status") == "ok"), key=lambda p: p["train_images"])
    if fit.get("profile") != profile or not done or not study_path.exists():
        filed = (f" The study filed so far is at `{fit['profile']}` scale, which says nothing about this run "
                 f"(results page)." if fit.get("profile") and fit.get("profile") != profile else "")
        return ("*Not yet measured.* How many training images and epochs would bring SmallUViT to the paper's "
                f"numbers is the question of the scaling study on the `{profile}` data; until its fit "
                f"(`book/scaling/fit.json`) is filed, this book does not guess.{filed}")
    budget = read_json(study_path)["plan"]["budget_tflop"]
    capped = [p for p in done if p.get("stopped_by") == "budget"]
    first, last = done[0], done[-1]
    measured = [[f"the study's point on {p['train_images']:,} training images", p["ms_ssim"]] for p in done]
    measured.append(["this run's SmallUViT (chapter 6)", float(run.metrics["ms_ssim"])])
    measured += [[f"this run's {row} (chapter 7)", float(v)] for row, v in run.comparison["ms_ssim"].dropna().items()
                 if short_name(str(row)) == "SmallUViT"]
    said = (f"*Measured at a fixed compute budget, not at convergence.* The scaling study on the `{profile}` data "
            f"gives every point {budget:g} TFLOP of training (data × compute): SmallUViT measured "
            f"{first['ms_ssim']:.4f} on {first['train_images']:,} training images and {last['ms_ssim']:.4f} on "
            f"{last['train_images']:,}; {len(capped)} of its {len(done)} points ended at the budget, not at "
            f"convergence. {how_trained(run)}, it measured "
            f"{run.metrics['ms_ssim']:.4f} (chapter 6).")
    at = uvit.get("at", {}).get("paper")
    if not uvit.get("fitted") or at is None:
        return f"{said} {uvit.get('reason', 'The study fitted no curve')}."
    above = scaling_report.measured_above(at["ms_ssim"], measured)
    if above:
        return (f"{said} The study's curve does not answer for the paper's {at['train_images']:,} training "
                f"images: extrapolated at this budget it would lie below the {above[0][1]:.4f} measured by "
                f"{above[0][0]}, so this book quotes no value there. What more data would add to a model trained "
                f"to convergence is not measured; what the curve cannot account for is listed on the results page.")
    lo, hi = at["interval"]
    return (f"{said} *An extrapolation, not a measurement:* at this budget the study's curve gives SmallUViT an "
            f"MS-SSIM of {at['ms_ssim']:.4f} ({lo:.4f} to {hi:.4f}) at the paper's {at['train_images']:,} training "
            f"images, against the paper's {paper()['metrics']['ms_ssim']['value']:.4f}. What the curve cannot "
            f"account for is listed on the results page.")


#: The row of the like-for-like table (`like_for_like.table`) scored as the paper scores.
PAPER_SCORING = "the paper's: larger crops, all scales"


def _like_for_like(run: Run, paper_ms: float) -> tuple[str, list[str]]:
    """The MS-SSIM row's label, and the row of the paper's scoring, where the run measured it."""
    if run.like.empty or PAPER_SCORING not in run.like.index:
        return "MS-SSIM", []
    book, large = run.like.iloc[0], run.like.loc[PAPER_SCORING]
    label = f"MS-SSIM, the book's {int(book['crop px'])} px test crops at {int(book['MS-SSIM scales'])} scales"
    value = _range(large["ms_ssim"], large["ms_ssim low"], large["ms_ssim high"])
    return label, [f"| MS-SSIM, {int(large['crop px'])} px crops at {int(large['MS-SSIM scales'])} scales (the "
                   f"paper's scoring; {int(large['crops'])} crops of the {int(large['paintings'])} test paintings, "
                   f"predicted in tiles of the training size) | {paper_ms:.4f} (no interval given) | {value} |"]


def _numbers_table(run: Run, scale: dict) -> str:
    p = paper()["metrics"]
    paper_test = round(scale["images"] * scale["test_fraction"])
    label, like_rows = _like_for_like(run, p["ms_ssim"]["value"])
    return "\n".join([
        f"| | the paper | this reproduction (`{run.profile}`) |",
        "|---|---|---|",
        f"| {label} | {p['ms_ssim']['value']:.4f} (no interval given) | {_range(*run.interval('ms_ssim'))} |",
        *like_rows,
        f"| sRGB (redmean) loss, as printed | {p['srgb_loss']['value']:.4f} (no interval given) | "
        f"{_range(*run.interval('srgb_loss'))} |",
        f"| test set | about {paper_test:,d} images ({scale['test_fraction']:.0%} of about {scale['images']:,d}) | "
        f"{run.metrics['n_test']} crops of {run.metrics['n_test_paintings']} paintings that no training crop "
        f"comes from |",
    ])


def _divided(run: Run) -> str:
    """This run's loss divided by 3 with its interval (the table's other reading)."""
    return _range(*(v / 3 for v in run.interval("srgb_loss")))


def _published_at(root: Path) -> str:
    """Where a reader finds the published run: the published book's address (`locations.site_url`)."""
    site = locations.site_url(root)
    return (f"which [the published book]({site}) shows throughout" if site else
            "which the published book shows throughout (its files are `book/published/` of the repository)")


def _gap(run: Run) -> str:
    """Why validation and test differ (`like_for_like.gap_sentence`), where the run measured it."""
    return f" {run.gap['sentence']}" if run.gap.get("sentence") else ""


def box_markdown(root: Path) -> str:
    """The verdict box (a MyST admonition) for the book under `root`.

    Headlines the published run (`book/published/`) when the book shows another run, and says so.
    """
    here = Run.load(root / "book")
    published = root / "book" / "published"
    shown, note = here, ""
    if (published / "results").exists():
        reference = Run.load(published)
        if (reference.record["profile"], reference.record["date"]) != (here.record["profile"], here.record["date"]):
            shown = reference
            ms, lo, hi = here.interval("ms_ssim")
            note = (f"**This book shows a `{here.profile}`-scale run**: its {here.metrics['n_test']} test crops of "
                    f"{here.metrics['n_test_paintings']} paintings (MS-SSIM {_range(ms, lo, hi)}) show that the "
                    f"pipeline works, not what the paper's model reaches. The numbers below are the published "
                    f"`{reference.profile}` run's, {_published_at(root)}.\n\n")
    scale = paper()["training"]
    reading = srgb_reading(shown)
    other = _divided(shown) if reading["reading"] == "as printed" else _range(*shown.interval("srgb_loss"))
    listed = "\n".join(f"- {c}" for c in causes(shown, scale))
    return f"""```{{admonition}} Verdict
:class: important

{note}{_numbers_table(shown, scale)}

Intervals are 95 % bootstrap intervals over the test paintings.{_gap(shown)} The verdict reads the paper's loss
{reading['reading']} (the [results page](results.md) argues why from the paper's own statements); read the
other way, the paper's {reading['printed']:.4f} would stand against this run's {other}.

**Verdict.** {verdict_sentence(shown)}

**Measured causes.**

{listed}

**What it would take.** {what_it_would_take(root, shown)}
```
"""
