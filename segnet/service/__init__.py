"""``segnet serve``: the model as an HTTP service with a web page (segnet.service.app).

    import segnet
    from segnet.service import create_app, serve
    serve(host="127.0.0.1", port=8000)              # blocks; SIGTERM/Ctrl-C drain and stop
    app = create_app(segnet.load_model())           # an ASGI app for your own uvicorn/gunicorn
"""

from __future__ import annotations

from segnet.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app", "serve"]


def create_app(model=None, settings: ServiceSettings | None = None, **kwargs):
    """The ASGI application (segnet.service.app.create_app); with no arguments, the bundled model."""
    from segnet.service.app import create_app as build

    return build(model, settings, **kwargs)


def serve(checkpoint=None, host: str = "127.0.0.1", port: int = 8000, backend: str = "auto", no_auth: bool = False,
          model=None, log_level: str = "info", **settings) -> None:
    """Serve ``model`` (or ``checkpoint``'s, default the bundled one) until SIGTERM or Ctrl-C.

    A host other machines can reach needs ``token=...`` (or ``no_auth=True``, loudly warned);
    other keyword arguments are ``ServiceSettings`` fields (max_upload_mb, max_queue, ...).
    On SIGTERM the server stops accepting, finishes the requests in flight and returns.
    """
    import os
    import signal
    import sys
    import threading

    import uvicorn
    from PIL import Image

    from segnet.service.settings import check_exposure

    options = ServiceSettings(**settings)
    warning = check_exposure(host, options.token, no_auth)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    # The process is ours: the decoders' own limits (process-wide settings) drop to the service's, a
    # second line behind the header check in segnet.service.uploads.
    Image.MAX_IMAGE_PIXELS = options.max_pixels
    os.environ.setdefault("CV_IO_MAX_IMAGE_PIXELS", str(options.max_pixels))
    app = create_app(model, options, checkpoint=checkpoint, backend=backend)
    # uvicorn drains on SIGTERM, then raises the signal again for the handler that was there before
    # it started: a no-op one makes a drained service return normally (exit status 0).
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: None) if main_thread else None
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=60)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
