"""``segnet export [--checkpoint PATH] --format onnx --out FILE``: ONNX with dynamic batch/height/width."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX (dynamic batch, height, width)",
        description="Input 'image' [N,3,H,W] float32 (RGB in [0,1], normalised as the checkpoint says), output "
        "'logits' [N,C,H,W]; preprocessing, class names and palette are stored in the model's metadata.",
    )
    parser.add_argument("--checkpoint", type=Path, default=None, help="checkpoint (.pt); default: the bundled model")
    parser.add_argument("--format", default="onnx", choices=["onnx"], help="only onnx for now")
    parser.add_argument("--out", type=Path, required=True, help="file to write, e.g. model.onnx")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from segnet.inference.bundled import resolve_checkpoint
    from segnet.inference.export import export_onnx

    ckpt, source = resolve_checkpoint(args.checkpoint)
    path = export_onnx(ckpt, args.out, source=source)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {ckpt['model_name']}, dynamic batch/height/width")
    return 0
