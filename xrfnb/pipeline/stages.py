"""The stages in order, each with its parameters: the one list the runner, the CLI and the checks read.

Each stage's parameters are a `config.StageParams` defined beside the code of the stage (its fields,
defaults, validation, key). A run's parameters are their union: a name shared by several stages
(`seed`, `devices`) has one value for all of them.

The classes are imported when first asked for (`STAGES`, `params_of`): the modules that define them hold
the stages' code, and a chapter's kernel needs its own stage's alone (chapter 1 no torch, no Lightning).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..config import ParameterError, StageParams

#: Every stage, in order, and where its parameters are defined ("module:Class").
WHERE: dict[str, str] = {
    "01_pigments": "xrfnb.palette.pigments:PaletteParams",
    "02_seed_images": "xrfnb.paintings.seeds:SeedParams",
    "03_synthetic_maxrf": "xrfnb.synthetic.dataset:GenerateParams",
    "04_train_dve": "xrfnb.embedding.dve:DVEParams",
    "05_embedded_dataset": "xrfnb.embedding.embedded:EmbedParams",
    "06_train_smalluvit": "xrfnb.models.recolour:TrainParams",
    "07_evaluate": "xrfnb.evaluation.evaluate:EvaluateParams",
    "08_domain_shift": "xrfnb.evaluation.domain_shift:DomainShiftParams",
}


def _load(stage: str) -> type[StageParams]:
    """The parameters class of a stage of `WHERE`, imported with its module."""
    module, name = WHERE[stage].split(":")
    cls = getattr(importlib.import_module(module), name)
    if cls.stage != stage:
        raise ParameterError(f"{WHERE[stage]} is the parameters of {cls.stage!r}, not of {stage!r} (stages.WHERE)")
    return cls


def __getattr__(name: str) -> Any:
    """`STAGES`: every stage's parameters class, in order (their modules imported on first use)."""
    if name != "STAGES":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return tuple(_load(stage) for stage in WHERE)


def _stages() -> tuple[type[StageParams], ...]:
    """`STAGES`, or the classes set in its place (the runner's tests set toy stages)."""
    return globals()["STAGES"] if "STAGES" in globals() else __getattr__("STAGES")


def params_of(stage: str) -> type[StageParams]:
    """The parameters of stage `stage` (a notebook stem); only its own module is imported."""
    if "STAGES" not in globals() and stage in WHERE:
        return _load(stage)
    by_name = {cls.stage: cls for cls in _stages()}
    if stage not in by_name:
        raise ParameterError(f"{stage}: no such stage (stages: {', '.join(by_name)})")
    return by_name[stage]


def base() -> dict[str, Any]:
    """Every stage's defaults: the base that a profile changes."""
    out: dict[str, Any] = {}
    for cls in _stages():
        for name, value in cls.defaults().items():
            if name in out and out[name] != value:
                raise ParameterError(f"parameter {name} has two defaults: {out[name]!r} and {value!r} "
                                     f"({cls.stage}); a shared parameter needs one")
            out[name] = value
    return out


def users(name: str) -> list[str]:
    """The stages that use parameter `name`."""
    return [cls.stage for cls in _stages() if name in cls.names()]


def build(params: dict[str, Any]) -> dict[str, StageParams]:
    """Each stage's parameters from a run's parameters; a bad value is refused naming its stage."""
    return {cls.stage: cls.from_params(params) for cls in _stages()}
