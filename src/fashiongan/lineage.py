"""What a stage's result is made of: the `fashiongan` code it runs and the digests of its inputs.

A stage `fashiongan <name>` runs `fashiongan.stages.<name>`; its code is that module and every
`fashiongan` module it imports, transitively (function-level imports included), plus sibling
files it names as `<module>.py` (MLflow loads tracking/pyfunc.py by path). Package `__init__` files
(no code) and cli.py (it only dispatches to the stage) are left out. dvc.yaml lists the same
files as each stage's deps (a test derives them from here), and a resumed `train` checks the
same files' digests, so DVC and the resume rule agree on what "the same code" is.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from .io import file_digest

PACKAGE = Path(__file__).resolve().parent


def module_file(module: str) -> Path:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _imports(module: str) -> set[str]:
    path = module_file(module)
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
                found.add(candidate if module_file(candidate).exists() else target)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"\w+\.py", node.value)
            and (path.parent / node.value).exists()
        ):
            found.add(f"{package}.{node.value[:-3]}")
    return {m for m in found if module_file(m).exists()}


def stage_code(stage: str) -> set[str]:
    """The modules `fashiongan <stage>` runs (dotted names)."""
    seen, todo = set(), [f"fashiongan.stages.{stage}"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_imports(module))
    return {m for m in seen if module_file(m).name != "__init__.py" and m != "fashiongan.cli"}


def code_digests(stage: str) -> dict[str, str]:
    """{"src/fashiongan/<module>.py": sha256} for the code of `stage`."""
    return {
        f"src/{module_file(m).relative_to(PACKAGE.parent).as_posix()}": file_digest(module_file(m))
        for m in sorted(stage_code(stage))
    }


def git(root: Path, *args: str) -> str:
    """The output of `git <args>` run in `root`; "" where git or the repository is missing."""
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def git_commit(root: Path) -> str | None:
    return git(root, "rev-parse", "HEAD") or None


def git_dirty(root: Path, files) -> bool | None:
    """Whether any of `files` (paths relative to `root`) differs from the commit HEAD names (changed,
    staged, untracked or deleted); None where git or the repository is missing."""
    if git_commit(root) is None:
        return None
    return bool(git(root, "status", "--porcelain", "--", *files))
