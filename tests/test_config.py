"""One source of truth: each stage's parameters, their defaults, their checks, and keys that change only
when results can."""

import dataclasses
import importlib
import inspect
import sys

import pytest

from xrfnb import config
from xrfnb.synthetic import dataset
from xrfnb.embedding import dve
from xrfnb.palette import pigments
from xrfnb.models import recolour
from xrfnb.pipeline import runner, stages

from conftest import ROOT


@pytest.mark.parametrize("cls", stages.STAGES, ids=lambda c: c.stage)
def test_every_notebook_declares_its_stages_parameters_at_the_smoke_values(cls):
    declared = runner.declared_parameters(ROOT / "notebooks" / f"{cls.stage}.ipynb")
    smoke = runner.load_profile("smoke").params
    assert set(declared) == {"profile", *cls.names()}
    for name in cls.names():
        assert declared[name] == smoke[name] == cls.defaults()[name], name


def test_a_shared_parameter_has_one_default_and_every_profile_names_only_known_parameters():
    base = stages.base()
    for name in runner.profile_names():
        assert set(runner.load_profile(name).changes) <= set(base)
    assert runner.load_profile("smoke").changes == {}


@pytest.mark.parametrize("make, message", [
    (lambda: pigments.PaletteParams(n_channels="512"), "01_pigments: parameter n_channels expects int"),
    (lambda: pigments.PaletteParams(sample_model="wall"), "01_pigments: parameter sample_model='wall' is not one of"),
    (lambda: dve.DVEParams(dve_lr=-1.0), "04_train_dve: parameter dve_lr must be positive"),
    (lambda: recolour.TrainParams(uvit_skip="cat"), "06_train_smalluvit: parameter uvit_skip='cat'"),
])
def test_a_bad_value_is_one_line_naming_the_stage_and_the_parameter(make, message):
    with pytest.raises(config.ParameterError, match=message):
        make()


def test_the_models_own_defaults_agree_with_their_stages():
    d, c = dve.DVEParams(), dve.DVEConfig()
    assert (c.beta, c.gamma, c.warmup_epochs, c.ramp_epochs, c.lr, c.dropout, c.n_clusters) == (
        d.dve_beta, d.dve_gamma, d.dve_warmup_epochs, d.dve_ramp_epochs, d.dve_lr, d.dve_dropout, d.dve_clusters)
    t, r = recolour.TrainParams(), recolour.RecolourConfig()
    assert (r.lr, r.weight_decay, r.plateau_patience) == (t.uvit_lr, t.uvit_weight_decay, t.uvit_patience)


def test_a_comment_or_docstring_edit_changes_no_key_and_a_code_edit_does(tmp_path, monkeypatch):
    module = tmp_path / "keyed_module.py"
    monkeypatch.syspath_prepend(str(tmp_path))

    def fingerprint(source):
        module.write_text(source)
        sys.modules.pop("keyed_module", None)
        importlib.invalidate_caches()
        return config.code_fingerprint("keyed_module")

    base = fingerprint('"""A module."""\n\ndef f(x):\n    """Twice x."""\n    return 2 * x\n')
    assert fingerprint('"""A module, reworded."""\n\ndef f(x):  # doubles\n    """Two times x."""\n\n'
                       '    return 2 * x  # the result\n') == base
    assert fingerprint('"""A module."""\n\ndef f(x):\n    """Twice x."""\n    return 3 * x\n') != base


def test_keys_follow_parameters_and_inputs_not_what_only_says_how_to_run():
    p = dataclasses.replace  # a stage's parameters are frozen
    g = stages.params_of("03_synthetic_maxrf")()
    up = {"01_pigments": "a", "02_seed_images": "b"}
    assert g.key(up) == p(g, workers=4, info_samples=2).key(up)
    assert g.key(up) != p(g, n_samples=48).key(up)
    assert g.key(up) != g.key({**up, "01_pigments": "c"})


def test_the_palette_records_its_instrument_and_its_users_read_it(tmp_path):
    params = pigments.PaletteParams(anode="Rh", tube_kv=30.0, sample_model="fresco", pigment_fraction=0.3)
    pigments.run_stage(tmp_path, params)
    palette = pigments.Palette.load(tmp_path / "palette.h5")
    assert palette.measured_with() == params.instrument()
    assert palette.sample_model() == params.samples()["fresco"]
    rec = config.read_record(tmp_path, "01_pigments")
    assert rec["parameters"]["anode"] == "Rh" and params.done(tmp_path)
    assert not dataclasses.replace(params, anode="Mo").done(tmp_path)


def test_moving_or_renaming_a_module_changes_no_key(tmp_path, monkeypatch):
    """A module moved into a subpackage (its relative imports one level deeper, the stage's `code` naming
    the new path, the modules listed in another order) keeps its stage's key; a code edit does not."""
    package = tmp_path / "movable"
    (package / "sub").mkdir(parents=True)
    for folder in (package, package / "sub"):
        (folder / "__init__.py").write_text("")
    (package / "helper.py").write_text("def g(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def fingerprint(files: dict[str, str], *names: str) -> str:
        for path, source in files.items():
            (package / path).write_text(source)
        for name in [m for m in sys.modules if m.startswith("movable")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        return config.code_fingerprint(*names)

    stage = 'from .helper import g\n\nCODE = ("xrfnb.stage", "xrfnb.helper")\n\ndef f(x):\n    return 2 * g(x)\n'
    before = fingerprint({"stage.py": stage}, "movable.stage", "movable.helper")
    moved = stage.replace("from .helper", "from ..helper").replace("xrfnb.stage", "xrfnb.sub.renamed")
    (package / "stage.py").unlink()
    assert fingerprint({"sub/renamed.py": moved}, "movable.helper", "movable.sub.renamed") == before
    edited = moved.replace("2 * g(x)", "3 * g(x)")
    assert fingerprint({"sub/renamed.py": edited}, "movable.helper", "movable.sub.renamed") != before
    other_library = "from math import floor as g\n" + moved.replace("from ..helper import g\n", "")
    assert fingerprint({"sub/renamed.py": other_library}, "movable.helper", "movable.sub.renamed") != before


def test_a_real_stage_module_moved_one_level_down_keeps_its_digest():
    """The synthetic-data stage's own source, with every relative import one level deeper and its module
    paths renamed, as after a move into a subpackage, hashes the same."""
    import re

    source = inspect.getsource(dataset)
    moved = re.sub(r"from \.", "from ..", source).replace('"xrfnb.synthetic.synth"', '"xrfnb.synthetic.generate"')
    assert moved != source
    assert config.source_digest(moved) == config.source_digest(source)
