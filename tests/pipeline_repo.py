"""A temporary git copy of the project with tiny params, for the end-to-end tests."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY = {
    "data": {"train_limit": 2000},  # the shipped ruler measures it: the classifier stage trains nothing
    "train": {
        "epochs": 1,
        "batch_size": 64,  # 31 steps an epoch: the step counts the tests assert
        "log_every": 10,
        "sample_every": 10,
        "checkpoint_every": 10,
        "fid_every": 15,
        "fid_samples": 500,
        "steps_per_call": 5,
    },
    "sample": {"n": 1000},
    "evaluate": {"n": 1000},
    "tracking": {"register_model": True},
}


def tiny_params(base: dict, overrides: dict) -> dict:
    params = json.loads(json.dumps(base))
    for section, values in overrides.items():
        params[section].update(values)
    return params


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    """Poll `url` until it answers; fail with the end of the server's log if it exits or never answers."""
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            assert server.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)


def env_for(repo: Path) -> dict:
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
        DVC_NO_ANALYTICS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_ROOT", None)
    return env


def sh(args, repo, env=None, **kwargs):
    result = subprocess.run(
        args, cwd=repo, env=env_for(repo) | (env or {}), capture_output=True, text=True, **kwargs
    )
    assert result.returncode == 0, (
        f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def as_user(command: str, repo: Path, env=None, **kwargs):
    """`command` as README tells a user to run it: in a shell that activated the repo's `.venv`
    (here a link to the test's own virtualenv), with nothing of the virtualenv on PATH before."""
    venv = repo / ".venv"
    if not venv.exists():
        venv.symlink_to(BIN.parent)
    user = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    return sh(["bash", "-c", f"source .venv/bin/activate && {command}"], repo, user | (env or {}), **kwargs)


def copy_repo(repo: Path, overrides: dict = TINY) -> Path:
    """The project's tracked files in `repo` with tiny params, committed."""
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        # reports/ holds the outputs of the checkout's own runs; the copy makes its own
        if (ROOT / name).is_file() and not name.startswith("reports/"):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny_params(base, overrides), sort_keys=False))
    sh(["git", "init", "-q"], repo)
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "tiny"], repo)
    return repo


def repro(repo: Path, env=None) -> Path:
    """`dvc repro` in `repo`, its output kept in repro.log."""
    result = sh(["dvc", "repro"], repo, env, timeout=900)
    repo.joinpath("repro.log").write_text(result.stdout + result.stderr)
    return repo


def make_repo(repo: Path, overrides: dict = TINY) -> Path:
    """The project's tracked files in `repo` with tiny params, committed, after `dvc repro`."""
    return repro(copy_repo(repo, overrides))
