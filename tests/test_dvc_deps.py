"""dvc.yaml names exactly the code and the params each stage uses, derived here from the code.

Code: `lineage.stage_code`, the `fashiongan` modules a stage imports, transitively (its docstring
says the rule; a resumed train checks the same files).

Params: `cfg.<section>.<key>` read anywhere in that code (a bare `cfg.<section>` hands the whole
section on), and the sections of `flatten(cfg, (...))` calls. config.py is left out: its
cross-checks of every section run in the validate stage, which depends on all of params.yaml.
"""

import ast
import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from fashiongan.config import Config
from fashiongan.lineage import module_file as _file
from fashiongan.lineage import stage_code

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = set(Config.model_fields)
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def params_read(modules: set[str]) -> set[str]:
    keys = set()
    for module in modules - {"fashiongan.config"}:
        source = _file(module).read_text()
        for chain in re.findall(r"(?<![\w.])cfg((?:\.\w+)+)", source):
            parts = chain.lstrip(".").split(".")
            if parts[0] in SECTIONS:
                keys.add(".".join(parts[:2]))
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "flatten"
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id == "cfg"
            ):
                assert len(node.args) == 2, f"{module}: flatten(cfg) reads every section; name the ones used"
                keys |= {e.value for e in node.args[1].elts}
    return keys


def _declared_code(stage: str) -> set[str]:
    deps = [d for d in STAGES[stage].get("deps", []) if d.startswith("src/fashiongan/")]
    return {d[len("src/") : -len(".py")].replace("/", ".") for d in deps}


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "validate"])
def test_every_stage_depends_on_exactly_the_code_it_runs(stage):
    assert STAGES[stage]["cmd"] == f"fashiongan {stage}"
    derived, declared = stage_code(stage), _declared_code(stage)
    missing = sorted(_file(m).relative_to(ROOT).as_posix() for m in derived - declared)
    extra = sorted(_file(m).relative_to(ROOT).as_posix() for m in declared - derived)
    assert not missing, f"dvc.yaml stage {stage!r} runs {missing} but does not list them in deps"
    assert not extra, f"dvc.yaml stage {stage!r} lists {extra} in deps but never runs them"


def _covered(declared: str, derived: set[str]) -> bool:
    """A declared param is read: itself, a key of a section read whole, or a section every key of
    which is read (a section read for one key is too much: its other keys would re-run the stage)."""
    if declared in derived or any(declared.startswith(d + ".") for d in derived):
        return True
    section = Config.model_fields[declared].annotation if declared in Config.model_fields else None
    return (
        isinstance(section, type)
        and issubclass(section, BaseModel)
        and all(f"{declared}.{key}" in derived for key in section.model_fields)
    )


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "validate"])
def test_every_stage_declares_exactly_the_params_it_reads(stage):
    derived, declared = params_read(stage_code(stage)), set(STAGES[stage].get("params", []))
    missing = sorted(k for k in derived if k not in declared and k.split(".")[0] not in declared)
    extra = sorted(p for p in declared if not _covered(p, derived))
    assert not missing, f"dvc.yaml stage {stage!r} reads params {missing} but does not declare them"
    assert not extra, f"dvc.yaml stage {stage!r} declares params {extra} but never reads them"


def test_validate_runs_on_any_params_change_and_its_code():
    deps = set(STAGES["validate"]["deps"])
    assert "params.yaml" in deps
    assert {f"src/{m.replace('.', '/')}.py" for m in stage_code("validate")} <= deps


def test_the_derivation_sees_imports_params_and_files_named_by_path():
    """The derivation itself, on what it must find in today's code."""
    train = stage_code("train")
    assert {
        "fashiongan.gan.trainer",
        "fashiongan.evaluation.metrics",
        "fashiongan.gan.resume",
        "fashiongan.paths",
    } <= train
    assert "fashiongan.tracking.pyfunc" in stage_code("evaluate")  # named by path in tracking/model.py
    assert {
        "train",
        "model",
        "seed",
        "runtime",
        "tracking.enabled",
        "tracking.experiment",
        "data",
    } <= params_read(train)
    assert "tracking.register_model" not in params_read(train)  # flipping it must not retrain the GAN
    assert {"sample.n", "sample.seed"} <= params_read(stage_code("sample"))


def test_one_change_reruns_one_stage_training_needs_no_serving_download_or_evaluation_code():
    """Serving the generator (pyfunc), packaging it (model), recording evaluations, syncing after an outage
    and downloading the data are no code of train: editing them never re-runs the 9-minute training."""
    train = {_file(m).relative_to(ROOT).as_posix() for m in stage_code("train")}
    for elsewhere in ("pyfunc", "model", "evaluation", "sync"):
        assert f"src/fashiongan/tracking/{elsewhere}.py" not in train
    assert "src/fashiongan/data/download.py" not in train
    assert {_file(m).relative_to(ROOT).as_posix() for m in stage_code("prepare")} >= {
        "src/fashiongan/data/download.py"
    }


def test_layers_read_top_down_no_stage_imports_use_and_config_imports_no_data():
    for stage in STAGES:
        used = sorted(m for m in stage_code(stage) if m.startswith("fashiongan.use."))
        assert not used, f"stage {stage} imports {used}"
    config_imports = {
        node.module or ""
        for node in ast.walk(ast.parse((ROOT / "src/fashiongan/config.py").read_text()))
        if isinstance(node, ast.ImportFrom)
    }
    assert not any(module.startswith(("data", ".data", "fashiongan.data")) for module in config_imports)
