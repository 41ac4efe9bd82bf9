"""``segnet evaluate [--checkpoint PATH] [--split test|val]``: per-class IoU, mIoU, accuracies."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segnet.cli.predict import add_model_options
from segnet.errors import SegnetError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="per-class IoU, mIoU and accuracies on a CamVid split",
        description="Prints the IoU table and writes metrics.json, per_class_iou.csv and "
        "confusion_matrix.png into --out (default: <checkpoint folder>/eval_<split>/).",
    )
    parser.add_argument("--split", default="test", choices=["test", "val"], help="CamVid split (default test)")
    parser.add_argument("--data-root", type=Path, default=None, help="CamVid folder (default: $SEGNET_DATA_ROOT or data/CamVid)")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--protocol", default="standard", choices=["standard", "paper"],
                        help="standard: BatchNorm running statistics (PyTorch eval mode); paper: as the model's "
                        "paper evaluated (FC-DenseNet: statistics of each test batch of 10 frames; "
                        "FC-Log-DenseNet: running statistics, 1 frame); both ignore void and sum IoU over the split")
    parser.add_argument("--bn", default=None, choices=["running", "batch"],
                        help="standard protocol only: running (default) or batch statistics of each test batch")
    add_model_options(parser, batch_size=2)
    parser.set_defaults(func=run, batch_size=None)  # None: the protocol's (standard: 2)


def run(args: argparse.Namespace) -> int:
    from segnet.inference.bundled import resolve_checkpoint
    from segnet.inference.evaluate import dataset_name, evaluate, format_table, write_report
    from segnet.paths import default_data_root

    if args.protocol == "paper" and (args.bn is not None or args.batch_size is not None):
        raise SegnetError("--protocol paper sets the BatchNorm mode and batch size itself; leave out --bn and --batch-size")
    ckpt, source = resolve_checkpoint(args.checkpoint)
    out = args.out
    if out is None:
        out = (args.checkpoint.parent if args.checkpoint else Path("outputs") / "bundled") / f"eval_{args.split}"
    result = evaluate(ckpt, source, args.data_root or default_data_root(), split=args.split,
                      batch_size=args.batch_size or 2, device=args.device, amp=args.amp, tta=args.tta, backend=args.backend,
                      bn=args.bn or "running", protocol=args.protocol, progress=sys.stderr.isatty())
    write_report(result, out)
    s = result["settings"]
    print(f"{result['model_name']} on {dataset_name(result)} {result['split']} ({result['num_images']} images; {s['precision']}, "
          f"tta {s['tta']}, protocol {s['protocol']}: bn {s['bn']}, batch {s['batch_size']}, "
          f"input_scale {s['input_scale']:g})")
    print(format_table(result))
    print(f"wrote {out}/metrics.json, per_class_iou.csv, confusion_matrix.png")
    return 0
