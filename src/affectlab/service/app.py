"""The FastAPI application: JSON API under ``/v1``, ``/health``, OpenAPI docs and the web page.

>>> from fastapi.testclient import TestClient
>>> from affectlab.service import create_app
>>> client = TestClient(create_app())
>>> client.get("/health").json()["status"]
'ok'
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from affectlab import __version__
from affectlab.analysis import AnalysisResult, ExpressionAnalyzer
from affectlab.errors import AffectLabError
from affectlab.media import MediaAnalyzer
from affectlab.service.access import AccessMiddleware
from affectlab.service.engine import InferenceEngine, current_deadline
from affectlab.service.heatmap import face_heatmaps, png_data_url
from affectlab.service.limits import PixelBudget
from affectlab.service.optional import Capability, probe
from affectlab.service.schemas import FacesResponse, HealthResponse
from affectlab.service.settings import ServiceSettings
from affectlab.service.speech import analyze_speech_bytes
from affectlab.service.stream import add_stream_route
from affectlab.service.uploads import UploadRejected, check_image_header, decode_image, read_upload
from affectlab.service.video import analyze_video_bytes, check_not_still_image

__all__ = ["create_app", "ServiceState", "STATIC_DIR"]

#: The offline web page (HTML, JS, CSS; no CDN).
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _upload_body(kind: str) -> dict[str, Any]:
    """OpenAPI request body: multipart ``file`` or the raw file."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary",
                                                "description": f"the {kind} file"}},
                    }
                },
                f"{kind}/*": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


_ERRORS = {
    400: {"description": "Malformed request"},
    401: {"description": "API key missing or wrong (when the server has one)"},
    408: {"description": "The upload did not arrive within the timeout"},
    413: {"description": "Upload larger than the limit"},
    415: {"description": "Wrong content type, an image format that is not read, or a still image as a video"},
    422: {"description": "Not a readable file, empty upload or bad parameter"},
    501: {"description": "Capability not available in this build"},
    504: {"description": "Inference did not finish in time"},
}


@dataclass
class ServiceState:
    """What the routes share: settings, the analyser (loaded once), the inference thread, capabilities."""

    settings: ServiceSettings
    analyzer: ExpressionAnalyzer
    engine: InferenceEngine
    capabilities: dict[str, Capability]
    pixels: PixelBudget
    media: MediaAnalyzer = field(init=False)  # the one media entry: faces, and speech once loaded

    def __post_init__(self) -> None:
        self.media = MediaAnalyzer(self.analyzer)

    def require(self, name: str, what: str) -> Capability:
        cap = self.capabilities[name]
        if not cap.available:
            raise UploadRejected(501, f"{what} is not available: {cap.reason}")
        return cap


def _analyze(state: ServiceState, image: Any, source: str, max_faces: int | None, heatmap: bool) -> dict[str, Any]:
    """Runs on the inference thread: detection, classification and (optionally) Grad-CAM."""
    start = time.perf_counter()
    result: AnalysisResult = state.media.analyze(image, kind="image", source=source)
    if max_faces is not None and len(result.faces) > max_faces:
        result.faces = sorted(result.faces, key=lambda f: f.box.area, reverse=True)[:max_faces]
    out = result.to_dict()
    deadline = current_deadline()
    if heatmap and deadline is not None and time.monotonic() > deadline:  # answered 504 already: stop here
        return out
    if heatmap:  # maps only on the faces the answer lists (not on those ``max_faces`` dropped)
        explainer = state.capabilities["heatmap"].provider
        boxes = [face.box.as_list() for face in result.faces]
        out["heatmap_png"] = png_data_url(face_heatmaps(state.analyzer, image, explainer, boxes=boxes))
    out["seconds"] = round(time.perf_counter() - start, 4)
    return out


def _swagger_assets() -> Path | None:
    """Swagger UI's files from the ``swagger-ui-bundle`` package when installed (docs then work offline)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(swagger_ui_path)
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def _offline_docs(app: FastAPI, assets: Path) -> None:
    """``/docs`` served from local Swagger UI files instead of a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html

    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _document_bearer(app: FastAPI) -> None:
    """OpenAPI: the ``/v1`` routes need ``Authorization: Bearer`` (Swagger UI's Authorize button)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "affectlab serve --api-key"}
            }
            for path, operations in schema.get("paths", {}).items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{"apiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _load_speech(state: ServiceState) -> None:
    """Load the speech model once, if speech analysis is part of the build; else say why not."""
    cap = state.capabilities["speech"]
    if not cap.available:
        return
    try:
        state.media = MediaAnalyzer(state.analyzer, speech=cap.provider(state.settings.speech_weights))
    except AffectLabError as exc:  # no bundled speech weights, openSMILE not installed...
        state.capabilities["speech"] = Capability("speech", reason=f"the speech model cannot be loaded: {exc}")


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one line: ``query parameter 'max_faces': ... (got '0')``."""
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        where = f"{loc[0]} parameter {'.'.join(loc[1:])!r}" if len(loc) > 1 else (loc[0] if loc else "request")
        got = f" (got {error['input']!r})" if isinstance(error.get("input"), (str, int, float)) else ""
        parts.append(f"{where}: {error.get('msg', 'invalid')}{got}")
    return "; ".join(parts) or "invalid request"


def create_app(settings: ServiceSettings | None = None, *, analyzer: ExpressionAnalyzer | None = None) -> FastAPI:
    """Build the AffectLab HTTP application; the model is loaded here, once.

    Parameters
    ----------
    settings
        Model, limits and timeout (default: :meth:`ServiceSettings.from_env`).
    analyzer
        A ready analyser to serve instead of building one from ``settings``.

    Routes: ``GET /health``; ``POST /v1/faces`` (image -> faces and probabilities); the WebSocket
    ``/v1/stream`` (frames in, one answer per analysed frame: :mod:`affectlab.service.stream`);
    ``POST /v1/video`` (video -> per-frame summary) and ``POST /v1/speech`` (audio -> emotion),
    each answering 501 while its module is not part of the build; ``GET /`` (the web page);
    ``/docs`` and ``/openapi.json``. Run it with ``affectlab serve`` or
    ``uvicorn --factory affectlab.service:create_app``.
    """
    state = _build_state(settings if settings is not None else ServiceSettings.from_env(), analyzer)
    app = _new_app(state)
    _add_error_handlers(app)
    _add_health_route(app, state)
    _add_faces_route(app, state)
    _add_speech_route(app, state)
    _add_video_route(app, state)
    add_stream_route(app, state)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _build_state(settings: ServiceSettings, analyzer: ExpressionAnalyzer | None) -> ServiceState:
    """Load the models once: the face analyser, and the speech model when speech is part of the build."""
    if analyzer is None:
        analyzer = ExpressionAnalyzer(
            settings.model, weights=settings.weights, max_faces=settings.max_faces, device=settings.device
        )
    state = ServiceState(
        settings=settings,
        analyzer=analyzer,
        engine=InferenceEngine(timeout_s=settings.timeout_s, torch_threads=settings.torch_threads),
        capabilities={name: probe(name) for name in ("speech", "video", "heatmap")},
        pixels=PixelBudget(settings.pixel_budget),
    )
    _load_speech(state)
    return state


def _new_app(state: ServiceState) -> FastAPI:
    """The FastAPI object: offline docs when Swagger UI's files are installed, access control when asked."""
    settings = state.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.engine.close()

    docs_assets = _swagger_assets()
    app = FastAPI(
        title="AffectLab",
        version=__version__,
        description="Facial expression (and, when installed, speech and video) analysis, offline.",
        lifespan=lifespan,
        docs_url=None if docs_assets is not None else "/docs",  # CDN-hosted Swagger UI as a fallback
        redoc_url=None,
    )
    app.state.affectlab = state
    if docs_assets is not None:
        _offline_docs(app, docs_assets)
    if settings.api_key is not None or settings.allowed_hosts:
        app.add_middleware(AccessMiddleware, api_key=settings.api_key, allowed_hosts=settings.allowed_hosts)
    if settings.api_key is not None:
        _document_bearer(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every refusal is ``{"detail": one line}``: its own status, 422 for other user errors."""

    @app.exception_handler(UploadRejected)
    async def _rejected(request: Request, exc: UploadRejected) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(AffectLabError)
    async def _user_error(request: Request, exc: AffectLabError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)


def _add_health_route(app: FastAPI, state: ServiceState) -> None:
    settings, analyzer = state.settings, state.analyzer

    @app.get("/health", response_model=HealthResponse, tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness, the model served, limits and which optional capabilities are available."""
        caps = state.capabilities
        return {
            "status": "ok",
            "version": __version__,
            "model": analyzer.model.config.name,
            "classes": analyzer.class_names,
            "device": str(analyzer.device),
            "limits": {
                "max_upload_bytes": settings.max_upload_bytes,
                "max_pixels": settings.max_pixels,
                "max_pixels_in_flight": settings.pixel_budget,
                "timeout_s": settings.timeout_s,
                "torch_threads": settings.torch_threads,
            },
            "api_key_required": settings.api_key is not None,
            "capabilities": {"faces": True, **{name: cap.available for name, cap in caps.items()}},
            "unavailable": {name: cap.reason for name, cap in caps.items() if not cap.available},
        }


def _add_faces_route(app: FastAPI, state: ServiceState) -> None:
    settings = state.settings

    @app.post("/v1/faces", response_model=FacesResponse, response_model_exclude_none=True,
              openapi_extra=_upload_body("image"), responses=_ERRORS, tags=["analysis"])
    async def faces(
        request: Request,
        max_faces: int | None = Query(None, ge=1, description="Keep at most N faces (largest first)."),
        heatmap: bool = Query(False, description="Add a Grad-CAM overlay PNG (needs affectlab.explain)."),
    ) -> dict[str, Any]:
        """Find the faces in an uploaded image and classify their expressions.

        Send the image as multipart/form-data in field ``file`` (or as a raw ``image/*`` body).
        The answer lists each face's box ``[x, y, w, h]``, label and class probabilities.
        """
        if heatmap:
            state.require("heatmap", "the Grad-CAM heatmap")
        upload = await read_upload(request, kind="image", limit=settings.max_upload_bytes,
                                   deadline_s=settings.timeout_s)
        # size from the header: 413 / 415 / 422 before a pixel is decoded
        header = await run_in_threadpool(check_image_header, upload.data, name=upload.filename,
                                         max_pixels=settings.max_pixels)
        deadline = time.monotonic() + settings.timeout_s
        try:
            held = state.pixels.hold(header.pixels, timeout=deadline - time.monotonic())
            async with held:  # the decoded image stays within the pixel budget until answered
                image = await run_in_threadpool(
                    decode_image, upload.data, name=upload.filename, max_pixels=settings.max_pixels
                )
                try:
                    return await state.engine.run_until(deadline, _analyze, state, image, upload.filename,
                                                        max_faces, heatmap)
                finally:
                    del image
        except TimeoutError:  # waited for the pixel budget past the deadline
            raise UploadRejected(
                504, f"{upload.filename}: not started within {settings.timeout_s:g} s (server busy with large images)"
            ) from None


def _add_speech_route(app: FastAPI, state: ServiceState) -> None:
    settings = state.settings

    @app.post("/v1/speech", openapi_extra=_upload_body("audio"), responses=_ERRORS, tags=["analysis"])
    async def speech(request: Request) -> dict[str, Any]:
        """Speech emotion of an uploaded recording (wav, flac, ogg...).

        The answer has the category label with the probability of every class and
        valence/arousal/dominance estimates (see ``vad_note``). Answers 501 while speech
        analysis (``affectlab.audio`` with its model and openSMILE) is not available here.
        """
        state.require("speech", "speech analysis")
        upload = await read_upload(request, kind="audio", limit=settings.max_upload_bytes,
                                   deadline_s=settings.timeout_s)
        return await state.engine.run(analyze_speech_bytes, state.media, upload.data, filename=upload.filename)


def _add_video_route(app: FastAPI, state: ServiceState) -> None:
    settings = state.settings

    @app.post("/v1/video", openapi_extra=_upload_body("video"), responses=_ERRORS, tags=["analysis"])
    async def video(
        request: Request,
        fps: float | None = Query(5.0, gt=0, description="Analyse about this many frames per second."),
        max_frames: int = Query(300, ge=1, le=10_000, description="Analyse at most this many frames."),
        frames: bool = Query(True, description="Include the per-frame records of every face track."),
    ) -> dict[str, Any]:
        """Per-frame expression summary of an uploaded video (mp4, avi...).

        Faces are tracked across the sampled frames; the answer has the video-level label and
        probabilities, and per track the pooled label and (``frames=true``) each frame's box
        and probabilities. Answers 501 while ``affectlab.video`` is not part of this build.
        """
        state.require("video", "video analysis")
        upload = await read_upload(request, kind="video", limit=settings.max_upload_bytes,
                                   deadline_s=settings.timeout_s)
        check_not_still_image(upload.data, upload.filename)
        return await state.engine.run(
            analyze_video_bytes, state.media, upload.data,
            filename=upload.filename, fps=fps, max_frames=max_frames, frames=frames, max_pixels=settings.max_pixels,
        )
