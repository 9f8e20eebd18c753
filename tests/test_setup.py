"""`make setup` installs TensorFlow's CUDA libraries (requirements-gpu.txt) exactly where an NVIDIA
driver is found or GPU=1 asks for them, and the CPU-only set (requirements.txt) otherwise."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def installed_from(tmp_path, *args, driver_file=None, nvidia_smi=False):
    """The requirements file `make setup` would install from (a dry run of its install step)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.unlink(missing_ok=True)
    if nvidia_smi:
        smi.write_text("#!/bin/sh\nexit 0\n")
        smi.chmod(0o755)
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-W", "requirements.txt", ".venv/.installed", *args,
         f"NVIDIA_DRIVER_FILE={driver_file or tmp_path / 'no-driver'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
        env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "pip install --quiet -r" in line]
    return line.split(" -r ")[1].split()[0]


@pytest.mark.skipif(Path("/proc/driver/nvidia/version").exists(), reason="needs a machine without a driver")
def test_without_a_driver_setup_installs_the_cpu_set(tmp_path):
    assert installed_from(tmp_path) == "requirements.txt"
    assert installed_from(tmp_path, "GPU=1") == "requirements-gpu.txt"


def test_a_driver_brings_the_cuda_libraries_unless_gpu_0(tmp_path):
    driver = tmp_path / "version"
    driver.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.00\n")
    assert installed_from(tmp_path, driver_file=driver) == "requirements-gpu.txt"
    assert installed_from(tmp_path, nvidia_smi=True) == "requirements-gpu.txt"
    assert installed_from(tmp_path, "GPU=0", driver_file=driver) == "requirements.txt"


def test_a_bad_gpu_value_is_one_line(tmp_path):
    result = subprocess.run(["make", "-n", "setup", "GPU=yes"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "GPU=yes: expected auto, 0 or 1" in result.stderr


def test_the_gpu_set_is_the_cpu_set_plus_tensorflows_cuda_extra_pinned():
    lines = [
        line for line in (ROOT / "requirements-gpu.txt").read_text().splitlines() if line and line[0] != "#"
    ]
    assert lines[:2] == ["-r requirements.txt", "tensorflow[and-cuda]==2.21.0"]
    assert "tensorflow==2.21.0" in (ROOT / "requirements.txt").read_text().splitlines()
    assert all(line.startswith("nvidia-") and "==" in line for line in lines[2:]) and len(lines) == 14
