"""``affectlab serve``: the HTTP API and web page (FastAPI + uvicorn)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click

from affectlab.errors import ConfigError

__all__ = ["serve_command", "exposure_warning"]


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (before the model loads), or one clear error saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:  # port in use, no such address, permission denied...
        sock.close()
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


def _api_key(key: str | None, key_file: Path | None) -> str | None:
    """The key of --api-key / AFFECTLAB_API_KEY or the first line of --api-key-file (not both)."""
    if key_file is not None:
        if key:
            raise ConfigError("give the API key once: --api-key (or AFFECTLAB_API_KEY) or --api-key-file")
        try:
            lines = key_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--api-key-file {key_file}: cannot read it ({exc})") from None
        key = lines[0].strip() if lines else ""
        if not key:
            raise ConfigError(f"--api-key-file {key_file}: the first line is empty")
    if key is not None and (not key.strip() or any(c.isspace() for c in key.strip())):
        raise ConfigError("--api-key: the key must be one word without spaces")
    return key.strip() if key else None


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """What to say when ``--host`` reaches beyond this machine without a key (``None``: nothing).

    >>> exposure_warning("127.0.0.1", None) is None, exposure_warning("0.0.0.0", "k") is None
    (True, True)
    """
    from affectlab.service.server import is_loopback

    if is_loopback(host) or api_key:
        return None
    return (f"--host {host} accepts connections from other machines and there is no API key: anyone who can "
            "reach this port can use the service. Set --api-key-file (or AFFECTLAB_API_KEY) and put a TLS "
            "reverse proxy in front (docs/service.md).")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--model", "model_name", default=None, help="Registered model name (default: the bundled model).")
@click.option("--weights", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Checkpoint to load instead of the bundled weights.")
@click.option("--speech-weights", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Speech model (.npz) for /v1/speech instead of the bundled one.")
@click.option("--device", default="auto", show_default=True, help="auto (GPU when present), cpu or cuda.")
@click.option("--max-faces", type=click.IntRange(min=1), default=None, help="Keep at most N faces per image.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0.001), default=10.0, show_default=True,
              help="Largest accepted request body in MiB (larger uploads get 413).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=40_000_000, show_default=True,
              help="Largest accepted image (and video frame) in pixels (width x height), read from its header.")
@click.option("--max-pixels-in-flight", type=click.IntRange(min=1), default=None,
              help="Most image pixels decoded at once, all requests together (default: --max-pixels).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.01), default=30.0, show_default=True,
              help="Seconds an upload may take to arrive (then 408) and a request may wait for and run inference "
                   "(then 504).")
@click.option("--header-timeout", "header_timeout_s", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds a client may take to send a request's headers; then the connection is closed.")
@click.option("--api-key", default=None, envvar="AFFECTLAB_API_KEY", show_envvar=True,
              help="Require 'Authorization: Bearer KEY' on every API request (401 without it); /health, the "
                   "web page and /docs stay open. Prefer --api-key-file or the variable: a command line is "
                   "visible to other users of the machine.")
@click.option("--api-key-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Read the API key from this file (its first line).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="HOST",
              help="Answer only requests whose Host header is HOST (repeatable; *.example.org for its "
                   "subdomains); others get 400.")
@click.option("--torch-threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Torch CPU threads for inference (more rarely helps the small bundled models).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              default="info", show_default=True)
def serve_command(
    host: str,
    port: int,
    model_name: str | None,
    weights: Path | None,
    speech_weights: Path | None,
    device: str,
    max_faces: int | None,
    max_upload_mb: float,
    max_pixels: int,
    max_pixels_in_flight: int | None,
    timeout_s: float,
    header_timeout_s: float,
    api_key: str | None,
    api_key_file: Path | None,
    allowed_hosts: tuple[str, ...],
    torch_threads: int,
    log_level: str,
) -> None:
    """Serve the HTTP API and the web page; the model is loaded once at start.

    \b
    Routes:
      GET  /            web page: upload an image, take a webcam snapshot, or go
                        Live (the webcam streamed to /v1/stream)
      POST /v1/faces    image (multipart field 'file', or raw image/*) -> faces,
                        labels and probabilities; ?max_faces=N, ?heatmap=true
      WS   /v1/stream   WebSocket: JPEG/PNG frames in (binary messages), one JSON
                        answer per analysed frame (tracked faces); ?smooth=S
      POST /v1/video    video -> tracked faces, per-frame probabilities, video label;
                        ?fps=5, ?max_frames=300, ?frames=false for the summary only
      POST /v1/speech   audio -> emotion probabilities and valence/arousal/dominance
                        (501 when speech analysis is not available here)
      GET  /health      model, limits, available capabilities
      GET  /docs        OpenAPI documentation

    Bad input gets a 4xx answer with a clear "detail": 413 too large, 415 wrong
    content type or image format, 422 not a readable file, 408 upload slower than
    --timeout, 401 without the key of --api-key; 504 when waiting for and running
    inference exceeds --timeout (a video's analysis stops there too).

    Beyond this machine (--host other than 127.0.0.1), set an API key and run
    behind a reverse proxy with TLS (docs/service.md).

    \b
    Examples:
      affectlab serve
      affectlab serve --port 8080 --max-upload-mb 5
      AFFECTLAB_API_KEY=$(cat key.txt) affectlab serve --host 0.0.0.0 --allowed-host faces.example.org
      curl -F file=@photo.jpg http://127.0.0.1:8000/v1/faces
      curl -F file=@clip.mp4 'http://127.0.0.1:8000/v1/video?fps=2'
      curl -H "Authorization: Bearer $KEY" -F file=@photo.jpg http://127.0.0.1:8000/v1/faces
    """
    from affectlab.models import DEFAULT_MODEL, check_weights_network
    from affectlab.service import ServiceSettings, create_app

    if model_name is not None and weights is not None:  # an explicit --model must be the file's network
        check_weights_network(weights, model_name)
    api_key = _api_key(api_key, api_key_file)
    settings = ServiceSettings(
        model=model_name or DEFAULT_MODEL,
        weights=weights,
        speech_weights=speech_weights,
        device=device,
        max_faces=max_faces,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_pixels=max_pixels,
        max_pixels_in_flight=max_pixels_in_flight,
        timeout_s=timeout_s,
        torch_threads=torch_threads,
        api_key=api_key,
        allowed_hosts=allowed_hosts,
    )
    sock = _listen(host, port)
    try:
        app = create_app(settings)
        speech = app.state.affectlab.capabilities["speech"]
        if speech_weights is not None and not speech.available:  # asked for by name: refuse to start without it
            raise ConfigError(f"--speech-weights {speech_weights}: {speech.reason}")
        _announce(settings, host, sock.getsockname()[1])
        started = _run_server(app, settings, sock, host=host, port=port, log_level=log_level,
                              header_timeout_s=header_timeout_s)
    finally:
        sock.close()
    if not started:  # startup failed; uvicorn has logged why
        sys.exit(3)


def _announce(settings, host: str, port: int) -> None:
    """On stderr: what is served where, and warnings (exposed without a key, no WebSocket library)."""
    from affectlab.service.stream import websocket_support

    shown = f"[{host}]" if ":" in host else host
    click.echo(f"affectlab: serving {settings.model} on http://{shown}:{port}/ (docs at /docs)"
               + ("; API key required" if settings.api_key else ""), err=True)
    warning = exposure_warning(host, settings.api_key)
    if warning:
        click.echo(f"affectlab: warning: {warning}", err=True)
    if not websocket_support():
        click.echo("affectlab: warning: no WebSocket library, so /v1/stream and the page's Live view are off: "
                   "pip install 'affectlab[serve]' (websockets)", err=True)


def _run_server(app, settings, sock: socket.socket, *, host: str, port: int, log_level: str,
                header_timeout_s: float) -> bool:
    """Serve ``app`` on the bound socket with uvicorn until stopped; whether it started."""
    import uvicorn

    from affectlab.service.server import header_timeout_protocol
    from affectlab.service.stream import ws_message_limit

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            access_log=log_level in ("info", "debug"),
                            http=header_timeout_protocol(header_timeout_s),
                            ws_max_size=ws_message_limit(settings))
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # pragma: no cover - uvicorn handles Ctrl-C itself
        pass
    return bool(server.started)
