"""``segnet predict [--checkpoint PATH] INPUT... --out DIR``: label, colour and overlay images; overlay videos."""

from __future__ import annotations

import argparse
import sys
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


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="segment images, folders, globs and videos",
        description="Per image: <stem>_labels.png (class ids), <stem>_color.png (CamVid palette), "
        "<stem>_overlay.png. Per video: <stem>_overlay.mp4 at the input's fps and size. Nothing is "
        "written unless every input succeeds.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image (png/jpg/jpeg/bmp), video (mp4/avi/mov/mkv), folder or quoted glob")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--opacity", type=float, default=0.5, help="colour weight in overlays (0..1, default 0.5)")
    parser.add_argument("--side-by-side", action="store_true", help="videos: input | overlay in one frame")
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from segnet.inference.bundled import describe, resolve_checkpoint
    from segnet.inference.predict import collect_inputs, run_predict
    from segnet.inference.predictor import Predictor

    inputs = collect_inputs(args.inputs)
    ckpt, source = resolve_checkpoint(args.checkpoint)
    predictor = Predictor(ckpt, source, device=args.device, amp=args.amp, tta=args.tta)
    # stdout: stderr is for the one error line a failure prints
    print(f"model: {describe(ckpt, source)}; {predictor.device}, {predictor.precision}", flush=True)
    summary = run_predict(predictor, inputs, args.out, opacity=args.opacity, with_input=args.side_by_side,
                          batch_size=args.batch_size, progress=sys.stderr.isatty())
    if summary["images"]:
        print(f"{summary['images']} image(s) -> {args.out}/<stem>_labels.png, _color.png, _overlay.png")
    for video in summary["videos"]:
        print(f"{video['input']}: {video['frames']} frames at {video['frames_per_second']:.2f} frames/s "
              f"-> {args.out}/{video['output']} ({video['codec']}, {video['fps']:g} fps)")
    return 0
