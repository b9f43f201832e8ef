"""What each stage hands to the next through files, and which earlier stages a stage needs run first.

Stages exchange data only through files in the run directory `runs/<profile>/` (SPEC §9). A chapter
opened on its own (JupyterLab, Binder, Colab, `jupyter nbconvert --execute`) asks `stages_to_build`
which earlier stages must run so that every file it reads exists; the runner then executes them at the
same profile. A stage's own outputs are keyed on its inputs and parameters, so rerunning a stage whose
work is finished only re-renders it.

The two tables below are checked: the runner stops a stage that finishes without writing what `WRITES`
promises, and the tests check that every file a stage reads is written by an earlier stage.
"""

from __future__ import annotations

from collections.abc import Callable

# Files (relative to `runs/<profile>/`) that each stage writes and later stages read.
WRITES: dict[str, tuple[str, ...]] = {
    "01_pigments": ("palette.h5",),
    "02_seed_images": ("seeds/seeds.json",),
    "03_synthetic_maxrf": ("dataset.h5", "dataset.card.json", "dense_test_sample.h5"),
    "04_train_dve": ("dve/dve.ckpt",),
    "05_embedded_dataset": ("embedded.h5",),
    "06_train_smalluvit": ("smalluvit/best.ckpt",),
}

# Files (relative to `runs/<profile>/`) that each stage reads.
READS: dict[str, tuple[str, ...]] = {
    "03_synthetic_maxrf": ("palette.h5", "seeds/seeds.json"),
    "04_train_dve": ("dataset.h5",),
    "05_embedded_dataset": ("dataset.h5", "dataset.card.json", "dve/dve.ckpt"),
    "06_train_smalluvit": ("embedded.h5",),
    "07_evaluate": ("palette.h5", "dataset.h5", "embedded.h5", "dve/dve.ckpt", "smalluvit/best.ckpt",
                    "dense_test_sample.h5"),
}

WRITER: dict[str, str] = {file: stage for stage, files in WRITES.items() for file in files}


def missing_inputs(stage: str, present: Callable[[str], bool]) -> list[str]:
    """The files `stage` reads that are not there (`present(file)` says whether one is)."""
    return [file for file in READS.get(stage, ()) if not present(file)]


def stages_to_build(stage: str, present: Callable[[str], bool]) -> list[str]:
    """The earlier stages to run, in order, before `stage` can read all its inputs.

    A stage runs when a file on the way to `stage` is missing and it writes that file; a stage that
    reads what a rerun stage writes runs again too (its inputs may have changed), as long as `stage`
    depends on it. Present files whose makers need not run are used as they are.
    """
    needed: set[str] = set()
    todo = [stage]
    while todo:
        for file in missing_inputs(todo.pop(), present):
            if WRITER[file] not in needed:
                needed.add(WRITER[file])
                todo.append(WRITER[file])
    build: list[str] = []
    for earlier in sorted(_depends_on(stage)):
        if earlier in needed or any(WRITER[file] in build for file in READS.get(earlier, ())):
            build.append(earlier)
    return build


def _depends_on(stage: str) -> set[str]:
    """Every stage whose files `stage` reads, directly or through other stages."""
    found: set[str] = set()
    todo = [stage]
    while todo:
        for file in READS.get(todo.pop(), ()):
            if WRITER[file] not in found:
                found.add(WRITER[file])
                todo.append(WRITER[file])
    return found
