"""``create_app``: the ASGI application behind ``segnet serve`` (FastAPI), for uvicorn, gunicorn
(one worker per model: ``uvicorn --factory segnet.service:create_app``) or tests.

One model instance per application; requests reach it through one ``MicroBatcher``; decoding,
drawing and PNG encoding run in worker threads so that the event loop only moves bytes.
"""

from __future__ import annotations

import contextlib
import hmac
from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from segnet.service.batching import MicroBatcher, batching_gain
from segnet.service.errors import ApiError, install_error_handlers
from segnet.service.render import FORMATS, model_info, render
from segnet.service.settings import ServiceSettings
from segnet.service.uploads import UploadFolder, decode_image, receive_file
from segnet.service.videos import VideoJobs

BATCH_GAIN_NEEDED = 1.1
STATIC = Path(str(resources.files("segnet.service") / "static"))
# The page loads nothing from elsewhere; blob: and data: carry the images and videos it makes.
PAGE_POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
               "connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")


def create_app(model=None, settings: ServiceSettings | None = None, *, checkpoint=None,
               backend: str = "auto") -> FastAPI:
    """The service for ``model`` (a ``segnet.Model``; default: ``segnet.load_model(checkpoint,
    backend=backend)``) with ``settings`` (default: ``ServiceSettings()``: no token, loopback use)."""
    import segnet

    settings = settings or ServiceSettings()
    model = model if model is not None else segnet.load_model(checkpoint, backend=backend)
    max_batch = _batch_size(model, settings)
    folder = UploadFolder(settings.upload_dir)
    batcher = MicroBatcher(model.predict, settings.batch_window_ms / 1000, max_batch, settings.max_queue)
    videos = VideoJobs(batcher, model, folder.path, settings.max_pixels, settings.max_videos_running,
                       settings.max_video_jobs, settings.video_keep_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await run_in_threadpool(videos.close)  # in-flight requests are done: the server drained them
        batcher.close()
        folder.close()

    # /openapi.json for client generators; no /docs page: Swagger UI would load its scripts from a CDN
    app = FastAPI(title="segnet", version=segnet.__version__, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.model, app.state.settings, app.state.batcher, app.state.videos = model, settings, batcher, videos
    install_error_handlers(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization"])
    authorized = [Depends(_token_check(settings.token))]
    _add_page(app)
    _add_image_routes(app, authorized, model, settings, batcher, folder, max_batch)
    _add_video_routes(app, authorized, settings, videos, folder)
    return app


def _batch_size(model, settings: ServiceSettings) -> int:
    """Warm the runtime up (now, not in the first request) and keep batches only where they pay:
    ``settings.max_batch`` frames per pass when that is at least 10 % faster per frame, else 1."""
    import sys

    import numpy as np

    height, width = model.card.frame_size or (64, 64)
    frame = np.zeros((height, width, 3), np.uint8)
    model.predict(frame)
    gain = batching_gain(model.predict, frame, settings.max_batch) if settings.max_batch > 1 else 1.0
    size = settings.max_batch if gain >= BATCH_GAIN_NEEDED else 1
    print(f"segnet serve: {model.backend}, {size} frame(s) per forward pass (batches of {settings.max_batch}: "
          f"{gain:.2f}x the single-frame speed)", file=sys.stderr, flush=True)
    return size


def _token_check(token: str | None):
    """The dependency of every /v1/ route: nothing without a token; with one, FastAPI's HTTPBearer
    reads the header (and puts the bearer scheme into /openapi.json for client generators)."""
    if token is None:
        return lambda: None
    expected = token.encode()
    bearer = HTTPBearer(auto_error=False, description="the token segnet serve was started with (--token)")

    def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        # compare_digest: the time taken does not tell how much of a guess was right
        if credentials is None or not hmac.compare_digest(credentials.credentials.strip().encode(), expected):
            raise ApiError(401, "missing or wrong token: send 'Authorization: Bearer <token>'",
                           {"WWW-Authenticate": "Bearer"})

    return check


def _add_page(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}


def _add_image_routes(app, authorized, model, settings: ServiceSettings, batcher: MicroBatcher,
                      folder: UploadFolder, max_batch: int) -> None:
    info = {**model_info(model), "frames_per_forward_pass": max_batch}

    @app.get("/v1/model", dependencies=authorized)
    async def describe_model() -> dict:
        return info

    @app.post("/v1/segment", dependencies=authorized, openapi_extra=_upload_schema("image"),
              responses={200: {"description": "the label map (png), the overlay (overlay) or a summary (json)",
                               "content": {"image/png": {}, "application/json": {}}}})
    async def segment(request: Request, format: str = "png", legend: bool = False, opacity: float = 0.5) -> Response:
        if format not in FORMATS:
            raise ApiError(400, f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        if not 0 <= opacity <= 1:
            raise ApiError(400, f"opacity must be in [0, 1], got {opacity:g}")
        batcher.refuse_if_full()  # before reading the body: a full queue costs the client no upload
        frame = await _receive_image(request, folder, settings)
        ids = await batcher.predict(frame)
        body, media_type = await run_in_threadpool(render, model, frame, ids, format, legend, opacity)
        return JSONResponse(body) if media_type == "application/json" else Response(body, media_type=media_type)


def _upload_schema(field: str) -> dict:
    """The request body receive_file reads, for /openapi.json (the route reads the body itself)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    form = {"type": "object", "required": [field], "properties": {field: {"type": "string", "format": "binary"}}}
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": form}, f"{field}/*": binary, "application/octet-stream": binary}}}


async def _receive_image(request: Request, folder: UploadFolder, settings: ServiceSettings):
    upload = await _receive(request, "image", folder, settings)
    try:
        return await run_in_threadpool(decode_image, upload, settings.max_pixels)
    finally:
        upload.unlink(missing_ok=True)


async def _receive(request: Request, field: str, folder: UploadFolder, settings: ServiceSettings) -> Path:
    try:
        return await receive_file(request, field, folder, settings.max_upload_bytes)
    except ClientDisconnect:  # nobody is left to answer; the partial file is already gone
        raise ApiError(400, "client disconnected during the upload") from None


def _add_video_routes(app, authorized, settings: ServiceSettings, videos: VideoJobs, folder: UploadFolder) -> None:
    @app.post("/v1/videos", dependencies=authorized, status_code=202, openapi_extra=_upload_schema("video"))
    async def submit_video(request: Request) -> JSONResponse:
        upload = await _receive(request, "video", folder, settings)
        try:
            job = await run_in_threadpool(videos.submit, upload)
        finally:
            upload.unlink(missing_ok=True)
        return JSONResponse(job.describe(settings.video_keep_s), status_code=202,
                            headers={"Location": f"/v1/videos/{job.id}"})

    @app.get("/v1/videos/{job_id}", dependencies=authorized)
    async def video_state(job_id: str) -> dict:
        return videos.get(job_id).describe(settings.video_keep_s)

    @app.get("/v1/videos/{job_id}/result", dependencies=authorized)
    async def video_result(job_id: str) -> FileResponse:
        return FileResponse(videos.result_file(job_id, "overlay.webm"), media_type="video/webm")

    @app.get("/v1/videos/{job_id}/labels.zip", dependencies=authorized)
    async def video_labels(job_id: str) -> FileResponse:
        return FileResponse(videos.result_file(job_id, "labels.zip"), media_type="application/zip",
                            filename=f"{job_id}_labels.zip")
