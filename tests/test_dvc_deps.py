"""dvc.yaml names exactly the code and the params each stage uses, derived here from the code.

Code: a stage `fashiongan <name>` runs `fashiongan.stages.<name>`; its code is that module and every
`fashiongan` module it imports, transitively (function-level imports included), plus sibling
files it names as `<module>.py` (MLflow loads mlflow_model.py by path). Package `__init__` files
(no code) and cli.py (it only dispatches to the stage) are left out.

Params: `cfg.<section>.<key>` read anywhere in that code (a bare `cfg.<section>` hands the whole
section on), and the sections of `flatten(cfg, (...))` calls. config.py is left out: its
cross-checks of every section run in the validate stage, which depends on all of params.yaml.
"""

import ast
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from fashiongan.config import Config

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "fashiongan"
SECTIONS = {f.name for f in dataclasses.fields(Config)}
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _file(module: str) -> Path:
    parts = module.split(".")[1:]
    path = PACKAGE.joinpath(*parts)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _imports(module: str) -> set[str]:
    path = _file(module)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("fashiongan.")}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            if not target.startswith("fashiongan"):
                continue
            for alias in node.names:  # `from .. import plots` imports a module, `from ..io import x` a name
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _file(candidate).exists() else target)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.fullmatch(r"\w+\.py", node.value) and (path.parent / node.value).exists():
                found.add(f"{package}.{node.value[:-3]}")
    return {m for m in found if _file(m).exists()}


def stage_code(stage: str) -> set[str]:
    seen, todo = set(), [f"fashiongan.stages.{stage}"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_imports(module))
    return {m for m in seen if _file(m).name != "__init__.py" and m != "fashiongan.cli"}


def params_read(modules: set[str]) -> set[str]:
    keys = set()
    for module in modules - {"fashiongan.config"}:
        source = _file(module).read_text()
        for chain in re.findall(r"(?<![\w.])cfg((?:\.\w+)+)", source):
            parts = chain.lstrip(".").split(".")
            if parts[0] in SECTIONS:
                keys.add(".".join(parts[:2]))
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "flatten"
                    and isinstance(node.args[0], ast.Name) and node.args[0].id == "cfg"):
                assert len(node.args) == 2, f"{module}: flatten(cfg) reads every section; name the ones used"
                keys |= {e.value for e in node.args[1].elts}
    return keys


def _declared_code(stage: str) -> set[str]:
    deps = [d for d in STAGES[stage].get("deps", []) if d.startswith("src/fashiongan/")]
    return {d[len("src/"):-len(".py")].replace("/", ".") for d in deps}


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "validate"])
def test_every_stage_depends_on_exactly_the_code_it_runs(stage):
    assert STAGES[stage]["cmd"] == f"fashiongan {stage}"
    derived, declared = stage_code(stage), _declared_code(stage)
    missing = sorted(_file(m).relative_to(ROOT).as_posix() for m in derived - declared)
    extra = sorted(_file(m).relative_to(ROOT).as_posix() for m in declared - derived)
    assert not missing, f"dvc.yaml stage {stage!r} runs {missing} but does not list them in deps"
    assert not extra, f"dvc.yaml stage {stage!r} lists {extra} in deps but never runs them"


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "validate"])
def test_every_stage_declares_exactly_the_params_it_reads(stage):
    derived, declared = params_read(stage_code(stage)), set(STAGES[stage].get("params", []))
    missing = sorted(k for k in derived if k not in declared and k.split(".")[0] not in declared)
    extra = sorted(p for p in declared if not any(d == p or d.startswith(p + ".") or p.startswith(d + ".")
                                                  for d in derived))
    assert not missing, f"dvc.yaml stage {stage!r} reads params {missing} but does not declare them"
    assert not extra, f"dvc.yaml stage {stage!r} declares params {extra} but never reads them"


def test_validate_runs_on_any_params_change_and_its_code():
    deps = set(STAGES["validate"]["deps"])
    assert "params.yaml" in deps
    assert {f"src/{m.replace('.', '/')}.py" for m in stage_code("validate")} <= deps


def test_the_derivation_sees_imports_params_and_files_named_by_path():
    """The derivation itself, on what it must find in today's code."""
    train = stage_code("train")
    assert {"fashiongan.trainer", "fashiongan.metrics", "fashiongan.resume", "fashiongan.paths"} <= train
    assert "fashiongan.mlflow_model" in stage_code("evaluate")  # named by path in tracking.py
    assert {"train", "model", "seed", "runtime", "tracking", "data"} <= params_read(train)
    assert {"sample.n", "sample.seed", "tracking.enabled"} <= params_read(stage_code("sample"))
