"""Flags several commands share (model, output), and library errors re-worded to name the flag."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from segnet.core.choices import AMP, BACKENDS, RESCALE, TTA


def add_model_options(parser: argparse.ArgumentParser, batch_size: int = 1) -> None:
    """Options shared by predict, evaluate and demo."""
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint (.pt); default: the CamVid model bundled with segnet")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help=f"frames per forward pass (default {batch_size})")
    parser.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda, cuda:N")
    parser.add_argument("--amp", default="auto", choices=AMP,
                        help="auto: bf16 on CUDA and AMX CPUs, else float32; off: float32")
    parser.add_argument("--tta", default="none", choices=TTA, help="flip: average with the mirrored frame")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="runtime: auto = on a CPU, OpenVINO (a .pt is converted once and cached in "
                        "the cache folder), on CUDA torch; torch; openvino; onnxruntime (an exported .onnx)")
    parser.add_argument("--rescale", default="auto", choices=RESCALE,
                        help="how frames are resized for the network: frame = as many pixels as a training "
                        "frame, aspect ratio kept (any camera's street at the scale the network learnt); "
                        "factor = the training resize factor (crops, fixed pixel size); auto = frame when "
                        "the checkpoint records its training frame size, else factor")
    parser.add_argument("--verbose", action="store_true",
                        help="show the libraries' own logs (NNCF, OpenVINO, torch) while a model is converted")


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
    from segnet.deploy.logs import VERBOSE_ENV

    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"  # read where the conversion runs (segnet.deploy), however deep
    return segnet.load_model(args.checkpoint, device=args.device, amp=args.amp, tta=args.tta, backend=args.backend,
                             rescale=args.rescale)


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
