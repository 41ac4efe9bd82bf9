"""``segnet predict [--checkpoint PATH] INPUT... --out DIR``: label, colour and overlay images; overlay videos."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path


def add_model_options(parser: argparse.ArgumentParser, batch_size: int = 1) -> None:
    """Options shared by predict, evaluate and demo."""
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint (.pt); default: the CamVid model bundled with segnet")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"frames per forward pass (default {batch_size})")
    parser.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda, cuda:N")
    parser.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"],
                        help="auto: bf16 on CUDA and AMX CPUs, else float32; off: float32")
    parser.add_argument("--tta", default="none", choices=["none", "flip"], help="flip: average with the mirrored frame")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "openvino", "onnxruntime"],
                        help="runtime: auto = on a CPU, OpenVINO (a .pt is converted once and cached in "
                        "~/.cache/segnet), on CUDA torch; torch; openvino; onnxruntime (an exported .onnx)")
    parser.add_argument("--rescale", default="auto", choices=["auto", "frame", "factor"],
                        help="how frames are resized for the network: frame = as many pixels as a training "
                        "frame, aspect ratio kept (any camera's street at the scale the network learnt); "
                        "factor = the training resize factor (crops, fixed pixel size); auto = frame when "
                        "the checkpoint records its training frame size, else factor")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Overlay options shared by predict and demo."""
    parser.add_argument("--opacity", type=float, default=0.5, help="colour weight in overlays (0..1, default 0.5)")
    parser.add_argument("--side-by-side", action="store_true", help="videos: input | overlay in one frame")
    parser.add_argument("--legend", action=argparse.BooleanOptionalAction, default=None,
                        help="class names on their colours (default: on for videos and streams, off for images)")


def output_options(args: argparse.Namespace, **more):
    """segnet.OutputOptions from the flags, checked before any work (errors name the flag)."""
    import segnet

    with flags_named():
        return segnet.OutputOptions(opacity=args.opacity, with_input=args.side_by_side, legend=args.legend,
                                    batch_size=args.batch_size, **more)


def load_model(args: argparse.Namespace):
    """segnet.load_model with the model flags (the network is built on first use)."""
    import segnet

    return segnet.load_model(args.checkpoint, device=args.device, amp=args.amp, tta=args.tta, backend=args.backend,
                             rescale=args.rescale)


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
                        help="image (png/jpg/jpeg/bmp), video (mp4/avi/mov/mkv/webm), folder, quoted glob, "
                        "camera (0, /dev/video0) or stream URL (rtsp://, http://, https://)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_output_options(parser)
    parser.add_argument("--save-frames", action="store_true",
                        help="videos and streams: <name>_frames/NNNNNN_labels.png and _color.png per frame")
    parser.add_argument("--max-frames", type=int, default=None, help="videos and streams: stop after N frames")
    parser.add_argument("--show", action="store_true", help="show overlays in a window as they are made")
    add_model_options(parser)
    parser.set_defaults(func=run)


# The library names its parameters ("opacity must be ..."); on the command line, name the flag.
_FLAGS = {"opacity": "--opacity", "batch size": "--batch-size", "batch_size": "--batch-size",
          "max frames": "--max-frames", "fps": "--fps", "calibration_frames": "--calibration-frames"}


@contextlib.contextmanager
def flags_named() -> Iterator[None]:
    """Re-raise a library error about a parameter's value with the flag that set it in front."""
    from segnet.errors import SegnetError

    try:
        yield
    except SegnetError as exc:
        text = str(exc)
        flag = "--show" if text.startswith("cannot show") else next(
            (f for value, f in _FLAGS.items() if text.startswith(f"{value} must ")), None)
        if flag is None:
            raise
        raise SegnetError(f"{flag}: {text}") from None


def print_summary(summary: dict, out: Path) -> None:
    """One line per folder of images and per video (the only progress report when stderr is not a terminal)."""
    if summary["images"]:
        print(f"{summary['images']} image(s) in {summary['seconds']:.1f} s ({summary['images_per_second']:.2f} images/s) "
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
