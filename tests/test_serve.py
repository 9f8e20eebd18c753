"""`make serve`: generators logged to a real MLflow store, served from a plain shell (no virtualenv
on PATH) on a free loopback port, and asked over HTTP as README's curl line does."""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from pipeline_repo import copy_repo, env_for, free_port, wait_until_up

from fashiongan import serve, tracking
from fashiongan.config import ModelConfig
from fashiongan.errors import ModelFileError
from fashiongan.io import load_model, save_model
from fashiongan.mlflow_model import Generator as PyfuncGenerator
from fashiongan.models import Generator, build_generator

LATENT = 8


def pyfunc(conditional: bool, classes: int = 10) -> PyfuncGenerator:
    model = PyfuncGenerator()
    model.conditional, model.classes, model.latent_dim = conditional, classes, LATENT
    return model


@pytest.mark.parametrize("body, field", [
    (b"{not json", "body"),
    (b'{"z": [[0]]}', "inputs"),
    (b'{"inputs": {"label": [1]}}', "z"),
    (b'{"inputs": {"z": [[0, 1]], "label": [1]}}', "z"),
    (b'{"inputs": {"z": [[0, 1, 2, 3, 4, 5, 6, "x"]], "label": [1]}}', "z"),
    (b'{"inputs": {"z": [[0, 1, 2, 3, 4, 5, 6, 7]]}}', "label"),
    (b'{"inputs": {"z": [[0, 1, 2, 3, 4, 5, 6, 7]], "label": [12]}}', "label"),
    (b'{"inputs": {"z": [[0, 1, 2, 3, 4, 5, 6, 7]], "label": [1.5]}}', "label"),
    (b'{"inputs": {"z": [[0, 1, 2, 3, 4, 5, 6, 7]], "label": ["shoe"]}}', "label"),
    (b'{"inputs": {"z": [[0, 1, 2, 3, 4, 5, 6, 7]], "label": [1, 2]}}', "label"),
])
def test_a_malformed_body_is_named_by_its_field_in_one_line(body, field):
    problem = serve.request_problem(body, pyfunc(conditional=True))
    assert problem.startswith(f"{field}:") and "\n" not in problem
    assert "shoe" not in problem and "1.5" not in problem  # nothing of the input echoed


def test_a_well_formed_body_passes():
    z = [[0.0] * LATENT, [1.0] * LATENT]
    assert serve.request_problem(json.dumps({"inputs": {"z": z, "label": [0, 9]}}).encode(), pyfunc(True)) is None
    assert serve.request_problem(json.dumps({"inputs": {"z": z}}).encode(), pyfunc(False)) is None


def post(url: str, body: bytes):
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A repo copy whose MLflow store holds one conditional and one unconditional (untrained) generator."""
    repo = copy_repo(tmp_path_factory.mktemp("serve"))
    store = f"sqlite:///{repo / 'mlflow.db'}"  # named: earlier tests may have pointed MLflow elsewhere
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_ROOT", str(repo))
        patch.setenv("MLFLOW_TRACKING_URI", store)
        uris = {}
        for conditional in (True, False):
            path = repo / f"models/g{int(conditional)}.keras"
            save_model(build_generator(ModelConfig("mlp", LATENT, conditional, False, 0)), path)
            run = tracking.start_run("fashiongan")
            uris[conditional] = run.log_generator(path)
            run.end()
    return repo, uris, store


@pytest.fixture(scope="module")
def servers(served):
    """`make serve` for each generator, started together (each spends its first seconds importing),
    from a shell whose PATH has no virtualenv and so no uvicorn: {conditional: base URL}."""
    repo, uris, store = served
    plain_shell = env_for(repo) | {"PATH": "/usr/local/bin:/usr/bin:/bin", "MLFLOW_TRACKING_URI": store}
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    started = {}
    for conditional, uri in uris.items():
        port = free_port()
        log = repo / f"serve-{port}.log"
        # -o: .venv links to this test's own (installed) virtualenv, which setup must not reinstall from the copy
        started[conditional] = (f"http://127.0.0.1:{port}", log, subprocess.Popen(
            ["make", "-o", ".venv/.installed", "serve", f"MODEL={uri}", f"SERVE_PORT={port}"], cwd=repo,
            env=plain_shell, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True))
    try:
        for url, log, server in started.values():
            wait_until_up(f"{url}/ping", server, log)
        yield {conditional: url for conditional, (url, _, _) in started.items()}
    finally:
        for _, _, server in started.values():
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("conditional", [True, False], ids=["conditional", "unconditional"])
def test_make_serve_answers_images_and_one_line_400s(servers, conditional):
    url = servers[conditional]
    z = np.random.default_rng(0).standard_normal((3, LATENT)).round(4).tolist()
    inputs = {"z": z, "label": [0, 4, 9]} if conditional else {"z": z}
    status, answer = post(f"{url}/invocations", json.dumps({"inputs": inputs}).encode())
    assert status == 200, answer
    images = np.asarray(answer["predictions"])
    assert images.shape == (3, 28, 28, 1) and images.min() >= -1 and images.max() <= 1 and images.std() > 0

    bad = {"z": z, "label": [0, 4, 12]} if conditional else {"z": [row[:3] for row in z]}
    status, answer = post(f"{url}/invocations", json.dumps({"inputs": bad}).encode())
    message = json.loads(answer)["message"]
    assert status == 400 and message.startswith("label:" if conditional else "z:"), answer
    assert "\n" not in message and "Traceback" not in answer and str(z[0][0]) not in answer
    status, answer = post(f"{url}/invocations", json.dumps({"inputs": {"label": [1]}}).encode())
    assert status == 400 and json.loads(answer)["message"].startswith("z: missing")


@pytest.mark.slow
def test_a_generator_file_comes_from_a_model_uri_or_one_line_naming_it(served, monkeypatch):
    repo, uris, store = served
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    path = tracking.generator_file(uris[True])
    assert path.suffix == ".keras" and Generator(load_model(path)).conditional
    with pytest.raises(ModelFileError) as error:
        tracking.generator_file("runs:/0123456789abcdef/generator")
    assert str(error.value).startswith("runs:/0123456789abcdef/generator: not found in MLflow store sqlite:")
    assert "\n" not in str(error.value)
