import subprocess
import sys
import textwrap

import pytest
import yaml

from fashiongan import cli
from fashiongan.cli import stages
from fashiongan.data.sources import CLASS_NAMES
from fashiongan.errors import ConfigError
from fashiongan.use import generate


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "fashiongan.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_help_lists_every_stage_and_generate():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in (
        "validate",
        "prepare",
        "classifier",
        "reference",
        "train",
        "sample",
        "evaluate",
        "generate",
        "explore",
        "serve",
        "report",
    ):
        assert command in result.stdout


def test_bad_params_exit_2_with_one_line_naming_the_key(tmp_path, raw_params):
    raw_params["train"]["epochs"] = -3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    result = run_cli("prepare", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "fashiongan prepare: train.epochs: got -3, expected a positive int"
    assert not (tmp_path / "data").exists()


def test_class_names_and_indices():
    names = list(CLASS_NAMES)
    assert generate._class_index("sneaker", names) == 7
    assert generate._class_index("Ankle Boot", names) == 9
    assert generate._class_index("3", names) == 3
    assert generate._class_index("Circle", ["square", "circle"]) == 1
    with pytest.raises(ConfigError, match="--class: got 'hat'"):
        generate._class_index("hat", names)


def test_generate_from_a_saved_generator(tmp_path):
    from fashiongan.config import ModelConfig
    from fashiongan.gan.models import build_generator

    path = tmp_path / "g.keras"
    build_generator(
        ModelConfig(arch="mlp", latent_dim=8, conditional=True, spectral_norm=False, clusters=0)
    ).save(path)
    out = tmp_path / "sneakers.png"
    assert (
        cli.main(["generate", "--model", str(path), "--class", "sneaker", "--n", "6", "--out", str(out)]) == 0
    )
    assert out.stat().st_size > 0
    assert cli.main(["generate", "--model", str(tmp_path / "missing.keras")]) == 1


def test_generate_refuses_more_images_than_one_grid_holds_before_loading_anything(tmp_path, capsys):
    out = tmp_path / "many.png"
    # 100 million images once died in a 74.5 GiB allocation; the model path need not even exist
    args = ["generate", "--model", str(tmp_path / "missing.keras"), "--n", "100000000", "--out", str(out)]
    assert cli.main(args) == 2
    assert capsys.readouterr().err == (
        f"fashiongan generate: --n: got 100000000, expected 1-{generate.MAX_IMAGES} "
        "(one PNG grid of 28x28 tiles)\n"
    )
    assert not out.exists()


def test_serve_refuses_a_row_limit_below_one_in_one_line(capsys):
    assert cli.main(["serve", "--model", "runs:/0123456789abcdef/generator", "--max-rows", "0"]) == 2
    assert capsys.readouterr().err == "fashiongan serve: --max-rows: got 0, expected a positive int\n"


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 64])
def test_corrupt_model_file_is_one_line_naming_it(tmp_path, capsys, content):
    path = tmp_path / "generator.keras"
    path.write_bytes(content)
    assert cli.main(["generate", "--model", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and "not a loadable Keras model" in err


def test_a_lambda_layer_is_refused_not_executed(tmp_path, capsys, monkeypatch):
    import keras

    marker = tmp_path / "executed"
    monkeypatch.setenv("FASHIONGAN_TEST_MARKER", str(marker))
    # a Python lambda is saved as bytecode: loading it unsafely would run this
    payload = lambda x: (  # noqa: E731
        __import__("pathlib").Path(__import__("os").environ["FASHIONGAN_TEST_MARKER"]).touch(),
        x,
    )[1]
    z = keras.Input((8,))
    keras.Model(z, keras.layers.Lambda(payload)(z)).save(tmp_path / "evil.keras")
    assert marker.exists()  # it ran once, when the model was built
    marker.unlink()
    assert cli.main(["generate", "--model", str(tmp_path / "evil.keras")]) == 1
    err = capsys.readouterr().err
    assert "evil.keras" in err and "Lambda" in err and "arbitrary code" in err and not marker.exists()


def test_a_project_error_is_one_line_with_its_exit_code_and_a_bug_keeps_its_traceback(
    tmp_path, raw_params, capsys, monkeypatch
):
    from fashiongan.errors import DataError
    from fashiongan.stages import validate

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    monkeypatch.chdir(tmp_path)

    def bad_data(cfg):
        raise DataError("data/raw/x.gz: sha256 mismatch")

    monkeypatch.setattr(validate, "run", bad_data)
    assert cli.main(["validate"]) == 1
    assert capsys.readouterr().err == "fashiongan validate: data/raw/x.gz: sha256 mismatch\n"

    def bug(cfg):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(validate, "run", bug)
    with pytest.raises(ValueError, match="broadcast"):  # not turned into a "user error" line
        cli.main(["validate"])


def test_validate_names_the_bad_file_of_a_user_directory_in_one_line(tmp_path, raw_params):
    from shapes import CLASS_NAMES as SHAPES
    from shapes import write_shapes

    from fashiongan import params

    directory = write_shapes(tmp_path / "shapes", train=40, test=20)
    raw_params["data"].update(source=str(directory), class_names=SHAPES)
    raw_params["evaluate"]["n"] = raw_params["sample"]["n"] = raw_params["train"]["fid_samples"] = 20
    raw_params["train"]["batch_size"] = 8
    params.parse(raw_params)  # valid as written
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    (directory / "train-labels-idx1-ubyte").write_bytes(
        b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"\x00\x01\x05"
    )
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        f"fashiongan validate: {directory}/train-labels-idx1-ubyte: label 5 outside 0-1"
    )
    assert not (tmp_path / "data").exists()

    raw_params["evaluate"]["n"] = 50
    with pytest.raises(ConfigError, match=r"^evaluate.n: got 50, expected at most 20 \(the test set\)"):
        params.parse(raw_params)


def test_validate_and_prepare_import_no_tensorflow():
    probe = (
        "import sys; from fashiongan.stages import validate, prepare; "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "False" and set(stages.NO_TENSORFLOW) == {"validate", "prepare"}


def test_every_command_says_what_it_does_in_its_help_without_importing_tensorflow():
    # each command's body is imported when it runs: printing any --help must not wait for TensorFlow
    probe = textwrap.dedent("""
        import contextlib, io, sys
        from fashiongan import cli
        for command in sys.argv[1:]:
            with contextlib.redirect_stdout(io.StringIO()) as text, contextlib.suppress(SystemExit):
                cli.main([command, "--help"])
            usage, description = text.getvalue().split("\\n\\n")[:2]
            if not usage.startswith(f"usage: fashiongan {command}") or description.startswith("options"):
                print(command, "has no description")
        print("tensorflow" in sys.modules or "keras" in sys.modules)
    """)
    commands = [
        *cli.STAGES,
        "generate",
        "explore",
        "compare",
        "ruler",
        "tracking",
        "ui",
        "server",
        "serve",
        "report",
    ]
    result = subprocess.run([sys.executable, "-c", probe, *commands], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stdout + result.stderr


def one_line_exit_2(args, capsys) -> str:
    """The line argparse answers a bad argument with, before anything is loaded or written."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize("command", ["explore", "generate"])
@pytest.mark.parametrize("seed", ["-1", "one"])
def test_a_seed_below_0_or_not_an_integer_is_one_line(tmp_path, capsys, command, seed):
    out = tmp_path / "out"
    args = [command, "--model", str(tmp_path / "missing.keras"), "--seed", seed, "--out", str(out)]
    assert one_line_exit_2(args, capsys) == (
        f"fashiongan {command}: --seed: got {seed}, expected an integer >= 0"
    )
    assert not out.exists()


def test_explore_refuses_an_existing_file_as_its_output_directory(tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    for out in (taken, taken / "figures"):
        assert one_line_exit_2(["explore", "--out", str(out)], capsys) == (
            f"fashiongan explore: --out: got {out}, but {taken} is a file; expected a directory "
            "(made if missing)"
        )
    assert taken.read_text() == "mine"


def test_generate_refuses_an_existing_directory_as_its_output_png(tmp_path, capsys):
    assert one_line_exit_2(["generate", "--out", str(tmp_path)], capsys) == (
        f"fashiongan generate: --out: got {tmp_path}, a directory; expected the path of a PNG file"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("max_runs", ["0", "-3", "50001"])
def test_compare_refuses_a_run_count_mlflow_cannot_search_in_one_line(capsys, max_runs):
    assert one_line_exit_2(["compare", "--max-runs", max_runs], capsys) == (
        f"fashiongan compare: --max-runs: got {max_runs}, expected an integer from 1 to 50000 "
        "(the most runs one MLflow search returns)"
    )


def test_the_run_count_bound_is_mlflows():
    from mlflow.store.tracking import SEARCH_MAX_RESULTS_THRESHOLD

    assert cli.MAX_RUNS == SEARCH_MAX_RESULTS_THRESHOLD


@pytest.mark.parametrize("command", [["compare"], ["report", "--mlflow-runs", "3"]])
def test_an_unreachable_tracking_server_is_one_line_naming_it(
    tmp_path, raw_params, capsys, monkeypatch, command
):
    from pipeline_repo import free_port

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    monkeypatch.chdir(tmp_path)
    store = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the refusal, without MLflow's backoff
    assert cli.main(command) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fashiongan {command[0]}: MLflow store {store}: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # no report half-written


@pytest.mark.parametrize(
    "stage, missing, made_by",
    [
        ("classifier", "data/prepared/fashion_mnist.npz", "prepare"),
        ("reference", "data/features/real.npz", "classifier"),
        ("train", "data/prepared/fashion_mnist.npz", "prepare"),
        ("sample", "data/prepared/fashion_mnist.npz", "prepare"),
        ("evaluate", "data/samples/samples.npz", "sample"),
    ],
)
def test_a_stage_run_before_its_inputs_are_made_says_how_to_make_them(
    tmp_path, raw_params, capsys, monkeypatch, stage, missing, made_by
):
    from conftest import ROOT

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert cli.main([stage]) == 1
    assert capsys.readouterr().err == (
        f"fashiongan {stage}: {missing}: missing; the {made_by} stage makes it: run `dvc repro {made_by}` "
        "first (or `dvc repro`: the whole pipeline)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvc.yaml", "params.yaml"]


def test_generate_draws_every_class_in_turn_when_no_class_is_asked_and_says_so(tmp_path, monkeypatch, capsys):
    from fashiongan.config import ModelConfig
    from fashiongan.gan.models import TrainedGenerator, build_generator

    path = tmp_path / "g.keras"
    build_generator(
        ModelConfig(arch="mlp", latent_dim=8, conditional=True, spectral_norm=False, clusters=0)
    ).save(path)
    drawn = []
    draw = TrainedGenerator.draw
    monkeypatch.setattr(
        TrainedGenerator, "draw", lambda self, z, labels: drawn.append(labels) or draw(self, z, labels)
    )
    assert cli.main(["generate", "--model", str(path), "--n", "12", "--out", str(tmp_path / "all.png")]) == 0
    assert drawn[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]  # not class 0 twelve times
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    assert "(without it, every class in turn, in equal shares" in " ".join(capsys.readouterr().out.split())
