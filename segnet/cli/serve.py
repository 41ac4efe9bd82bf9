"""``segnet serve [--checkpoint PATH] [--host 127.0.0.1] [--port 8000] [--token TOKEN]``: the model
as an HTTP service with a web page (segnet.service; the endpoints are in the README)."""

from __future__ import annotations

import argparse
import os
import sys

from segnet.cli.options import add_model_options, load_model


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="HTTP service and web page: segment uploaded images, videos and camera frames",
        description="Serves GET / (the page), GET /healthz, GET /v1/model, POST /v1/segment, POST /v1/videos. "
        "Binds 127.0.0.1 unless --host says otherwise; a host other machines can reach needs --token. "
        "SIGTERM or Ctrl-C: stops accepting, finishes the requests in flight, exits 0.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--token", default=os.environ.get("SEGNET_TOKEN"),
                        help="clients send 'Authorization: Bearer TOKEN' (default: $SEGNET_TOKEN; none: no check)")
    parser.add_argument("--no-auth", action="store_true",
                        help="serve a non-loopback --host without a token (anyone who reaches it can use it)")
    parser.add_argument("--max-upload-mb", type=float, default=25.0, help="largest upload in MiB (default 25)")
    parser.add_argument("--max-pixels", type=int, default=40_000_000,
                        help="largest image, width x height (default 40M)")
    parser.add_argument("--max-queue", type=int, default=32,
                        help="frames waiting for the model before 503 (default 32)")
    parser.add_argument("--batch-window-ms", type=float, default=3.0,
                        help="how long to gather concurrent frames into one forward pass (default 3 ms; 0: no wait)")
    parser.add_argument("--video-keep-s", type=float, default=600.0,
                        help="finished video jobs are removed after this (default 600 s)")
    parser.add_argument("--max-videos-running", type=int, default=1, help="video jobs segmented at once (default 1)")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="allow browser pages from ORIGIN to call the API (repeatable; default: CORS off)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    add_model_options(parser, batch_size=4)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from segnet.errors import SegnetError
    from segnet.service import ServiceSettings, serve
    from segnet.service.settings import check_exposure

    if not 0 < args.port < 65536:
        raise SegnetError(f"--port must be 1..65535, got {args.port}")
    settings = ServiceSettings(token=args.token, max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels,
                               max_queue=args.max_queue, batch_window_ms=args.batch_window_ms,
                               max_batch=args.batch_size, video_keep_s=args.video_keep_s,
                               max_videos_running=args.max_videos_running, cors_origins=tuple(args.cors_origin))
    check_exposure(args.host, settings.token, args.no_auth)  # refuse before the model loads
    model = load_model(args)
    print(f"segnet serve: {model.describe()}", file=sys.stderr, flush=True)
    serve(host=args.host, port=args.port, no_auth=args.no_auth, model=model, log_level=args.log_level,
          **asdict(settings))
    return 0
