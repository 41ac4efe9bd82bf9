"""``segnet export [--checkpoint PATH] --format onnx|openvino [--int8] --out FILE``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parser(subparsers) -> None:
    from segnet.core.choices import EXPORT_FORMATS
    from segnet.core.defaults import CALIBRATION_FRAMES

    parser = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX or OpenVINO IR (float32 or INT8)",
        description="Input 'image' [N,3,H,W] float32 (RGB in [0,1], normalised as the checkpoint says), output "
        "'logits' [N,C,H,W]; preprocessing, class names and palette are stored in the model's metadata. "
        "segnet predict/evaluate/demo --checkpoint run the exported file.",
    )
    parser.add_argument("--checkpoint", type=Path, default=None, help="checkpoint (.pt); default: the bundled model")
    parser.add_argument("--format", default=None, choices=EXPORT_FORMATS,
                        help="onnx (dynamic batch/height/width) or openvino (IR: FILE.xml + FILE.bin); "
                             "default: from the --out suffix (.onnx, .xml)")
    parser.add_argument("--out", type=Path, required=True, help="file to write, e.g. model.onnx or model.xml")
    parser.add_argument("--int8", action="store_true",
                        help="openvino: NNCF post-training INT8 quantization, calibrated on TRAIN frames")
    parser.add_argument("--calibration-frames", type=int, default=CALIBRATION_FRAMES,
                        help=f"--int8: train frames to calibrate on (default {CALIBRATION_FRAMES})")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="--int8: the model's dataset (default: $SEGNET_DATA_ROOT or data/CamVid)")
    parser.add_argument("--verbose", action="store_true", help="show the converters' own logs (NNCF, OpenVINO, torch)")
    parser.set_defaults(func=run)


def calibrated_frames(path: Path, asked: int) -> int:
    """The frames an INT8 IR was calibrated on, as it records them (the split may hold fewer than
    ``asked``); ``asked`` for an IR that does not record them."""
    from segnet.checkpoints.exported import load_exported
    from segnet.errors import SegnetError

    try:
        return int(load_exported(path).get("meta", {}).get("calibration_frames", asked))
    except (SegnetError, TypeError, ValueError):
        return asked


def run(args: argparse.Namespace) -> int:
    import segnet
    from segnet.cli.options import flags_named
    from segnet.deploy.export import export_format
    from segnet.deploy.logs import VERBOSE_ENV

    args.format = export_format(args.out, args.format)
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"
    if args.int8 and args.format != "openvino":
        raise segnet.SegnetError("--int8 needs --format openvino")
    model = segnet.load_model(args.checkpoint)  # reads the checkpoint; export never runs the network
    with flags_named():
        path = segnet.export(model, args.out, format=args.format, int8=args.int8,
                             calibration_frames=args.calibration_frames, data_root=args.data_root)
    if args.format == "openvino":
        weights = path.with_suffix(".bin")
        size = path.stat().st_size + weights.stat().st_size
        frames = calibrated_frames(path, args.calibration_frames) if args.int8 else 0
        kind = f"INT8, calibrated on {frames} train frames" if args.int8 else "float32"
        print(f"wrote {path} + {weights.name} ({size / 1e6:.1f} MB): {model.name}, OpenVINO IR, {kind}")
        return 0
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {model.name}, dynamic batch/height/width")
    return 0
