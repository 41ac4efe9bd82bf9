"""The ``segnet`` command: one sub-command module per job, errors as one line."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Each module defines add_parser(subparsers); its parser sets ``func(args) -> int``.
_COMMANDS = ["data", "train", "evaluate", "predict", "export", "demo", "bench", "serve"]


def build_parser() -> argparse.ArgumentParser:
    from segnet import __version__

    parser = argparse.ArgumentParser(
        prog="segnet", description="Semantic segmentation with densely connected networks."
    )
    parser.add_argument("--version", action="version", version=f"segnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMANDS:
        importlib.import_module(f"segnet.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Errors are ours to report, as one line: silence OpenCV's and FFmpeg's own stderr logging
    # (OpenCV reads its level when imported, FFmpeg's at the first video: both still ahead here).
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    from segnet.core.choices import EXIT_INTERRUPTED, EXIT_USER_ERROR
    from segnet.errors import SegnetError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SegnetError as exc:
        print(f"segnet: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("segnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        if os.environ.get("SEGNET_DEBUG"):
            raise
        target = exc.filename or ""
        print(f"segnet: error: {exc.strerror or exc}: {target}".rstrip(": "), file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
