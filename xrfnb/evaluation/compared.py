"""The models chapter 7 trains beside the paper's SmallUViT: one list, read by the evaluation (what it
trains, `evaluate.ablation_runs`), by the time budget (how many, `budget.COMPARED_MODELS`) and by the
scaling files (the run's record and the controlled study, which follow some of them under short names).

Each entry changes the paper's configuration: `model` fields of `SmallUViTConfig`, `recipe` fields of
`RecolourConfig` (architecture, schedule). The paper's recipe stays the default and the model the book
reports; the rest are its ablations (without SPT, LSA or long skips), changes beyond the paper aimed at
the patch grid (patch 8, a per-pixel path beside the tokens) and at the optimisation (warm-up and cosine
decay), and two learned baselines.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    """A compared model: the folder it trains in (under the run's `ablations/`), its changes, the part of
    the paper's model it tests (`cause`) and what stands in its place (`other`, the subject of "does
    better" or "does worse" in `diagnosis.points_at`), and, for the models the scaling files follow, the
    short name those files give it."""

    folder: str
    model: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    cause: str = ""
    other: str = ""
    short: str = ""

    @property
    def arch(self) -> str:
        """The architecture (`RecolourConfig.arch`): SmallUViT unless the recipe changes it."""
        return self.recipe.get("arch", "smalluvit")


PAPER = "SmallUViT (paper)"
UNET = "convolutional U-Net"
LOOKUP = "latent cluster -> mean colour (non-learned)"  # the baseline row that trains nothing


def at_budget(epochs: int) -> str:
    """What the book's tables and explorer call `PAPER` retrained at the comparison's budget: the paper's
    architecture for `epochs` epochs, so that no reader takes it for chapter 6's model."""
    return f"SmallUViT (paper's architecture, {epochs} epochs)"


COMPARED: dict[str, Variant] = {
    PAPER: Variant("smalluvit", short="SmallUViT"),
    "SmallUViT without SPT": Variant("no_spt", model={"spt": False},
                                     cause="Shifted Patch Tokenization",
                                     other="the model without it"),
    "SmallUViT without LSA": Variant("no_lsa", model={"lsa": False},
                                     cause="Locality Self-Attention",
                                     other="the model without it"),
    "SmallUViT without long skips": Variant("no_skips", model={"skip": "none"},
                                            cause="the long skips",
                                            other="the model without them"),
    "SmallUViT, patch 8": Variant("patch8", model={"patch_size": 8},
                                  cause="the 16-pixel patch grid",
                                  other="a finer grid"),
    "SmallUViT + per-pixel path": Variant("pixel_path", model={"pixel_path": "mlp"},
                                          cause="the patch-wise output",
                                          other="a full-resolution path"),
    "SmallUViT, warm-up + cosine decay": Variant("cosine", recipe={"schedule": "cosine"},
                                                 cause="the optimisation recipe",
                                                 other="a warm-up and cosine schedule"),
    "per-pixel MLP": Variant("pixel_mlp", recipe={"arch": "pixel_mlp"}, short="per-pixel MLP",
                             cause="the transformer's spatial model",
                             other="one pixel's embedding alone"),
    UNET: Variant("unet", recipe={"arch": "unet"}, short="U-Net",
                  cause="the transformer itself",
                  other="a convolutional network of its size"),
}

#: Beyond the paper, trained with the pixel recipe (`xrfnb.models.pooled`, many steps on single pixels): the
#: per-pixel MLP on the raw latent, the best decoder of one pixel, and the same MLP with the latent's
#: edge-preserving (total-variation) pooled copies beside it, a spatial model that keeps edges.
PIXEL_RECIPE = "per-pixel MLP, pixel recipe"
POOLED = "TV pooling + per-pixel MLP"

#: The models the scaling study can train, by architecture, with the short names its files give them.
SCALED: dict[str, str] = {v.arch: v.short for v in COMPARED.values() if v.short}

def short_name(row: str) -> str:
    """The scaling files' short name of a row of chapter 7's table ('' for a model they do not follow); the
    paper's architecture retrained at a budget (`at_budget`) is the study's SmallUViT."""
    if row in COMPARED:
        return COMPARED[row].short
    prefix, suffix = at_budget(0).split("0")
    number = row[len(prefix):-len(suffix)] if row.startswith(prefix) and row.endswith(suffix) else ""
    return COMPARED[PAPER].short if number.isdigit() else ""


#: The models each run's scaling record follows (`result_files.scaling_record`), by their names above.
RECORDED = (PAPER, UNET)
