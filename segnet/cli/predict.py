"""``segnet predict [--checkpoint PATH] INPUT... --out DIR``: label, colour and overlay images; overlay videos."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segnet.cli.options import add_model_options, add_output_options, load_model, output_options


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="segment images, folders, globs, videos, cameras and streams",
        description="Per image: <name>_labels.png (class ids), <name>_color.png (dataset palette), "
        "<name>_overlay.png. Per video, camera or stream: <name>_overlay.webm (browsers play it) at the "
        "input's fps and size, with a legend. Inputs from several folders keep their folders under --out. "
        "Files: nothing is written unless every input succeeds. Cameras and streams: Ctrl-C (or q in the "
        "--show window) stops and keeps what was segmented.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image (png/jpg/bmp/tif/webp/gif), video (mp4/avi/mov/mkv/webm), "
                        "folder (with its subfolders), quoted glob, "
                        "camera (0, /dev/video0) or stream URL (rtsp://, http://, https://)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_output_options(parser)
    parser.add_argument("--save-frames", action="store_true",
                        help="videos and streams: <name>_frames/NNNNNN_labels.png and _color.png per frame")
    parser.add_argument("--max-frames", type=int, default=None, help="videos and streams: stop after N frames")
    parser.add_argument("--show", action="store_true", help="show overlays in a window as they are made")
    add_model_options(parser)
    parser.set_defaults(func=run)


def print_summary(summary: dict, out: Path) -> None:
    """One line per folder of images and per video (the only progress report when stderr is not a terminal)."""
    if summary["images"]:
        print(f"{summary['images']} image(s) in {summary['seconds']:.1f} s "
              f"({summary['images_per_second']:.2f} images/s) "
              f"-> {out}/<name>_labels.png, _color.png, _overlay.png")
    for video in summary["videos"]:
        stop = f", stopped by {video['stopped']}" if video["stopped"] else ""
        frames = f" + {out}/{video['frames_dir']}/" if video["frames_dir"] else ""
        passed = video["source_frames"] - video["frames"]
        skipped = f" (live: {passed} frames passed while the model ran)" if passed else ""
        print(f"{video['input']}: {video['frames']} frames at {video['frames_per_second']:.2f} frames/s{skipped}{stop} "
              f"-> {out}/{video['output']} ({video['codec']}, {video['fps']:g} fps){frames}")
    if any(not v["browser_playable"] for v in summary["videos"]):
        print("note: this OpenCV has no encoder browsers play (VP8/VP9/H.264): videos are "
              f"{summary['videos'][0]['codec']}, for desktop players", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    import segnet

    options = output_options(args, save_frames=args.save_frames, max_frames=args.max_frames, show=args.show)
    model = load_model(args)
    # stdout: stderr is for the one error line a failure prints
    print(f"model: {model.describe()}", flush=True)
    summary = segnet.predict_files(model, args.inputs, args.out, options, progress=sys.stderr.isatty())
    print_summary(summary, args.out)
    return 0
