"""`make serve`: generators logged to a real MLflow store, served from a plain shell (no virtualenv
on PATH) on a free loopback port, and asked over HTTP as README's curl lines do: by meaning (class,
count, seed, truncation) and by rows of latents, answered as arrays or PNGs."""

import base64
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pipeline_repo import copy_repo, env_for, free_port, wait_until_up

from fashiongan.config import ModelConfig
from fashiongan.data.images import to_uint8
from fashiongan.data.sources import CLASS_NAMES
from fashiongan.errors import ModelFileError
from fashiongan.evaluation import figures
from fashiongan.gan import models
from fashiongan.gan.models import TrainedGenerator, build_generator
from fashiongan.io import load_model, save_model
from fashiongan.plots import save_grid
from fashiongan.tracking import pyfunc as served_model
from fashiongan.tracking.model import generator_file, log_generator
from fashiongan.tracking.pyfunc import Generator as PyfuncGenerator
from fashiongan.tracking.run import start_run
from fashiongan.use import serve

LATENT = 8
SERVE_MAX_ROWS = {True: 16, False: None}  # make serve's variable per server; None: the default, 1024 rows


def pyfunc(conditional: bool, classes: int = 10) -> PyfuncGenerator:
    model = PyfuncGenerator()
    model.conditional, model.classes, model.latent_dim = conditional, classes, LATENT
    model.class_names, model.draws_clusters = list(CLASS_NAMES), False
    return model


def parquet(**columns) -> bytes:
    """A body as MLflow's docs make one: `pandas.DataFrame.to_parquet()`, one list of numbers per row of z."""
    buffer = io.BytesIO()
    pd.DataFrame(columns).to_parquet(buffer)
    return buffer.getvalue()


def refusal(content_type, body: bytes, max_rows=4, conditional=True):
    """What serve's check answers a request with (a serve.Refused), or None when MLflow may have it; its
    Content-Length as a client sends it (a body without one: tests/use/test_serve_guard.py)."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    check = serve.RequestCheck(pyfunc(conditional), max_rows)
    try:
        check.body(check.headers(content_type, str(len(body))), body)
    except serve.Refused as refused:
        return refused
    return None


ROW = list(range(LATENT))


@pytest.mark.parametrize(
    "body, field",
    [
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
        # MLflow refuses these shapes by the signature, echoing the whole input; or casts to inf or fails on "1.0"
        (b'{"inputs": {"z": [0, 1, 2, 3, 4, 5, 6, 7], "label": [1]}}', "z"),
        (b'{"inputs": {"z": [[0, 1, 2, 3, 4, 5, 6, 7]], "label": [[1]]}}', "label"),
        (b'{"inputs": {"z": [[0, 1, 2, 3, 4, 5, 6, 3.5e38]], "label": [1]}}', "z"),
        (b'{"inputs": {"z": [[0, 1, 2, 3, 4, 5, 6, 7]], "label": ["1.0"]}}', "label"),
    ],
)
def test_a_malformed_body_is_named_by_its_field_in_one_line(body, field):
    refused = refusal("application/json", body)
    assert refused.status == 400 and str(refused).startswith(f"{field}:") and "\n" not in str(refused)
    assert "shoe" not in str(refused) and "1.5" not in str(refused)  # nothing of the input echoed


@pytest.mark.parametrize(
    "body, culprit",
    [
        # an integer of more digits than an int64 (Python's own limit, 4,300, takes quadratic time) and JSON
        # nested deeper than Python's recursion limit: a 400 each, not MLflow's 500 and traceback
        (b'{"inputs": {}, "params": {"n": 1' + b"0" * 5000 + b"}}", "an integer of 5001 digits, over 19"),
        (b'{"inputs": {}, "params": {"seed": -' + b"9" * 20 + b"}}", "an integer of 20 digits, over 19"),
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"inputs": {"z": ' + b"[" * 100 + b"0" + b"]" * 100 + b"}}", None),
    ],
    ids=["long integer", "long negative integer", "deep nesting", "deep z"],
)
def test_json_python_cannot_read_is_a_400_in_one_line(body, culprit):
    refused = refusal("application/json", body, max_rows=1024)
    assert refused.status == 400 and "\n" not in str(refused), refused
    assert str(refused).startswith(f"body: not JSON ({culprit})" if culprit else "z: expected numbers only")


@pytest.mark.parametrize(
    "content_type, body, status, culprit",
    [
        (None, b'{"inputs": {}}', 415, "Content-Type: missing"),
        ("text/csv", b"z,label\n0.5,1\n", 415, "Content-Type: got 'text/csv'"),
        (
            "application/x-parquet",
            parquet(z=[ROW], label=[1]),
            415,
            "Content-Type: got 'application/x-parquet'",
        ),
        (
            "application/vnd.apache.parquet",
            parquet(z=[ROW, ROW], label=[1, 12]),
            400,
            "label: expected integers 0-9",
        ),
        (
            "application/vnd.apache.parquet",
            parquet(**{f"z{i}": [0.5] for i in ROW}, label=[1]),
            400,
            "z: missing",
        ),
        (
            "application/vnd.apache.parquet",
            parquet(z=[ROW, ROW[:3]], label=[1, 2]),
            400,
            "z: expected numbers only",
        ),
        ("application/vnd.apache.parquet", b"PAR1 not parquet", 400, "body: not a readable Parquet file"),
        (
            "application/vnd.apache.parquet",
            parquet(z=pd.Series([ROW], index=[5]), label=pd.Series([1], index=[5])),
            400,
            "body: a DataFrame index other than 0, 1, 2",
        ),  # MLflow looks up row 0 by label and echoes the input
        (
            "application/vnd.apache.parquet",
            parquet(z=[ROW] * 5, label=[1] * 5),
            413,
            "z: got 5 rows, expected at most 4",
        ),
        # one row of 100,000 zeros compresses to a few KB: refused from the footer's counts, before decoding
        (
            "application/vnd.apache.parquet",
            parquet(z=[np.zeros(100_000)], label=[1]),
            413,
            "body: 100001 values",
        ),
        (
            "application/json",
            json.dumps({"inputs": {"z": [ROW] * 5, "label": [1] * 5}}).encode(),
            413,
            "z: got 5 rows, expected at most 4 per request (the server's --max-rows)",
        ),
        ("application/json", b'{"inputs": {"z": [[0]]}}' + b" " * 10_000, 413, "body: 10024 bytes, over the"),
    ],
)
def test_every_content_type_gets_the_same_checks_in_one_line(content_type, body, status, culprit):
    refused = refusal(content_type, body)
    assert refused.status == status and str(refused).startswith(culprit) and "\n" not in str(refused), refused
    if status == 415:
        assert "expected application/json or application/vnd.apache.parquet" in str(refused)
    if status == 413:
        assert "--max-rows" in str(refused)


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read():
    check = serve.RequestCheck(pyfunc(True), max_rows=4)
    with pytest.raises(serve.Refused, match=r"^body: 40000000 bytes, over the \d+ that 4 rows take at most"):
        check.headers("application/json", "40000000")
    assert check.headers("application/json; charset=utf-8", str(check.max_bytes)) == "application/json"


def by_meaning(**params) -> dict:
    return {"inputs": {}, "params": params}


@pytest.mark.parametrize(
    "body, conditional, status, message",
    [
        (
            by_meaning(**{"class": "sneakr", "n": 2}),
            True,
            400,
            "class: got 'sneakr', expected 0-9 or one of: ",
        ),
        (by_meaning(**{"class": "10", "n": 2}), True, 400, "class: got '10', expected 0-9 or one of: "),
        (
            by_meaning(**{"class": 7, "n": 2}),
            True,
            400,
            "class: got 7, expected a class name or index as a string",
        ),
        (
            by_meaning(n=2),
            True,
            400,
            "class: missing; a conditional generator draws one class: 0-9 or one of: ",
        ),
        (by_meaning(**{"class": "bag", "n": 2}), False, 400, "class: this generator is unconditional"),
        (
            by_meaning(**{"class": "bag", "n": 5}),
            True,
            413,
            "n: got 5, expected at most 4 per request (the server's --max-rows)",
        ),
        (by_meaning(**{"class": "bag", "n": 10**12}), True, 413, "n: got 1000000000000, expected at most 4"),
        (
            by_meaning(**{"class": "bag", "n": 2, "psi": 1.5}),
            True,
            400,
            "psi: got 1.5, expected a number in (0, 1]",
        ),
        (
            by_meaning(**{"class": "bag", "n": 2, "psi": 0}),
            True,
            400,
            "psi: got 0, expected a number in (0, 1]",
        ),
        (by_meaning(**{"class": "bag", "n": 2, "psi": True}), True, 400, "psi: got True"),
        (by_meaning(**{"class": "bag", "n": "2"}), True, 400, "n: got '2', expected an integer >= 0"),
        (by_meaning(**{"class": "bag", "n": 2.0}), True, 400, "n: got 2.0, expected an integer >= 0"),
        (
            by_meaning(**{"class": "bag", "n": 2, "seed": -1}),
            True,
            400,
            "seed: got -1, expected an integer >= 0",
        ),
        (
            by_meaning(**{"class": "bag", "n": 2, "format": "jpeg"}),
            True,
            400,
            "format: got 'jpeg', expected one of: array, npy, png, grid",
        ),
        (
            by_meaning(**{"class": "bag", "n": 2, "sed": 3}),
            True,
            400,
            "params: unknown key 'sed'; allowed: class, n, seed",
        ),
        (
            by_meaning(**{"class": "bag"}),
            True,
            400,
            "n: missing or 0; params class draws n >= 1 images",
        ),
        (by_meaning(seed=3, n=0), False, 400, "n: missing or 0; params seed draws"),
        (
            {"inputs": {"z": [ROW], "label": [1]}, "params": {"class": "bag", "n": 1}},
            True,
            400,
            "n: draws its own latents",
        ),
        ({"inputs": {}, "params": [1]}, True, 400, "params: not an object"),
        ({"inputs": {}}, True, 400, "z: missing; expected a list of rows of 8 numbers, or params n"),
    ],
)
def test_a_request_by_meaning_is_refused_in_one_line_naming_its_culprit(body, conditional, status, message):
    refused = refusal("application/json", body, conditional=conditional)
    assert refused.status == status and str(refused).startswith(message) and "\n" not in str(refused), refused


def test_the_served_model_draws_what_fashiongan_draws():
    """pyfunc.py is loaded without fashiongan, so it holds its own copies of these: they must agree."""
    rng = np.random.default_rng(5)
    assert np.array_equal(served_model.latents(LATENT, 16, 3), models.latents(LATENT, 16, 3))
    pixels = rng.uniform(-1.2, 1.2, (4, 28, 28, 1)).astype(np.float32)
    assert np.array_equal(served_model.to_uint8(pixels), to_uint8(pixels))
    assert served_model.CLUSTER_DRAWING == models.CLUSTER_DRAWING
    a, b, t = rng.standard_normal(LATENT), rng.standard_normal(LATENT), np.linspace(0, 1, 7)
    assert np.array_equal(served_model.slerp(a, b, t), figures.slerp(a, b, t))
    z = rng.standard_normal((5, LATENT)).astype(np.float32)
    for clusters in (0, 3):
        config = ModelConfig(
            arch="mlp", latent_dim=LATENT, conditional=False, spectral_norm=False, clusters=clusters
        )
        generator = build_generator(config)
        if clusters:
            generator = models.drawing_clusters(generator, [1, 2, 3])
        trained, model = TrainedGenerator(generator), pyfunc(False)
        model.draws_clusters = trained.draws_clusters
        assert np.array_equal(model.truncate(z, 0.7), trained.truncate(z, 0.7))
    tiles = np.arange(5 * 28 * 28, dtype=np.uint32).reshape(5, 28, 28).astype(np.uint8)
    grid = served_model.tiled(tiles)
    assert grid.shape == (2 * 28, 3 * 28) and np.array_equal(grid[28:, 28:56], tiles[4])
    assert not grid[28:, 56:].any()  # the sixth tile: padding


def test_a_well_formed_body_passes():
    z = [[0.0] * LATENT, [1.0] * LATENT]
    assert refusal("application/json", json.dumps({"inputs": {"z": z, "label": [0, 9]}}).encode()) is None
    assert refusal("application/json", json.dumps({"inputs": {"z": z}}).encode(), conditional=False) is None
    assert refusal("application/vnd.apache.parquet", parquet(z=z, label=[0, 9])) is None
    assert (
        refusal("application/json", by_meaning(**{"class": "T-shirt-top", "n": 4, "seed": 1, "psi": 0.5}))
        is None
    )
    assert (
        refusal("application/json", by_meaning(n=4, seed=1, seed_to=2, format="grid"), conditional=False)
        is None
    )
    assert (
        refusal("application/json", json.dumps({"inputs": {"z": z * 2, "label": [0] * 4}}).encode()) is None
    )


def post(url: str, body: bytes, content_type: str | None = "application/json"):
    """(status, the parsed answer) for 200, else (status, the answer's text); no Content-Type when None."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", parts.path, body, {"Content-Type": content_type} if content_type else {})
        response = connection.getresponse()
        text = response.read().decode()
        return response.status, json.loads(text) if response.status == 200 else text
    finally:
        connection.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A repo copy whose MLflow store holds one conditional and one unconditional (untrained) generator."""
    repo = copy_repo(tmp_path_factory.mktemp("serve"))
    store = f"sqlite:///{repo / 'mlflow.db'}"  # named: earlier tests may have pointed MLflow elsewhere
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_ROOT", str(repo))
        patch.setenv("MLFLOW_TRACKING_URI", store)
        uris = {}
        keras.utils.set_random_seed(0)  # the same generators whichever tests ran before in this process
        for conditional in (True, False):
            path = repo / f"models/g{int(conditional)}.keras"
            save_model(
                build_generator(
                    ModelConfig(
                        arch="mlp",
                        latent_dim=LATENT,
                        conditional=conditional,
                        spectral_norm=False,
                        clusters=0,
                    )
                ),
                path,
            )
            run = start_run("fashiongan")
            uris[conditional] = log_generator(run, path, class_names=CLASS_NAMES).model_uri
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
        max_rows = [f"SERVE_MAX_ROWS={SERVE_MAX_ROWS[conditional]}"] if SERVE_MAX_ROWS[conditional] else []
        started[conditional] = (
            f"http://127.0.0.1:{port}",
            log,
            subprocess.Popen(
                ["make", "-o", ".venv/.installed", "serve", f"MODEL={uri}", f"SERVE_PORT={port}", *max_rows],
                cwd=repo,
                env=plain_shell,
                stdout=open(log, "w"),  # noqa: SIM115 (open while the server lives)
                stderr=subprocess.STDOUT,
                start_new_session=True,
            ),
        )
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


def one_line(status_and_answer, status: int) -> str:
    got, answer = status_and_answer
    message = json.loads(answer)["message"]
    assert got == status and "\n" not in message and "Traceback" not in answer, answer
    return message


@pytest.mark.slow
@pytest.mark.parametrize("conditional", [True, False], ids=["conditional", "unconditional"])
def test_make_serve_refuses_what_mlflow_cannot_answer_in_one_line_and_answers_on(servers, conditional):
    url = f"{servers[conditional]}/invocations"
    limit = SERVE_MAX_ROWS[conditional] or 1024
    z = np.random.default_rng(1).standard_normal((3, LATENT)).round(4)
    labels = {"label": [1, 5, 8]} if conditional else {}
    status, from_json = post(url, json.dumps({"inputs": {"z": z.tolist(), **labels}}).encode())
    assert status == 200, from_json

    # Parquet, the other format MLflow reads into this model's tensors: the same images, the same checks
    status, from_parquet = post(url, parquet(z=list(z), **labels), "application/vnd.apache.parquet")
    assert status == 200 and np.allclose(from_parquet["predictions"], from_json["predictions"]), from_parquet
    bad = parquet(z=list(z), label=[1, 5, 12]) if conditional else parquet(z=list(z[:, :3]))
    assert one_line(post(url, bad, "application/vnd.apache.parquet"), 400).startswith(
        "label:" if conditional else "z:"
    )
    for content_type, culprit in [
        ("text/csv", "Content-Type: got 'text/csv'"),
        (None, "Content-Type: missing"),
        ("application/x-parquet", "Content-Type: got 'application/x-parquet'"),
    ]:
        assert one_line(post(url, b"z,label\n0.5,1\n", content_type), 415).startswith(culprit)

    rows = {"z": [[0.5] * LATENT] * (limit + 1)} | ({"label": [1] * (limit + 1)} if conditional else {})
    message = one_line(post(url, json.dumps({"inputs": rows}).encode()), 413)
    assert (
        message == f"z: got {limit + 1} rows, expected at most {limit} per request (the server's --max-rows)"
    )
    padded = json.dumps({"inputs": {"z": z.tolist(), **labels}}).encode()[:-1] + b" " * 2_000_000 + b"}"
    assert one_line(post(url, padded), 413).startswith("body: 2000")
    status, again = post(url, json.dumps({"inputs": {"z": z.tolist(), **labels}}).encode())
    assert status == 200 and again == from_json  # refused requests leave the server answering, as it was


@pytest.mark.slow
def test_a_generator_file_comes_from_a_model_uri_or_one_line_naming_it(served, monkeypatch):
    _, uris, store = served
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    path = generator_file(uris[True])
    assert path.suffix == ".keras" and TrainedGenerator(load_model(path)).conditional
    with pytest.raises(ModelFileError) as error:
        generator_file("runs:/0123456789abcdef/generator")
    assert str(error.value).startswith("runs:/0123456789abcdef/generator: not found in MLflow store sqlite:")
    assert "\n" not in str(error.value)


def decoded(png: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(png))))


def ask(url: str, **params):
    return post(url, json.dumps(by_meaning(**params)).encode())


@pytest.mark.slow
def test_make_serve_draws_16_sneakers_at_seed_3_as_fashiongan_generate_does(served, servers, tmp_path):
    repo, uris, store = served
    url = f"{servers[True]}/invocations"
    sneakers = {"class": "sneaker", "n": 16, "seed": 3}
    status, pngs = ask(url, **sneakers, format="png")
    assert status == 200, pngs
    pixels = np.stack([decoded(png) for png in pngs["predictions"]])
    assert pixels.shape == (16, 28, 28) and pixels.dtype == np.uint8 and pixels.std() > 0
    status, arrays = ask(url, **sneakers)
    # the float32 images the PNGs encode: JSON's decimals read back as float32, then the same arithmetic (in
    # float64 a pixel on a rounding boundary can land on the other side)
    predictions = np.asarray(arrays["predictions"], np.float32)
    assert status == 200 and np.array_equal(to_uint8(predictions), pixels)
    status, grid = ask(url, **sneakers, format="grid")
    assert status == 200 and np.array_equal(decoded(grid["predictions"][0]), served_model.tiled(pixels))
    assert ask(url, **sneakers, format="png") == (200, pngs)  # the same request, the same images

    # `fashiongan generate` with the same class, count and seed: the same pictures, in its own grid
    subprocess.run(
        [
            "fashiongan",
            "generate",
            "--model",
            uris[True],
            "--class",
            "sneaker",
            "--n",
            "16",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "generated.png"),
        ],
        cwd=repo,
        env=env_for(repo) | {"MLFLOW_TRACKING_URI": store},
        check=True,
        capture_output=True,
    )
    save_grid(tmp_path / "served.png", pixels, 4, 4)
    generated, served_grid = (
        np.asarray(Image.open(tmp_path / name)) for name in ("generated.png", "served.png")
    )
    assert np.array_equal(generated, served_grid)

    # by index, and any case: the same class; another class or a truncation: other images
    assert ask(url, **{**sneakers, "class": "7"}, format="png") == (200, pngs)
    assert ask(url, **{**sneakers, "class": "SNEAKER"}, format="png") == (200, pngs)
    assert ask(url, **{**sneakers, "class": "bag"}, format="png")[1] != pngs
    assert ask(url, **sneakers, psi=0.5, format="png")[1] != pngs
    # an interpolation strip: from seed 3's first latent to seed 4's
    status, strip = ask(url, **{**sneakers, "n": 5, "seed_to": 4}, format="png")
    assert status == 200 and len(strip["predictions"]) == 5
    assert strip["predictions"][0] == pngs["predictions"][0]
    assert strip["predictions"][-1] == ask(url, **{**sneakers, "seed": 4}, format="png")[1]["predictions"][0]

    for params, status, message in [
        ({**sneakers, "class": "sneakr"}, 400, "class: got 'sneakr', expected 0-9 or one of: t-shirt/top, "),
        ({**sneakers, "n": 17}, 413, "n: got 17, expected at most 16 per request (the server's --max-rows)"),
        ({**sneakers, "psi": 1.5}, 400, "psi: got 1.5, expected a number in (0, 1]"),
        ({**sneakers, "psi": 0}, 400, "psi: got 0, expected a number in (0, 1]"),
    ]:
        assert one_line(ask(url, **params), status).startswith(message)
    message = one_line(ask(f"{servers[False]}/invocations", **sneakers), 400)
    assert message == "class: this generator is unconditional; it takes no class"
    status, answer = ask(f"{servers[False]}/invocations", n=4, seed=3, format="png")
    assert status == 200 and len(answer["predictions"]) == 4


# What a model logged by fashiongan before requests by meaning runs: MLflow loads the code a model was logged with
EARLIER_MODEL_CODE = """
import mlflow
import numpy as np


class Generator(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import keras

        self.generator = keras.models.load_model(context.artifacts["generator"])

    def predict(self, context, model_input, params=None):
        return np.asarray(self.generator([model_input["z"], model_input["label"]], training=False))


mlflow.models.set_model(Generator())
"""


def test_a_model_logged_by_an_earlier_fashiongan_is_served_with_this_ones_model_code(tmp_path):
    import mlflow

    generator = build_generator(
        ModelConfig(arch="mlp", latent_dim=LATENT, conditional=True, spectral_norm=False, clusters=0)
    )
    save_model(generator, tmp_path / "g.keras")
    (tmp_path / "earlier.py").write_text(EARLIER_MODEL_CODE)
    mlflow.pyfunc.save_model(
        tmp_path / "earlier",
        python_model=str(tmp_path / "earlier.py"),
        artifacts={"generator": str(tmp_path / "g.keras")},
        model_config={"conditional": True, "classes": 10},
    )
    _, served = serve.build_app(str(tmp_path / "earlier"), max_rows=16)
    # the class names come from params.yaml, the images from the logged generator file
    sneakers = served.predict(None, {}, {"class": "sneaker", "n": 4, "seed": 3})
    direct = TrainedGenerator(generator).draw(models.latents(LATENT, 4, 3), np.full(4, 7, np.int32))
    assert np.array_equal(sneakers, direct)
