"""`make ui` seen by a new user: the URL it prints, opened in a fresh headless Chromium (empty local
storage), shows the experiment's training runs, not MLflow's GenAI overview."""

import os
import re
import signal
import subprocess
import time

import pytest
import yaml
from browser import chromium
from pipeline_repo import BIN, copy_repo, free_port, wait_until_up

from fashiongan.tracking.run import start_run
from fashiongan.tracking.store import client_for_experiment

RUN_NAME = "baseline-run"

SHOWN = """
return {
  path: location.hash.split('?')[0],
  sidebar: [...document.querySelectorAll('aside nav a')].map(a => a.textContent.trim()).filter(Boolean),
  runs: [...document.querySelectorAll('[role=row] a[href*="/runs/"]')].map(a => a.textContent.trim()),
  text: document.body.innerText,
};
"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """`make ui` on a repo copy whose store holds another experiment first (so the project's is not
    the only one, nor id 1) and the project's with one finished run."""
    repo = copy_repo(tmp_path_factory.mktemp("ui"))
    experiment = yaml.safe_load((repo / "params.yaml").read_text())["tracking"]["experiment"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_ROOT", str(repo))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.setenv("DVC_EXP_NAME", RUN_NAME)  # what names a run, as under `dvc exp run`
        client_for_experiment("someone-else")
        _, experiment_id = client_for_experiment(experiment)
        run = start_run(experiment)
        run.log_series({"fid": [(1, 9.76)]})
        run.end()
    (repo / ".venv").symlink_to(BIN.parent)
    port, log = free_port(), repo / "ui.log"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    # as README says: a plain shell, nothing of the virtualenv on PATH; .venv is installed already
    server = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "ui", f"UI_PORT={port}"],
        cwd=repo,
        env=env | {"PATH": "/usr/local/bin:/usr/bin:/bin"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", server, log, timeout=120)
        yield {"log": log.read_text(), "base": f"http://127.0.0.1:{port}", "experiment_id": experiment_id}
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # make, its shell, mlflow ui and its worker: one process group
        server.wait(timeout=30)


def shown(url: str, settled, timeout: float = 30) -> dict:
    """What a fresh Chromium shows at `url` once `settled(page)` holds (or `timeout` seconds passed)."""
    with chromium() as driver:
        driver.get(url)
        deadline = time.time() + timeout
        while not settled(page := driver.execute_script(SHOWN)) and time.time() < deadline:
            time.sleep(0.25)
        return page


@pytest.mark.slow
def test_the_url_make_ui_prints_opens_the_experiment_on_its_training_runs(ui):
    printed = re.search(r"^MLflow UI: (\S+)", ui["log"], re.MULTILINE)
    assert printed, f"make ui printed no 'MLflow UI: <url>' line:\n{ui['log'][-3000:]}"
    page = shown(printed[1], lambda page: page["runs"])
    assert page["path"] == f"#/experiments/{ui['experiment_id']}/runs", page["path"]
    assert page["runs"] == [RUN_NAME], page["text"][:2000]
    assert "Overview" not in page["sidebar"] and "Token Usage" not in page["text"], page["sidebar"]


@pytest.mark.slow
def test_without_it_a_fresh_browser_opens_the_experiment_on_the_genai_overview(ui):
    """The control: MLflow's own experiment link lands on the GenAI view despite the experiment's
    kind tag. When a newer MLflow stops doing this, the workflowType in `make ui`'s URL is moot."""
    page = shown(
        f"{ui['base']}/#/experiments/{ui['experiment_id']}", lambda page: "/overview/" in page["path"]
    )
    assert page["path"].startswith(f"#/experiments/{ui['experiment_id']}/overview/"), page["path"]
    assert "Overview" in page["sidebar"] and not page["runs"], page["sidebar"]
