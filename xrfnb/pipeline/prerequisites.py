"""What each stage hands to the next through files, and which earlier stages must run before a stage.

Stages exchange data only through files in the run directory `runs/<profile>/` (the book's
reproducibility page, "how the pipeline is built"). A chapter opened on its own (JupyterLab, Binder,
Colab, `jupyter nbconvert --execute`) and the runner ask `stages_to_build` which earlier stages must run:
those the chapter depends on (through each stage's `after`) that are not done, where "done" is the one
notion every part of the pipeline shares: the stage record's key equals the key of the parameters asked
for (`config.StageParams.done`). Keys follow the data, so a stage whose input stage runs again is not done
either.

The file tables come from each stage's parameters (`reads`, `writes`, `after`); the runner stops a stage
that finishes without writing what it promises, and a test checks every read file is written earlier.
"""

from __future__ import annotations

from collections.abc import Callable

from . import stages
from ..config import ParameterError

def writer() -> dict[str, str]:
    """Which stage writes each file."""
    return {file: cls.stage for cls in stages.STAGES for file in cls.writes}


def depends_on(stage: str) -> list[str]:
    """Every stage whose outputs `stage` reads, directly or through other stages, in order."""
    after = {cls.stage: cls.after for cls in stages.STAGES}
    found: set[str] = set()
    todo = [stage]
    while todo:
        for earlier in after.get(todo.pop(), ()):
            if earlier not in found:
                found.add(earlier)
                todo.append(earlier)
    return sorted(found)


def stages_to_build(stage: str, done: Callable[[str], bool]) -> list[str]:
    """The earlier stages to run, in order, before `stage` reads inputs made with the parameters asked
    for: those it depends on that are not done (`done(name)` says whether one is)."""
    return [earlier for earlier in depends_on(stage) if not done(earlier)]


def missing_inputs(stage: str, present: Callable[[str], bool]) -> list[str]:
    """The files `stage` reads that are not there (`present(file)` says whether one is); only the stage's
    own parameters are looked at (a kernel the runner started imports its own stage's code alone)."""
    try:
        reads = stages.params_of(stage).reads
    except ParameterError:  # not a stage of the pipeline: it reads nothing the runner writes
        return []
    return [file for file in reads if not present(file)]
