"""Load test of the HTTP service: N concurrent clients post the sample photograph for a bounded time.

Starts ``affectlab serve`` on a free loopback port (or uses ``--url``), warms it up, then runs
``--clients`` threads, each with its own keep-alive connection, posting the image to
``/v1/faces`` until ``--duration`` seconds have passed. A request counts as an error unless it
answers 200 with a face list. Prints requests/s (successful requests over the wall time, which
includes the requests still in flight at the deadline), latency percentiles of the successful
requests (client side: upload, queueing, inference, answer) and the error count. Any answer
other than 200 (a 4xx or 5xx) or a transport error counts as an error, and the exit status is 1.

With ``--api-key KEY`` the started server requires that key (given to it through
``AFFECTLAB_API_KEY``, not its command line) and every request sends ``Authorization: Bearer KEY``.
Loopback only: the started server listens on 127.0.0.1.

    nice -n 10 python benchmarks/load.py --clients 16 --duration 30 --json
    nice -n 10 python benchmarks/load.py --clients 16 --duration 30 --api-key "$(openssl rand -hex 16)"
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import cv2
import httpx
import numpy as np


def _sample_png() -> tuple[str, bytes]:
    from affectlab.data import sample_photo

    ok, data = cv2.imencode(".png", cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    assert ok
    return "astronaut.png", data.tobytes()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(torch_threads: int | None, api_key: str | None = None) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    cmd = [sys.executable, "-c", "import sys; from affectlab.cli import main; sys.exit(main())",
           "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if torch_threads is not None:
        cmd += ["--torch-threads", str(torch_threads)]
    env = dict(os.environ)
    env.pop("AFFECTLAB_API_KEY", None)
    if api_key is not None:
        env["AFFECTLAB_API_KEY"] = api_key
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not become healthy within 120 s")


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def run_load(url: str, image: tuple[str, bytes], clients: int, duration: float, timeout: float,
             api_key: str | None = None) -> dict:
    """Run the clients against ``url``; returns the measurements as a dict."""
    name, data = image
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client() -> None:
        with httpx.Client(base_url=url, timeout=timeout, headers=headers) as http:
            start_gate.wait()
            while time.monotonic() < deadline[0]:
                t0 = time.perf_counter()
                try:
                    res = http.post("/v1/faces", files={"file": (name, data, content_type)})
                    ok = res.status_code == 200 and isinstance(res.json().get("faces"), list)
                    kind = None if ok else f"http_{res.status_code}"
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                elapsed = time.perf_counter() - t0
                with lock:
                    if kind is None:
                        latencies.append(elapsed)
                    else:
                        errors[kind] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + duration
    t_start = time.perf_counter()
    start_gate.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    ms = [v * 1000 for v in latencies]
    return {
        "url": url,
        "clients": clients,
        "duration_s": duration,
        "wall_s": round(wall, 2),
        "requests": len(latencies) + sum(errors.values()),
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "requests_per_s": round(len(latencies) / wall, 2) if wall > 0 else None,
        "latency_ms": {
            "p50": _round(_percentile(ms, 50)),
            "p95": _round(_percentile(ms, 95)),
            "p99": _round(_percentile(ms, 99)),
            "mean": _round(statistics.fmean(ms) if ms else None),
            "max": _round(max(ms) if ms else None),
        },
        "image": {"name": name, "bytes": len(data)},
        "api_key": bool(api_key),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Use this running server instead of starting one (e.g. http://127.0.0.1:8000).")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent clients (default 16).")
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds to keep posting (default 30).")
    parser.add_argument("--image", type=Path, help="Image to post (default: the sample photograph as PNG).")
    parser.add_argument("--timeout", type=float, default=60.0, help="Client timeout per request in seconds.")
    parser.add_argument("--torch-threads", type=int, default=None, help="--torch-threads of the started server.")
    parser.add_argument("--api-key", help="Send 'Authorization: Bearer KEY' (and start the server with that key).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients must be >= 1 and --duration > 0")
    image = (args.image.name, args.image.read_bytes()) if args.image else _sample_png()
    proc = None
    url = args.url
    if url is None:
        url, proc = _start_server(args.torch_threads, args.api_key)
    auth = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        health = httpx.get(url + "/health", timeout=10).json()
        warm = httpx.post(url + "/v1/faces", files={"file": (image[0], image[1])}, headers=auth, timeout=60)
        if warm.status_code != 200:
            raise SystemExit(f"warm-up request failed: {warm.status_code} {warm.text[:300]}")
        load_before = os.getloadavg()
        result = run_load(url, image, args.clients, args.duration, args.timeout, args.api_key)
        result["load_average_1min"] = {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)}
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    result["server"] = {"model": health.get("model"), "device": health.get("device"),
                        "started_here": proc is not None,
                        "torch_threads": health.get("limits", {}).get("torch_threads"),
                        "timeout_s": health.get("limits", {}).get("timeout_s")}
    result["cpu_count"] = os.cpu_count()
    if args.json:
        print(json.dumps(result))
    else:
        lat = result["latency_ms"]
        print(f"{result['requests']} requests from {args.clients} clients in {result['wall_s']} s: "
              f"{result['requests_per_s']} req/s, p50 {lat['p50']} ms, p95 {lat['p95']} ms, errors {result['errors']}")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
