"""Round trip of one frame through the WebSocket ``/v1/stream``: send a 640x480 JPEG, wait for its answer.

    python benchmarks/stream_latency.py                        # starts a server on 127.0.0.1 in this process
    python benchmarks/stream_latency.py --frames 200 --detector haar
    python benchmarks/stream_latency.py --url http://127.0.0.1:8000 --api-key "$KEY"   # a running affectlab serve

The frames are the sample photograph (a 360 px face) moving over a 640x480 gray frame, as in
``benchmarks/live_clip.py``, JPEG-encoded once beforehand (quality 85); each is sent when the
previous answer has arrived, so nothing is dropped. Prints the median, 90th percentile and
maximum round trip, the server's own time per frame, and how many answers had the face (labels).
Target: median <= 50 ms on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

from live_clip import face_clip_frames


@contextlib.contextmanager
def local_server(detector: str) -> Iterator[str]:
    """``affectlab serve``'s application under uvicorn in a background thread on a free loopback port."""
    import uvicorn

    from affectlab.analysis import ExpressionAnalyzer
    from affectlab.service import ServiceSettings, create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ServiceSettings()
    app = create_app(settings, analyzer=ExpressionAnalyzer(settings.model, detector=detector))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("the local server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def measure(url: str, frames: int, api_key: str | None, warmup: int) -> dict[str, object]:
    from affectlab.service.client import StreamClient, encode_frame

    images = [encode_frame(f, quality=85) for f in face_clip_frames(seconds=(frames + warmup) / 25.0)]
    trips, server_times, labels = [], [], Counter()
    with StreamClient(url, api_key=api_key) as client:
        for i, data in enumerate(images):
            started = time.perf_counter()
            answer = client.analyze(data)
            elapsed = time.perf_counter() - started
            if "error" in answer:
                raise SystemExit(f"frame {i}: {answer['error']}")
            if i < warmup:
                continue
            trips.append(elapsed)
            server_times.append(answer["seconds"])
            labels.update(f["label"] for f in answer["faces"][:1])
            labels["(no face)"] += not answer["faces"]
    trips.sort()
    return {
        "frames": len(trips),
        "jpeg_bytes": round(statistics.mean(len(d) for d in images)),
        "median_ms": round(1000 * statistics.median(trips), 1),
        "p90_ms": round(1000 * trips[int(0.9 * (len(trips) - 1))], 1),
        "max_ms": round(1000 * trips[-1], 1),
        "server_median_ms": round(1000 * statistics.median(server_times), 1),
        "labels": dict(labels),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="a running server (default: start one here, on 127.0.0.1)")
    parser.add_argument("--api-key", default=None, help="the server's API key, if it has one")
    parser.add_argument("--frames", type=int, default=100, help="frames timed (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="frames sent first and not timed (default 5)")
    parser.add_argument("--detector", choices=["auto", "dlib", "haar"], default="auto",
                        help="face front-end of the local server (default auto: dlib when installed)")
    args = parser.parse_args(argv)
    with (contextlib.nullcontext(args.url) if args.url else local_server(args.detector)) as url:
        result = measure(url, args.frames, args.api_key, args.warmup)
    print(f"stream round trip, 640x480 JPEG ({result['jpeg_bytes']} bytes), {result['frames']} frames one at a time: "
          f"median {result['median_ms']} ms, p90 {result['p90_ms']} ms, max {result['max_ms']} ms "
          f"(server {result['server_median_ms']} ms); top labels {result['labels']}")
    return 0 if result["median_ms"] <= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
