"""Throughput of `fashiongan serve` on loopback, beside direct generation in the same machine.

The default generator architecture of params.yaml, untrained (the serving cost does not depend on the
weights), is saved as an MLflow model directory (tracking.model.save_generator_model) and served by
`fashiongan serve` in a subprocess on 127.0.0.1. N concurrent clients (threads, one keep-alive HTTP
connection each) then send by-meaning requests, {"inputs": {}, "params": {"class": "sneaker", "n": 16,
"seed": <varying>, "format": "array" | "npy" | "png" | "grid"}}, for a fixed time each after a few warm-up requests;
every answer must be a 200 (any other fails the bench with the server's message). Per format and
client count: requests/s, images/s, p50 and p99 latency, answer size. Then, with the server stopped,
the same generator draws batches of the same size in this process (TrainedGenerator.draw) for the same
time: the ratio of served to direct images/s is what HTTP, JSON and PNG encoding cost, printed for
every format side by side at each client count.

The clients and the server share the machine's cores (and its matmul peak, printed beside), so the
served figures are a lower bound on what the server alone would answer.

    python bench/serve_throughput.py [--clients 1 4] [--seconds 10] [--n 16]
Writes reports/bench/serve_throughput.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness  # bench/harness.py, beside this script
import numpy as np

from fashiongan import params
from fashiongan.gan.models import TrainedGenerator, build_generator
from fashiongan.io import load_model, save_model
from fashiongan.tracking.model import save_generator_model

HOST = "127.0.0.1"
FORMATS = ("array", "npy", "png", "grid")
# answers of one prediction whatever n: one .npy file, one PNG of them all
ONE_ANSWER = ("npy", "grid")
WARMUP = 3  # untimed requests per format before the timed runs (the first ones trace the model)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def fashiongan_command() -> str:
    """The `fashiongan` script of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).with_name("fashiongan")
    return (
        str(beside) if beside.exists() else shutil.which("fashiongan") or sys.exit("no `fashiongan` script")
    )


def start_server(model_dir: Path, port: int, max_rows: int, log: Path) -> subprocess.Popen:
    command = [fashiongan_command(), "serve", "--model", str(model_dir)]
    command += ["--host", HOST, "--port", str(port), "--max-rows", str(max_rows)]
    with log.open("wb") as out:  # the child holds its own copy of the descriptor
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)  # its own session: the server and anything it started
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wait_for_ping(server: subprocess.Popen, port: int, log: Path, timeout: float = 180.0) -> float:
    """Seconds until GET /ping answers 200; exits with the server's log if it dies or never answers."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            sys.exit(f"fashiongan serve exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.25)
    sys.exit(f"fashiongan serve: no answer to /ping within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def request_body(class_name: str, n: int, seed: int, fmt: str) -> bytes:
    return json.dumps(
        {"inputs": {}, "params": {"class": class_name, "n": n, "seed": seed, "format": fmt}}
    ).encode()


def post(connection, body: bytes) -> tuple[int, bytes]:
    connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def refusal(status: int, answer: bytes) -> str:
    """The server's one line for a non-200 answer (its JSON message, else the start of the body)."""
    try:
        message = json.loads(answer)["message"]
    except (ValueError, KeyError, TypeError):
        message = answer[:300].decode(errors="replace")
    return f"HTTP {status}: {message}"


def warm_up(port: int, class_name: str, n: int, fmt: str) -> int:
    """WARMUP untimed requests; checks that the answer holds n images (or one answer of them all).
    Returns its size in bytes."""
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        for seed in range(WARMUP):
            status, answer = post(connection, request_body(class_name, n, 10**9 + seed, fmt))
            if status != 200:
                sys.exit(f"{fmt} warm-up: {refusal(status, answer)}")
        predictions = json.loads(answer)["predictions"]
        expected = 1 if fmt in ONE_ANSWER else n
        if len(predictions) != expected:
            sys.exit(f"{fmt} warm-up: {len(predictions)} predictions, expected {expected}")
        return len(answer)
    finally:
        connection.close()


def drive(port: int, clients: int, seconds: float, class_name: str, n: int, fmt: str) -> dict:
    """`clients` threads, each on one keep-alive connection, posting back to back for `seconds`."""
    latencies = [[] for _ in range(clients)]
    errors, sizes, ends = [], [], [0.0] * clients
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index):
        connection = http.client.HTTPConnection(HOST, port, timeout=120)
        connection.connect()
        start.wait()
        seed = index * 10**6
        try:
            while time.perf_counter() < deadline[0]:
                body = request_body(class_name, n, seed, fmt)
                sent = time.perf_counter()
                status, answer = post(connection, body)
                latencies[index].append(time.perf_counter() - sent)
                if status != 200:
                    errors.append(refusal(status, answer))
                    break
                sizes.append(len(answer))
                seed += 1
        except (OSError, http.client.HTTPException) as e:
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            ends[index] = time.perf_counter()
            connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = max(ends) - began  # until the last request in flight at the deadline has its answer
    every = np.array([x for per_client in latencies for x in per_client]) * 1000
    requests = len(sizes)
    if not requests and not errors:
        sys.exit(f"{fmt}, {clients} clients: no request answered in {seconds:g} s")
    return {
        "format": fmt,
        "clients": clients,
        "requests": requests,
        "seconds": elapsed,
        "requests_per_s": requests / elapsed,
        "images_per_s": requests * n / elapsed,
        "p50_ms": float(np.percentile(every, 50)) if len(every) else None,
        "p99_ms": float(np.percentile(every, 99)) if len(every) else None,
        "answer_kb": float(np.mean(sizes)) / 1024 if sizes else None,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def direct_images_per_s(model, n: int, seconds: float, label: int) -> dict:
    """TrainedGenerator.draw on batches of n, back to back for `seconds`, in this process."""
    generator = TrainedGenerator(model)
    rng = np.random.default_rng(0)
    labels = np.full(n, label, np.int32)

    def one():
        z = rng.standard_normal((n, generator.latent_dim)).astype(np.float32)
        generator.draw(z, labels)

    for _ in range(WARMUP):
        one()
    batches, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        one()
        batches += 1
    elapsed = time.perf_counter() - began
    return {"batches": batches, "seconds": elapsed, "images_per_s": batches * n / elapsed}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4], help="concurrent clients, per run")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed length of each run")
    parser.add_argument("--n", type=int, default=16, help="images per request (and per direct batch)")
    parser.add_argument("--class", dest="class_name", default="sneaker", help="the requests' class")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--max-rows", type=int, default=1024, help="the server's --max-rows")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]  # other work on the machine skews both sides: recorded
    cfg = params.load(args.params, check_data=False)  # only the model and class names are read
    class_names = list(cfg.data.class_names)
    label = next(
        (i for i, name in enumerate(class_names) if name.lower() == args.class_name.lower()), 0
    )  # the direct draws' label; the server reads the name itself
    model = build_generator(cfg.model, classes=len(class_names))
    rows, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        keras_path = scratch / "generator.keras"
        save_model(model, keras_path)
        save_generator_model(keras_path, scratch / "model", class_names)
        port, log = free_port(), scratch / "serve.log"
        server = start_server(scratch / "model", port, args.max_rows, log)
        try:
            startup = wait_for_ping(server, port, log)
            answer_bytes = {fmt: warm_up(port, args.class_name, args.n, fmt) for fmt in args.formats}
            for fmt in args.formats:
                for clients in args.clients:
                    row = drive(port, clients, args.seconds, args.class_name, args.n, fmt)
                    rows.append(row)
                    if row["errors"]:
                        sys.exit(
                            f"{fmt}, {clients} clients: {row['errors']} errors; first: {row['first_error']}"
                        )
        finally:
            stop_server(server)
        direct = direct_images_per_s(load_model(keras_path), args.n, args.seconds, label)
    peak = harness.matmul_peak_gflops()  # with the server stopped: the machine's cores alone

    kind = f"conditional, {len(class_names)} classes" if cfg.model.conditional else "unconditional"
    print(
        f"{cfg.model.arch} generator ({kind}, untrained), {args.n} images of {args.class_name!r} per request, "
        f"{args.seconds:g} s per run; server up in {startup:.1f} s; {os.cpu_count()} cores shared by "
        f"clients and server (1-min load average {load_before:.1f} before); matmul peak {peak:.0f} GFLOP/s"
    )
    for row in rows:
        row["ratio_to_direct"] = row["images_per_s"] / direct["images_per_s"]
    harness.table(
        ["format", "clients", "req/s", "images/s", "p50 ms", "p99 ms", "KB", "errors", "/direct"],
        [
            [row["format"], row["clients"], f"{row['requests_per_s']:.1f}", f"{row['images_per_s']:.0f}"]
            + [f"{row[key]:.1f}" for key in ("p50_ms", "p99_ms", "answer_kb")]
            + [row["errors"], f"{row['ratio_to_direct']:.3f}"]
            for row in rows
        ]
        + [["direct", "", "", f"{direct['images_per_s']:.0f}", "", "", "", "", ""]],
    )
    print(f"direct: TrainedGenerator.draw, batches of {args.n}")
    for clients in args.clients:
        ratios = [
            f"{row['format']} {row['ratio_to_direct']:.2f}" for row in rows if row["clients"] == clients
        ]
        print(f"served / direct at {clients} client{'s' * (clients > 1)}: {', '.join(ratios)}")
    print(f"({time.perf_counter() - started:.0f} s in all)")

    result = {
        "params": {
            "arch": cfg.model.arch,
            "conditional": cfg.model.conditional,
            "latent_dim": cfg.model.latent_dim,
            "class": args.class_name,
            "n": args.n,
            "clients": args.clients,
            "formats": args.formats,
            "seconds": args.seconds,
            "warmup_requests": WARMUP,
            "max_rows": args.max_rows,
        },
        "load_average_before": load_before,
        "server_startup_s": startup,
        "answer_bytes": answer_bytes,
        "served": rows,
        "direct": direct,
        "matmul_peak_gflops": peak,
    }
    harness.write_result("serve_throughput", result)


if __name__ == "__main__":
    main()
