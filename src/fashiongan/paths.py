"""Where every file of the pipeline lives, relative to the repository root (dvc.yaml names the same)."""

from __future__ import annotations

from pathlib import Path

PARAMS = Path("params.yaml")
PARAMS_VALID = Path("data/params-valid.txt")

RAW_DIR = Path("data/raw")
PREPARED = Path("data/prepared/fashion_mnist.npz")
DATA_REPORT = Path("reports/data.json")  # what prepare read: the source, its files and their sha256s

CLASSIFIER = Path("models/classifier.keras")
CLASSIFIER_REPORT = Path("reports/classifier.json")
REAL_FEATURES = Path("data/features/real.npz")
REFERENCE = Path("data/features/reference.json")
TEST_NEAREST_TRAIN = Path("data/features/test_nearest_train.npz")
INCEPTION_REFERENCE = Path(
    "data/features/inception_reference.npz"
)  # the Inception ruler's test side and floor

GENERATOR = Path("models/generator.keras")
CHECKPOINTS = Path("models/checkpoints")  # train's own resumable state (resume.py), not a DVC output
TRAIN_STATE = CHECKPOINTS / "state.json"
HISTORY_LOG = CHECKPOINTS / "history.csv"  # the step logs a resumed run continues
FID_LOG = CHECKPOINTS / "fid.csv"
TRAIN_REPORTS = Path("reports/train")
RUN_FILE = TRAIN_REPORTS / "run.json"
TRAIN_SUMMARY = TRAIN_REPORTS / "summary.json"
HISTORY = TRAIN_REPORTS / "history.csv"
FID_HISTORY = TRAIN_REPORTS / "fid.csv"
LOSSES_PLOT = TRAIN_REPORTS / "losses.png"

SAMPLES = Path("data/samples/samples.npz")
GRID = Path("reports/samples/grid.png")

METRICS = Path("reports/metrics.json")
METRICS_DETAILS = Path("reports/metrics_details.json")
INCEPTION_METRICS = Path("reports/inception.json")
FIGURES = Path("reports/figures")

REPORT = Path("reports/index.html")

MLFLOW_DB = Path("mlflow.db")  # the embedded MLflow store, with its artifacts in MLRUNS
MLRUNS = Path("mlruns")
MLFLOW_LOCK = Path(".mlflow.lock")
SERVER_DB = Path("mlflow-server.db")  # `fashiongan server`'s store, with its artifacts in SERVER_ARTIFACTS
SERVER_ARTIFACTS = Path("mlartifacts")
BENCH = Path("reports/bench")


def evaluation_files() -> list[Path]:
    """What evaluate logs into the run's `evaluation/` artifacts."""
    return [METRICS, METRICS_DETAILS, *sorted(FIGURES.glob("*.png")), *sorted(FIGURES.glob("*.gif"))]
