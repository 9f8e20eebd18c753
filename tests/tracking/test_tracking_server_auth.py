"""The tracking server asks who you are. `fashiongan server` (what `make server` runs) bound beyond
loopback starts MLflow's basic-auth app, or refuses in one line while no admin password is set; on
loopback `--auth` turns the same on. End to end on loopback with a real server: anonymous requests
get 401; the admin creates a reader and a pipeline user; the pipeline user logs a run, registers a
model version and moves the alias; the reader reads all of it but writes none of it (403); a second
pipeline user writes once granted EDIT; `fashiongan compare` signs in with MLFLOW_TRACKING_USERNAME /
MLFLOW_TRACKING_PASSWORD like MLflow's client."""

import os
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest
from pipeline_repo import env_for, free_port, wait_until_up

from fashiongan.tracking import server as srv

ADMIN_PASSWORD = "admin-pass-for-tests"  # 12+ characters: MLflow's rule for every password
USERS = {"reader": "reader-pass-12345", "pipeline": "pipeline-pass-123", "teammate": "teammate-pass-123"}
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=10"


def fashiongan(args: list[str], cwd: Path, env: dict, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "fashiongan.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        **kwargs,
    )


def no_admin_env(tmp_path: Path) -> dict:
    env = env_for(tmp_path)
    for var in (srv.ADMIN_PASSWORD, srv.ADMIN_USERNAME):
        env.pop(var, None)
    return env


@pytest.mark.parametrize(
    "args, password, says",
    [
        (["--host", "0.0.0.0"], None, "bound to 0.0.0.0 (beyond loopback), the server requires users"),
        (["--auth"], None, "--auth requires users and passwords"),
        (["--host", "0.0.0.0"], "short", "got 5 characters, expected a password of your own of 12 or more"),
        (["--host", "0.0.0.0"], "password1234", "the insecure default older MLflow shipped"),
    ],
)
def test_auth_without_an_admin_password_refuses_in_one_line_and_starts_nothing(
    tmp_path, args, password, says
):
    env = no_admin_env(tmp_path) | ({srv.ADMIN_PASSWORD: password} if password else {})
    result = fashiongan(["server", *args, "--port", str(free_port())], tmp_path, env, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("fashiongan server: ") and says in result.stderr, result.stderr
    if password is None:
        assert srv.ADMIN_PASSWORD in result.stderr and "no default" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no store, no auth database, no config


def test_loopback_without_auth_is_the_plain_server(tmp_path, monkeypatch):
    monkeypatch.delenv(srv.ADMIN_PASSWORD, raising=False)
    plain = srv.server(tmp_path, "127.0.0.1", 5000)
    assert "--app-name" not in plain.command and "--allowed-hosts" not in plain.command
    assert plain.url == "http://127.0.0.1:5000" and list(tmp_path.iterdir()) == []
    assert srv.is_loopback("localhost") and srv.is_loopback("127.0.0.2") and srv.is_loopback("::1")
    assert not srv.is_loopback("0.0.0.0") and not srv.is_loopback("192.168.1.5") and not srv.is_loopback("vm")


def test_beyond_loopback_basic_auth_and_host_and_origin_allowlists(tmp_path, monkeypatch):
    monkeypatch.setenv(srv.ADMIN_PASSWORD, ADMIN_PASSWORD)
    monkeypatch.delenv(srv.ADMIN_USERNAME, raising=False)
    monkeypatch.delenv(srv.SECRET_KEY, raising=False)
    team = srv.server(tmp_path, "0.0.0.0", 5000)
    command = team.command
    assert command[command.index("--app-name") + 1] == "basic-auth"
    hosts = command[command.index("--allowed-hosts") + 1].split(",")
    origins = command[command.index("--cors-allowed-origins") + 1].split(",")
    assert "*" not in hosts and "*" not in origins
    names = srv.machine_names("0.0.0.0")
    assert names and all(f"{n}:5000" in hosts and f"http://{n}:5000" in origins for n in names)
    assert {"localhost:*", "10.*", "192.168.*"} <= set(hosts)  # MLflow's own defaults stay
    assert ADMIN_PASSWORD not in " ".join(command)  # argv is visible to every user (ps)
    config, db = tmp_path / srv.AUTH_CONFIG, tmp_path / srv.AUTH_DB
    assert team.env["MLFLOW_AUTH_CONFIG_PATH"] == str(config) and team.env[srv.SECRET_KEY]
    text = config.read_text()
    assert "default_permission = READ" in text and f"database_uri = sqlite:///{db}" in text
    assert "admin_username = admin" in text and ADMIN_PASSWORD not in text
    for path in (config, db):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # the user's own allowlists win; an explicit default permission goes into the config
    own = srv.server(
        tmp_path, "192.0.2.7", 5001, default_permission="NO_PERMISSIONS", allowed_hosts="mlflow.example"
    )
    assert own.command[own.command.index("--allowed-hosts") + 1] == "mlflow.example"
    assert "default_permission = NO_PERMISSIONS" in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def status_of(uri: str, path: str, user: str | None = None, password: str | None = None, data=None) -> int:
    request = urllib.request.Request(uri + path, data=data, headers={"Content-Type": "application/json"})
    if user:
        request.add_header("Authorization", "Basic " + b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def denied(call) -> str:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as refused:
        call()
    assert "403" in str(refused.value) and refused.value.error_code == "PERMISSION_DENIED", refused.value
    return str(refused.value)


@pytest.mark.slow
def test_a_server_with_auth_lets_the_pipeline_write_and_readers_only_read(tmp_path, monkeypatch):
    from mlflow.server import get_app_client
    from mlflow.tracking import MlflowClient

    uri = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "server.log"
    env = no_admin_env(tmp_path) | {srv.ADMIN_PASSWORD: ADMIN_PASSWORD}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "fashiongan"),
            "server",
            "--auth",
            "--port",
            uri.rsplit(":", 1)[1],
        ],
        cwd=tmp_path,
        env=env,
        stdout=open(log, "w"),  # noqa: SIM115 (open while the server lives)
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def as_user(name: str) -> MlflowClient:
        password = ADMIN_PASSWORD if name == "admin" else USERS[name]
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", name)  # what each user and `dvc exp run` set
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        return MlflowClient(uri)

    try:
        wait_until_up(f"{uri}/health", server, log, timeout=120)  # /health stays open: load balancers
        assert "--app-name basic-auth" in log.read_text()
        # nobody, or a wrong password: 401 before anything is read or written
        assert status_of(uri, SEARCH) == 401
        assert status_of(uri, "/api/2.0/mlflow/experiments/create", data=b'{"name": "x"}') == 401
        assert status_of(uri, SEARCH, "admin", "not-the-password") == 401
        assert status_of(uri, SEARCH, "admin", ADMIN_PASSWORD) == 200

        # the admin creates the users (MLflow's auth REST API through its Python client)
        as_user("admin")
        admin = get_app_client("basic-auth", tracking_uri=uri)
        for name, password in USERS.items():
            admin.create_user(name, password)
        assert status_of(uri, SEARCH, "reader", "wrong-password-123") == 401

        # the pipeline user creates the experiment and the registered model, so it MANAGEs both
        pipeline = as_user("pipeline")
        experiment = pipeline.create_experiment("fashiongan")
        run_info = pipeline.create_run(experiment).info
        run = run_info.run_id
        from mlflow.entities import Metric, Param

        pipeline.log_batch(run, metrics=[Metric("fid", 8.67, 0, 0)], params=[Param("train.epochs", "15")])
        pipeline.log_text(run, "a generator", "generator/MLmodel")  # through the artifact proxy
        pipeline.set_terminated(run)
        pipeline.create_registered_model("fashiongan")
        version = pipeline.create_model_version("fashiongan", f"runs:/{run}/generator", run).version
        pipeline.set_registered_model_alias("fashiongan", "champion", version)

        # the reader reads everything (default_permission READ), writes none of it
        reader = as_user("reader")
        assert reader.get_run(run).data.metrics == {"fid": 8.67}
        assert reader.get_run(run).data.params == {"train.epochs": "15"}
        assert reader.get_model_version_by_alias("fashiongan", "champion").version == version
        assert (
            Path(reader.download_artifacts(run, "generator/MLmodel", str(tmp_path))).read_text()
            == "a generator"
        )
        denied(lambda: reader.create_model_version("fashiongan", f"runs:/{run}/generator", run))
        denied(lambda: reader.set_registered_model_alias("fashiongan", "champion", version))
        denied(lambda: reader.log_metric(run, "fid", 0.1))
        denied(lambda: reader.create_run(experiment))
        # the proxied artifacts too: nobody downloads the generator without a password
        artifact = f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/generator/MLmodel"
        assert status_of(uri, artifact) == 401 and status_of(uri, artifact, "reader", USERS["reader"]) == 200

        # a second pipeline user needs grants on what the first created (docs/scaling-out.md)
        teammate = as_user("teammate")
        denied(lambda: teammate.create_run(experiment))
        as_user("admin")
        admin.grant_user_permission("teammate", "experiment", experiment, "EDIT")
        admin.grant_user_permission("teammate", "registered_model", "fashiongan", "EDIT")
        teammate = as_user("teammate")
        second = teammate.create_run(experiment).info.run_id
        teammate.log_batch(second, metrics=[Metric("fid", 7.5, 0, 0)])
        newer = teammate.create_model_version("fashiongan", f"runs:/{second}/generator", second).version
        teammate.set_registered_model_alias("fashiongan", "champion", newer)
        assert as_user("reader").get_model_version_by_alias("fashiongan", "champion").version == newer

        # fashiongan's own commands read the same variables; without them, one line naming the 401
        anonymous = no_admin_env(tmp_path) | {"MLFLOW_TRACKING_URI": uri}
        for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            anonymous.pop(var, None)
        refused = fashiongan(["compare", "--experiment", "fashiongan"], tmp_path, anonymous, timeout=120)
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert "UNAUTHENTICATED" in refused.stderr and "401" in refused.stderr, refused.stderr
        reader_env = anonymous | {
            "MLFLOW_TRACKING_USERNAME": "reader",
            "MLFLOW_TRACKING_PASSWORD": USERS["reader"],
        }
        table = fashiongan(["compare", "--experiment", "fashiongan"], tmp_path, reader_env, timeout=120)
        assert table.returncode == 0 and run_info.run_name in table.stdout, table.stdout + table.stderr

        # a password the admin changes stops working at once (MLflow's credential cache forgets it)
        as_user("admin")
        admin.update_user_password("reader", "reader-new-pass-123")
        assert status_of(uri, SEARCH, "reader", USERS["reader"]) == 401
        assert status_of(uri, SEARCH, "reader", "reader-new-pass-123") == 200

        # secrets: users' hashes and the config are the owner's only; the password is in neither argv nor file
        for path in (tmp_path / srv.AUTH_DB, tmp_path / srv.AUTH_CONFIG):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert ADMIN_PASSWORD not in (tmp_path / srv.AUTH_CONFIG).read_text()
        assert ADMIN_PASSWORD not in Path(f"/proc/{server.pid}/cmdline").read_text()
        # the admin exists now: later starts need no password (and MLflow reads it only to create the admin)
        assert srv.check_admin(tmp_path, no_admin_env(tmp_path), "--auth") is None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
