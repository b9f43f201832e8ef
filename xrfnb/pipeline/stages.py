"""The stages in order, each with its parameters: the one list the runner, the CLI and the checks read.

Each stage's parameters are a `config.StageParams` defined beside the code of the stage (its fields,
defaults, validation, key). A run's parameters are their union: a name shared by several stages
(`seed`, `devices`) has one value for all of them.
"""

from __future__ import annotations

from typing import Any

from ..synthetic import dataset
from ..embedding import dve, embedded
from ..evaluation import domain_shift, evaluate
from ..palette import pigments
from ..models import recolour
from ..paintings import seeds
from ..config import ParameterError, StageParams

STAGES: tuple[type[StageParams], ...] = (
    pigments.PaletteParams,
    seeds.SeedParams,
    dataset.GenerateParams,
    dve.DVEParams,
    embedded.EmbedParams,
    recolour.TrainParams,
    evaluate.EvaluateParams,
    domain_shift.DomainShiftParams,
)


def params_of(stage: str) -> type[StageParams]:
    """The parameters of stage `stage` (a notebook stem)."""
    by_name = {cls.stage: cls for cls in STAGES}
    if stage not in by_name:
        raise ParameterError(f"{stage}: no such stage (stages: {', '.join(by_name)})")
    return by_name[stage]


def base() -> dict[str, Any]:
    """Every stage's defaults: the base that a profile changes."""
    out: dict[str, Any] = {}
    for cls in STAGES:
        for name, value in cls.defaults().items():
            if name in out and out[name] != value:
                raise ParameterError(f"parameter {name} has two defaults: {out[name]!r} and {value!r} "
                                     f"({cls.stage}); a shared parameter needs one")
            out[name] = value
    return out


def users(name: str) -> list[str]:
    """The stages that use parameter `name`."""
    return [cls.stage for cls in STAGES if name in cls.names()]


def build(params: dict[str, Any]) -> dict[str, StageParams]:
    """Each stage's parameters from a run's parameters; a bad value is refused naming its stage."""
    return {cls.stage: cls.from_params(params) for cls in STAGES}
