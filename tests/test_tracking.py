"""tracking.py against a real SQLite store (no server): concurrency, masking, the run file."""

import subprocess
import sys

import pytest

from fashiongan import tracking

START_A_RUN = """
import os, sys
from fashiongan import tracking
run = tracking.start_run("fashiongan")
run.log_series({"g_loss": [(1, 0.5)]})
run.end()
print(run.run_id)
"""


@pytest.mark.slow
def test_three_experiments_starting_together_on_a_fresh_store_get_three_runs(tmp_path):
    env = {"DVC_ROOT": str(tmp_path), "MLFLOW_DISABLE_TELEMETRY": "true", "PATH": "/usr/bin:/bin"}
    starts = [subprocess.Popen([sys.executable, "-c", START_A_RUN], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=180), *p.communicate()) for p in starts]
    assert [code for code, _, _ in results] == [0, 0, 0], [err[-1500:] for _, _, err in results]
    assert not any("database is locked" in err for _, _, err in results)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("fashiongan").experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted(out.strip() for _, out, _ in results)
    assert {r.info.status for r in runs} == {"FINISHED"} and all(r.data.metrics["g_loss"] == 0.5 for r in runs)


def test_credentials_are_masked_wherever_they_appear():
    assert tracking.masked("https://alice:s3cret@mlflow.example.com/") == "https://***@mlflow.example.com/"
    message = "API request to https://alice:s3cret@h/api failed; retried https://bob:pw@h"
    assert "s3cret" not in tracking.masked(message) and "pw@" not in tracking.masked(message)
    assert tracking.masked("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def test_the_store_defaults_to_the_dvc_root_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))
    monkeypatch.chdir(tmp_path)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'repo' / 'mlflow.db'}"


def test_sync_without_a_training_run_says_how_to_make_one(tmp_path, monkeypatch):
    from fashiongan.errors import MissingInput

    monkeypatch.chdir(tmp_path)
    assert tracking.sync_saved(enabled=False) == "tracking.enabled is false: nothing to sync"
    with pytest.raises(MissingInput, match=r"models/checkpoints/state.json: no tracked training run"):
        tracking.sync_saved(enabled=True)
