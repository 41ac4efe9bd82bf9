"""``segnet bench serve``: requests/s and latency percentiles of ``segnet serve`` at several
client concurrencies, beside a loop of ``Model.predict`` on the same frames in the same run.

The server runs as its own process (``segnet serve`` on 127.0.0.1, a free port) with the same
checkpoint and backend; the client sends the frames' own PNG files, as a user would, over
keep-alive connections, and receives label-map PNGs. Decoding, encoding and HTTP are therefore
counted against the service. The direct loop is timed before and after the server runs, and its
mean is the reference. One overload run (more clients than ``--max-queue``) shows that accepted
requests keep a bounded latency and the rest are refused at once with 503 (whose clients wait the
Retry-After the server sends before they try again, as a polite client does).
Figures are recorded in docs/results/serve.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from segnet.core.device import cpu_description
from segnet.core.paths import default_data_root

START_TIMEOUT_S = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled model")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "openvino", "onnxruntime"])
    parser.add_argument("--data-root", type=Path, default=None, help="CamVid folder (default: the data root)")
    parser.add_argument("--frames", type=int, default=8, help="CamVid test frames sent in turn (default 8)")
    parser.add_argument("--requests", type=int, default=64, help="timed requests per concurrency (default 64)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--overload", type=int, default=64, help="clients of the overload run (0: skip; default 64)")
    parser.add_argument("--max-queue", type=int, default=16, help="the server's --max-queue (default 16)")
    parser.add_argument("--batch-window-ms", type=float, default=3.0, help="the server's --batch-window-ms")
    parser.add_argument("--batch-size", type=int, default=4, help="the server's --batch-size (most frames per pass)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")


def _percentiles(latencies: list[float]) -> dict[str, float]:
    values = np.asarray(latencies) * 1000
    return {f"p{q}_ms": round(float(np.percentile(values, q)), 1) for q in (50, 95, 99)}


def _direct(model, frames: list[np.ndarray], count: int) -> dict[str, float]:
    latencies = []
    model.predict(frames[0])  # warm-up
    start = time.perf_counter()
    for i in range(count):
        began = time.perf_counter()
        model.predict(frames[i % len(frames)])
        latencies.append(time.perf_counter() - began)
    return {"requests_per_s": round(count / (time.perf_counter() - start), 2), **_percentiles(latencies)}


async def _load(url: str, files: list[bytes], clients: int, count: int) -> dict[str, float]:
    import httpx

    latencies, refused, next_index = [], 0, 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
        async def worker() -> None:
            nonlocal refused, next_index
            while next_index < count:
                index, next_index = next_index, next_index + 1
                began = time.perf_counter()
                response = await client.post("/v1/segment", files={"image": files[index % len(files)]})
                if response.status_code == 503:  # a polite client waits as long as the server asks
                    refused += 1
                    await asyncio.sleep(float(response.headers.get("retry-after", 1)))
                    continue
                response.raise_for_status()
                latencies.append(time.perf_counter() - began)

        warm = [client.post("/v1/segment", files={"image": files[i % len(files)]}) for i in range(min(clients, 8))]
        await asyncio.gather(*warm)  # open the connections before the clock starts
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds = time.perf_counter() - start
    return {"requests_per_s": round(len(latencies) / seconds, 2), "refused_503": refused, **_percentiles(latencies)}


@contextlib.contextmanager
def _server(args: argparse.Namespace):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "segnet", "serve", "--port", str(port), "--backend", args.backend,
               "--max-queue", str(args.max_queue), "--batch-window-ms", str(args.batch_window_ms),
               "--batch-size", str(args.batch_size), "--log-level", "warning"]
    if args.checkpoint:
        command += ["--checkpoint", str(args.checkpoint)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url)
        yield url
    finally:
        process.terminate()
        process.wait(120)


def _wait_ready(process: subprocess.Popen, url: str) -> None:
    import httpx

    from segnet.errors import SegnetError

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SegnetError(f"segnet serve exited {process.returncode}: {process.stderr.read().strip()[-500:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise SegnetError(f"segnet serve did not answer within {START_TIMEOUT_S} s")


def run(args: argparse.Namespace) -> int:
    import segnet
    from segnet.data import find_pairs, read_image

    pairs = find_pairs(args.data_root or default_data_root(), "test")[: max(1, args.frames)]
    files = [Path(image).read_bytes() for image, _ in pairs]
    model = segnet.load_model(args.checkpoint, backend=args.backend)
    frames = [read_image(image) for image, _ in pairs]
    print(f"# {cpu_description()}; {os.cpu_count()} cores, this process may use {len(os.sched_getaffinity(0))}")
    print(f"# {model.describe()}, backend {model.backend}; {len(frames)} CamVid test frames "
          f"{frames[0].shape[1]}x{frames[0].shape[0]}, {args.requests} requests per run")
    # The direct loop runs right before each server run: on a shared machine the speed drifts, and
    # each ratio compares two runs minutes apart at most.
    runs = [(clients, False) for clients in args.concurrency] + ([(args.overload, True)] if args.overload else [])
    rows = []
    with _server(args) as url:
        for clients, overload in runs:
            direct = _direct(model, frames, args.requests)
            served = asyncio.run(_load(url, files, clients, args.requests * (2 if overload else 1)))
            rows.append({"clients": clients, "overload": overload, "direct": direct, **served})
    _print_table(rows)
    if args.json:
        record = {"cpu": cpu_description(), "model": model.describe(), "backend": model.backend, "runs": rows,
                  "command": " ".join(["segnet", *sys.argv[1:]])}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


def _print_table(rows: list[dict]) -> None:
    print(f"{'clients':<18}{'direct req/s':>13}{'serve req/s':>12}{'of direct':>10}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'p99 ms':>9}{'503s':>6}   direct p50/p99 ms")
    for row in rows:
        direct = row["direct"]
        share = 100 * row["requests_per_s"] / direct["requests_per_s"]
        name = f"{row['clients']}" + (" (overload)" if row["overload"] else "")
        print(f"{name:<18}{direct['requests_per_s']:>13.2f}{row['requests_per_s']:>12.2f}{share:>8.0f} %"
              f"{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}{row['refused_503']:>6}   "
              f"{direct['p50_ms']}/{direct['p99_ms']}")
