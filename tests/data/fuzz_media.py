"""Seeded fuzzing of the media readers and the service: corrupted and truncated images, WAVs and videos.

Run as ``python -m tests.data.fuzz_media --target readers|service --images N --audio N --videos N``
(the tests do, in a subprocess, so that a crash of a native decoder is reported rather than
taking pytest down). Each case is a small valid file (PNG, JPEG, BMP, PGM, PPM, TIFF, WebP;
WAV in four sample formats, FLAC; MJPG AVI, MPEG-4 MP4) with one to three mutations: truncation,
flipped bytes, random or huge numbers written over the header, inserted, deleted, duplicated or
zeroed ranges. The rules:

- ``readers``: :func:`~affectlab.data.media.read_image`, :func:`~affectlab.audio.io.read_audio`
  and :class:`~affectlab.video.reader.VideoReader` either return or raise an
  :class:`~affectlab.errors.AffectLabError`; anything else is a traceback for the user.
- ``service``: ``/v1/faces``, ``/v1/speech`` and ``/v1/video`` answer 200 or a 4xx (504 when
  the machine is too busy) with a JSON ``detail`` string, never a 500 or a traceback.
- Both: the peak resident memory stays within ``--max-growth-mb`` of the peak after a warm-up
  with the valid files (no decoding bomb), and the process does not crash.

The report (one JSON line on stdout) has the counts per kind and outcome, the failures (up to 20,
each with the case's id to replay it: ``--replay KIND:ID``) and the memory figures.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

MUTATIONS = ("truncate", "flip", "header_noise", "huge_number", "insert", "delete", "duplicate", "zero")
HUGE = (0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x00010000, 0xFFFF, 0x7FFF, 0, 1)


# ------------------------------------------------------------------------------------------- seeds
def _face(width: int, height: int) -> np.ndarray:
    from affectlab.data import sample_photo

    crop = sample_photo()[40:300, 120:330]  # the astronaut's head and shoulders
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def image_seeds() -> dict[str, bytes]:
    """Small valid images (96 x 112, a face) in every accepted format."""
    bgr = cv2.cvtColor(_face(96, 112), cv2.COLOR_RGB2BGR)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    out = {}
    for name, suffix, image, params in [
        ("png", ".png", bgr, []), ("jpg", ".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80]),
        ("progressive.jpg", ".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), ("bmp", ".bmp", bgr, []),
        ("pgm", ".pgm", gray, []), ("ppm", ".ppm", bgr, []), ("tif", ".tif", bgr, []),
        ("webp", ".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 80]),
        ("lossless.webp", ".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 101]),
    ]:
        ok, data = cv2.imencode(suffix, image, params)
        assert ok, name
        out[name] = data.tobytes()
    return out


def audio_seeds() -> dict[str, bytes]:
    """Half-second voiced-like recordings: WAV as 16-bit, 8-bit, 32-bit float (stereo 44.1 kHz), FLAC."""
    import soundfile as sf

    out = {}
    for name, rate, channels, fmt, subtype in [
        ("pcm16.wav", 16000, 1, "WAV", "PCM_16"), ("u8.wav", 8000, 1, "WAV", "PCM_U8"),
        ("float.wav", 44100, 2, "WAV", "FLOAT"), ("pcm24.wav", 22050, 1, "WAV", "PCM_24"),
        ("flac", 16000, 1, "FLAC", "PCM_16"),
    ]:
        t = np.arange(int(0.5 * rate)) / rate
        voice = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        voice += 0.02 * np.random.default_rng(0).standard_normal(t.size)
        signal = np.stack([voice] * channels, axis=1) if channels > 1 else voice
        buffer = io.BytesIO()
        sf.write(buffer, signal.astype(np.float32), rate, format=fmt, subtype=subtype)
        out[name] = buffer.getvalue()
    return out


def video_seeds() -> dict[str, bytes]:
    """Eight-frame videos of a face (96 x 80): MJPG in AVI and, when the encoder exists, MPEG-4 in MP4."""
    face = cv2.cvtColor(_face(64, 80), cv2.COLOR_RGB2BGR)
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, fourcc in [("avi", "MJPG"), ("mp4", "mp4v")]:
            path = Path(folder) / f"seed.{name}"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (96, 80))
            if not writer.isOpened():
                continue
            for i in range(8):
                frame = np.zeros((80, 96, 3), np.uint8)
                frame[:, 2 * i : 2 * i + 64] = face
                writer.write(frame)
            writer.release()
            if path.stat().st_size > 0:
                out[name] = path.read_bytes()
    return out


# --------------------------------------------------------------------------------------- mutations
def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, list[str]]:
    """``data`` with one to three random mutations; also their names (for the report)."""
    out = bytearray(data)
    names = []
    for _ in range(int(rng.integers(1, 4))):
        kind = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
        names.append(kind)
        n = len(out)
        if n < 2:
            break
        if kind == "truncate":
            del out[int(rng.integers(0, n)):]
        elif kind == "flip":
            for pos in rng.integers(0, n, size=int(rng.integers(1, 9))):
                out[int(pos)] ^= 1 << int(rng.integers(8))
        elif kind == "header_noise":  # random bytes over the first 64, where the sizes are
            start = int(rng.integers(0, min(n, 64)))
            stop = min(n, start + int(rng.integers(1, 9)))
            out[start:stop] = rng.integers(0, 256, size=stop - start, dtype=np.uint8).tobytes()
        elif kind == "huge_number":  # a size, count or rate field set to an extreme value
            pos = int(rng.integers(0, max(1, min(n - 4, 96))))
            width = 4 if rng.random() < 0.6 else 2
            value = int(HUGE[int(rng.integers(len(HUGE)))]) & ((1 << (8 * width)) - 1)
            out[pos : pos + width] = value.to_bytes(width, "little" if rng.random() < 0.5 else "big")
        elif kind == "insert":
            pos = int(rng.integers(0, n))
            out[pos:pos] = rng.integers(0, 256, size=int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        elif kind == "delete":
            start = int(rng.integers(0, n))
            del out[start : start + int(rng.integers(1, 256))]
        elif kind == "duplicate":
            start = int(rng.integers(0, n))
            chunk = out[start : start + int(rng.integers(1, 512))]
            pos = int(rng.integers(0, n))
            out[pos:pos] = chunk
        elif kind == "zero":
            start = int(rng.integers(0, n))
            stop = min(n, start + int(rng.integers(1, 128)))
            out[start:stop] = bytes(stop - start)
    return bytes(out), names


def hostile_cases(kind: str) -> list[tuple[str, bytes, str]]:
    """Hand-made bombs run before the random cases: ``(file name, bytes, what)``."""
    import struct

    from tests.data.hostile_media import png_header_only, radiance_hdr

    if kind == "image":
        png = image_seeds()["png"]
        idat = png.index(b"IDAT") - 4
        lying = png[:idat] + struct.pack(">I", 0xC0000000) + png[idat + 4 :]
        return [("bomb.png", png_header_only(30_000, 30_000), "PNG header of 30000x30000, 2.7 GB decoded"),
                ("chunk.png", lying, "96x112 PNG whose IDAT length says 3 GB (OpenCV allocated it)"),
                ("bomb.hdr", radiance_hdr(3_000, 3_000), "Radiance HDR, 108 MB decoded"),
                ("zero.png", png_header_only(0, 10), "PNG header of 0x10")]
    if kind == "audio":
        import soundfile as sf

        wav = audio_seeds()["pcm16.wav"]
        long = io.BytesIO()  # 2**18 samples said to be at 1 Hz: 4.2e9 samples at 16 kHz (soxr crashed)
        sf.write(long, 0.3 * np.sin(np.arange(2**18) / 5.0), 16000, format="WAV", subtype="PCM_16")
        long_wav = long.getvalue()
        out = [("long1hz.wav", long_wav[:24] + struct.pack("<I", 1) + long_wav[28:], "WAV of 2**18 samples at 1 Hz")]
        for rate, what in [(1, "1 Hz"), (0, "0 Hz"), (0xFFFFFFFF, "4294967295 Hz"), (100, "100 Hz")]:
            out.append((f"rate{rate}.wav", wav[:24] + struct.pack("<I", rate) + wav[28:], f"WAV at {what}"))
        out.append(("channels0.wav", wav[:22] + struct.pack("<H", 0) + wav[24:], "WAV of 0 channels"))
        out.append(("channels65535.wav", wav[:22] + struct.pack("<H", 0xFFFF) + wav[24:], "WAV of 65535 channels"))
        return out
    return [("still.avi", image_seeds()["png"], "a PNG named .avi")]


def cases(kind: str, count: int, seed: int) -> Iterator[tuple[str, str, bytes, list[str]]]:
    """``(case id, file name, bytes, mutations)``: the hostile cases, then ``count`` random ones.

    Every 10th random case is a plain truncation.
    """
    for i, (name, data, what) in enumerate(hostile_cases(kind)):
        yield f"h{i}", name, data, [what]
    seeds = {"image": image_seeds, "audio": audio_seeds, "video": video_seeds}[kind]()
    names = sorted(seeds)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        name = names[i % len(names)]
        original = seeds[name]
        if i % 10 == 9:
            data, how = original[: int(rng.integers(0, len(original)))], ["truncate"]
        else:
            data, how = mutate(original, rng)
        suffix = "." + name.rsplit(".", 1)[-1]
        yield f"{i}", f"case{i}{suffix}", data, how


# ----------------------------------------------------------------------------------------- targets
def _memory(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reader_target(folder: Path) -> Callable[[str, str, bytes], str]:
    from affectlab.audio.io import read_audio
    from affectlab.data.media import read_image
    from affectlab.video.reader import VideoReader

    def run(kind: str, name: str, data: bytes) -> str:
        path = folder / name
        path.write_bytes(data)
        try:
            if kind == "image":
                read_image(path, mode="gray" if len(data) % 2 else "rgb")
            elif kind == "audio":
                read_audio(path)
            else:
                frames = list(VideoReader(path, max_frames=20))
                assert all(f.image.ndim == 3 and f.image.dtype == np.uint8 for f in frames)
            return "ok"
        finally:
            path.unlink()

    return run


def service_target() -> Callable[[str, str, bytes], str]:
    from fastapi.testclient import TestClient

    from affectlab.service import ServiceSettings, create_app

    client = TestClient(create_app(ServiceSettings(timeout_s=20, max_upload_bytes=4_000_000, device="cpu")))
    routes = {"image": ("/v1/faces", "image/png"), "audio": ("/v1/speech", "audio/wav"),
              "video": ("/v1/video?max_frames=10&fps=100", "video/mp4")}

    def run(kind: str, name: str, data: bytes) -> str:
        route, content_type = routes[kind]
        res = client.post(route, files={"file": (name, data, content_type)})
        if res.status_code == 200:
            assert isinstance(res.json(), dict)
            return "ok"
        body = res.json()
        assert isinstance(body, dict) and isinstance(body.get("detail"), str), res.text[:300]
        assert "Traceback" not in res.text and 'File "' not in res.text, res.text[:300]
        if res.status_code == 501:  # this capability is not in this build
            return "501"
        assert 400 <= res.status_code < 500 or res.status_code == 504, f"HTTP {res.status_code}: {res.text[:300]}"
        return str(res.status_code)

    return run


def fuzz(target: str, counts: dict[str, int], seed: int, max_growth_mb: float,
         progress: Path | None = None) -> dict:
    """Run the cases; returns the report (see the module docstring)."""
    from affectlab.errors import AffectLabError

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="affectlab-fuzz-") as tmp:
        run = reader_target(Path(tmp)) if target == "readers" else service_target()
        for kind in counts:  # warm up with each kind's valid files: models loaded, caches filled
            seeds = {"image": image_seeds, "audio": audio_seeds, "video": video_seeds}[kind]()
            for name, data in seeds.items():
                try:
                    run(kind, f"warm.{name.rsplit('.', 1)[-1]}", data)
                except AffectLabError:
                    pass
        baseline = last_peak = _memory("VmHWM")
        outcomes: Counter[str] = Counter()
        failures: list[dict] = []
        jumps: list[dict] = []
        total = 0
        for kind, count in counts.items():
            for case_id, name, data, how in cases(kind, count, seed):
                if progress is not None:  # the last line names the case a crash happened in
                    with progress.open("a") as log:
                        log.write(f"{kind}:{case_id} {name} {'+'.join(how)} {len(data)} bytes\n")
                try:
                    outcome = run(kind, name, data)
                except AffectLabError:
                    outcome = "refused"
                except Exception as exc:  # noqa: BLE001 - a traceback the user would see
                    outcome = "FAILED"
                    if len(failures) < 20:
                        failures.append({"case": f"{kind}:{case_id}", "name": name, "mutations": how,
                                         "error": f"{type(exc).__name__}: {exc}"[:500],
                                         "where": traceback.format_exc(limit=-3)[-800:]})
                outcomes[f"{kind}:{outcome}"] += 1
                total += 1
                peak_now = _memory("VmHWM")
                if peak_now - last_peak > 50 * 2**20 and len(jumps) < 20:  # which cases raised the peak
                    jumps.append({"case": f"{kind}:{case_id}", "name": name, "mutations": how,
                                  "peak_mb": round(peak_now / 2**20), "outcome": outcome})
                last_peak = peak_now
    peak = _memory("VmHWM")
    growth = (peak - baseline) / 2**20
    return {
        "target": target, "seed": seed, "cases": total, "outcomes": dict(sorted(outcomes.items())),
        "failures": failures, "n_failures": sum(v for k, v in outcomes.items() if k.endswith("FAILED")),
        "memory_mb": {"peak_after_warm_up": round(baseline / 2**20), "peak": round(peak / 2**20),
                      "growth": round(growth), "max_growth": max_growth_mb},
        "memory_ok": growth <= max_growth_mb,
        "peak_raised_by": jumps,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=["readers", "service"], default="readers")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--audio", type=int, default=300)
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--max-growth-mb", type=float, default=300.0)
    parser.add_argument("--progress", type=Path, help="Append each case's id here before running it.")
    parser.add_argument("--replay", help="Run one case, KIND:ID (e.g. video:17), and show its traceback.")
    args = parser.parse_args(argv)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # libpng's warnings are not failures
    if args.replay:
        kind, case_id = args.replay.split(":")
        for cid, name, data, how in cases(kind, int(case_id.lstrip("h")) + 1, args.seed):
            if cid == case_id:
                print(f"{kind}:{cid} {name} {how} {len(data)} bytes", file=sys.stderr)
                with tempfile.TemporaryDirectory() as tmp:
                    run = reader_target(Path(tmp)) if args.target == "readers" else service_target()
                    print(run(kind, name, data))
        return 0
    counts = {"image": args.images, "audio": args.audio, "video": args.videos}
    report = fuzz(args.target, {k: v for k, v in counts.items() if v > 0}, args.seed, args.max_growth_mb,
                  args.progress)
    print(json.dumps(report))
    return 0 if not report["failures"] and report["memory_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
