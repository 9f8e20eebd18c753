"""`fashiongan serve` against a hostile store and hostile clients: a model whose stored code would
leave a mark if it ran is served from its .keras generator alone, and requests framed, paced or
compressed to exhaust the server get a 4xx in one line, with the server answering on. Served on
loopback by uvicorn in a thread of this process (build_app, as `fashiongan serve` runs it), so a
test can shorten a time limit."""

import base64
import contextlib
import http.client
import io
import json
import pathlib
import re
import socket
import threading
import time

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
import uvicorn
from mlflow.tracking import MlflowClient
from pipeline_repo import free_port

from fashiongan import cli
from fashiongan.config import ModelConfig
from fashiongan.data.sources import CLASS_NAMES
from fashiongan.gan import models
from fashiongan.gan.models import TrainedGenerator, build_generator
from fashiongan.io import save_model
from fashiongan.tracking.model import model_directory
from fashiongan.use import limits, serve

LATENT = 8
# What a tampered store could hold: model code that runs as MLflow loads the model (the python_model
# file, and a code_paths module it imports), each leaving a marker file
TRAP = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"
STORED_MODEL_CODE = """
import mlflow
import trap_helper  # the model's code_paths module


class Stolen(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return "not the generator"


mlflow.models.set_model(Stolen())
"""
BENIGN_MODEL_CODE = STORED_MODEL_CODE.replace("import trap_helper", "")


class PickledTrap(mlflow.pyfunc.PythonModel):
    """A python_model whose unpickling writes a marker file (what a pickled model in the store could do)."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.write_text, (self.marker, "unpickled")


def generator_file(path: pathlib.Path) -> TrainedGenerator:
    keras.utils.set_random_seed(0)
    config = ModelConfig(arch="mlp", latent_dim=LATENT, conditional=True, spectral_norm=False, clusters=0)
    generator = build_generator(config)
    save_model(generator, path)
    return TrainedGenerator(generator)


def model_config() -> dict:
    return {"conditional": True, "classes": 10, "class_names": list(CLASS_NAMES)}


def sneakers(generator: TrainedGenerator) -> np.ndarray:
    """What {"class": "sneaker", "n": 4, "seed": 3} must answer: the generator file's own images."""
    return generator.draw(models.latents(LATENT, 4, 3), np.full(4, 7, np.int32))


@pytest.fixture(scope="module")
def trapped(tmp_path_factory):
    """A sqlite store holding one run whose model "generator" is a valid .keras generator (in
    artifacts/, as fashiongan logs one) beside model code that writes a marker when imported:
    (model URI, store URI, markers, the generator)."""
    tmp = tmp_path_factory.mktemp("trapped")
    generator = generator_file(tmp / "g.keras")
    (tmp / "model.py").write_text(BENIGN_MODEL_CODE)  # harmless while MLflow saves it (it runs it)
    (tmp / "trap_helper.py").write_text("")
    local = tmp / "saved"
    mlflow.pyfunc.save_model(
        local,
        python_model=str(tmp / "model.py"),
        code_paths=[str(tmp / "trap_helper.py")],
        artifacts={"generator": str(tmp / "g.keras")},
        model_config=model_config(),
    )
    markers = tmp / "python_model-ran", tmp / "code_paths-ran"
    (local / "model.py").write_text(TRAP.format(marker=str(markers[0])) + STORED_MODEL_CODE)
    (local / "code" / "trap_helper.py").write_text(TRAP.format(marker=str(markers[1])))
    store = f"sqlite:///{tmp / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment = client.create_experiment("trapped", artifact_location=(tmp / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    client.log_artifacts(run_id, str(local), "generator")
    client.set_terminated(run_id)
    return f"runs:/{run_id}/generator", store, markers, generator


@pytest.fixture(scope="module")
def server(trapped):
    """The trapped model served on a free loopback port, as `fashiongan serve` serves it: its URL."""
    uri, store, _, _ = trapped
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        app, _ = serve.build_app(uri, max_rows=1024)
    port = free_port()
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not running.started:
        assert thread.is_alive() and time.time() < deadline, "the server did not start"
        time.sleep(0.05)
    yield port
    running.should_exit = True
    thread.join(10)


def ask(port: int, body: bytes, content_type="application/json", chunked=False) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        # chunked: the body as an iterable, which http.client sends with no Content-Length
        connection.request(
            "POST",
            "/invocations",
            iter([body[:100], body[100:]]) if chunked else body,
            {"Content-Type": content_type},
            encode_chunked=chunked,
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def by_meaning(**params) -> bytes:
    return json.dumps({"inputs": {}, "params": {"class": "sneaker", "n": 4, "seed": 3} | params}).encode()


def pinged(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    finally:
        connection.close()


@pytest.mark.slow
def test_the_served_generator_is_the_stores_keras_file_and_none_of_its_code(trapped, server):
    uri, store, markers, generator = trapped
    status, answer = ask(server, by_meaning())
    assert status == 200, answer
    assert np.array_equal(np.asarray(json.loads(answer)["predictions"], np.float32), sneakers(generator))
    status, answer = ask(server, by_meaning(format="png"))
    assert status == 200 and len(json.loads(answer)["predictions"]) == 4
    assert not any(marker.exists() for marker in markers)
    # the trap works: MLflow's own loading of the stored model runs both
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        mlflow.pyfunc.load_model(model_directory(uri))
    assert all(marker.exists() for marker in markers)


def test_a_pickled_model_in_the_store_is_never_unpickled(tmp_path):
    generator = generator_file(tmp_path / "g.keras")
    marker = tmp_path / "unpickled"
    mlflow.pyfunc.save_model(
        tmp_path / "pickled",
        python_model=PickledTrap(marker),
        artifacts={"generator": str(tmp_path / "g.keras")},
        model_config=model_config(),
        pip_requirements=["mlflow"],  # else MLflow loads the model to infer them
    )
    assert not marker.exists()
    _, served = serve.build_app(str(tmp_path / "pickled"), max_rows=16)
    assert np.array_equal(
        served.predict(None, {}, {"class": "sneaker", "n": 4, "seed": 3}), sneakers(generator)
    )
    assert not marker.exists()
    with contextlib.suppress(Exception):  # the trap works: MLflow's own loading unpickles it, then fails
        mlflow.pyfunc.load_model(str(tmp_path / "pickled"))
    assert marker.exists()


def test_a_model_without_a_keras_generator_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "model.py").write_text(BENIGN_MODEL_CODE)
    mlflow.pyfunc.save_model(tmp_path / "other", python_model=str(tmp_path / "model.py"), pip_requirements=[])
    assert cli.main(["serve", "--model", str(tmp_path / "other")]) == 2
    error = capsys.readouterr().err
    assert error == (
        f"fashiongan serve: --model: {tmp_path / 'other'}: the model holds no .keras generator; expected "
        "artifacts/<name>.keras, as fashiongan logs a generator\n"
    )


@pytest.mark.slow
def test_npy_answers_are_the_array_answers_decoded_in_one_call(server):
    status, array = ask(server, by_meaning())
    assert status == 200, array
    status, npy = ask(server, by_meaning(format="npy"))
    assert status == 200, npy
    images = np.load(io.BytesIO(base64.b64decode(json.loads(npy)["predictions"][0])))
    assert images.dtype == np.float32 and images.shape == (4, 28, 28, 1)
    assert np.array_equal(images, np.asarray(json.loads(array)["predictions"], np.float32))
    assert len(npy) < len(array) / 4
    # a chunked body (no Content-Length) within the limits is read and answered like any other
    assert ask(server, by_meaning(format="npy"), chunked=True) == (200, npy)


def zstd_parquet_of_zeros(size: int) -> bytes:
    """One row: a z and label, and a column of `size` zero bytes, which zstd packs into a few hundred."""
    buffer = io.BytesIO()
    frame = pd.DataFrame({"z": [np.zeros(LATENT)], "label": [7], "pad": [bytes(size)]})
    frame.to_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def raw_request(port: int, head: bytes, body_parts) -> tuple[int, str]:
    """(status, one-line message) of a request sent as raw bytes: `head`, then each of `body_parts`."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        response = http.client.HTTPResponse(sock)
        response.begin()
        answer = response.read()
    message = json.loads(answer)["message"]
    assert "\n" not in message and b"Traceback" not in answer, answer
    return response.status, message


def head(content_type: str, length: int | None) -> bytes:
    """A request's line and headers: Content-Length `length`, or chunked when None."""
    framing = b"Transfer-Encoding: chunked" if length is None else b"Content-Length: %d" % length
    return b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n%s\r\n\r\n" % (
        content_type.encode(),
        framing,
    )


def chunked_json(total: int) -> list[bytes]:
    """The first `total` bytes of a JSON body without end, in chunks of 64 KiB as Transfer-Encoding:
    chunked frames them, and no last chunk: a server reading it all would wait for ever."""
    body = b'{"inputs": {}, "pad": "' + b"x" * total
    chunks = [body[i : i + 65536] for i in range(0, total, 65536)]
    return [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks]


# the server's body limit at --max-rows 1024: 1024 rows of z (8 numbers) and label, twice, 32 bytes each
MAX_BYTES = 1024 * (LATENT + 1) * 2 * 32 + 4096
PARQUET_BOMB = zstd_parquet_of_zeros(5_000_000)
LONG_INTEGER = b'{"inputs": {}, "params": {"n": 1' + b"0" * 5000 + b"}}"
DEEP = b"[" * 200_000 + b"]" * 200_000
JSON = "application/json"


@pytest.mark.slow
@pytest.mark.parametrize(
    "head_, body, status, message",
    [
        (
            head(JSON, None),
            chunked_json(MAX_BYTES + 3000),
            413,
            rf"body: \d+ bytes, over the {MAX_BYTES} that 1024 rows take at most \(the server's --max-rows",
        ),
        (
            head(JSON, 1000),
            [b'{"inputs": {}'],
            408,
            r"body: 13 bytes in 1 s and not complete; send a body within 1 s$",
        ),
        (
            head("application/vnd.apache.parquet", len(PARQUET_BOMB)),
            [PARQUET_BOMB],
            413,
            r"body: 5\d{6} bytes decompressed, over the 294912 that 1024 rows take at most",
        ),
        (
            head(JSON, len(LONG_INTEGER)),
            [LONG_INTEGER],
            400,
            r"body: not JSON \(an integer of 5001 digits, over 19\)",
        ),
        (head(JSON, len(DEEP)), [DEEP], 400, r"body: not JSON \(nested too deeply\)"),
    ],
    ids=["chunked, without end", "slow sender", "parquet bomb", "5001-digit integer", "200,000 deep"],
)
def test_requests_built_to_exhaust_the_server_get_one_line_and_it_answers_on(
    server, monkeypatch, head_, body, status, message
):
    monkeypatch.setattr(limits, "BODY_SECONDS", 1)
    assert len(PARQUET_BOMB) < 10_000  # under the body limit: refused by what it decompresses to
    got, text = raw_request(server, head_, body)
    assert got == status and re.match(message, text), text
    assert pinged(server)
