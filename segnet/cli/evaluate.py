"""``segnet evaluate [--checkpoint PATH] [--split test|val] [--report [--worst N]]``: per-class IoU, mIoU,
accuracies; with ``--report``, the self-contained report.html beside metrics.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segnet.cli.options import add_model_options, flags_named, load_model
from segnet.core.choices import BN_MODES, PROTOCOLS, SPLITS
from segnet.errors import SegnetError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="per-class IoU, mIoU and accuracies on a CamVid split",
        description="Prints the IoU table and writes metrics.json, per_class_iou.csv and "
        "confusion_matrix.png into --out (default: <checkpoint folder>/eval_<split>/); with --report, also "
        "report.html, one page that opens offline: per-class IoU, confusion matrix, per-frame mIoU, worst frames.",
    )
    parser.add_argument("--split", default="test", choices=[s for s in SPLITS if s != "train"],
                        help="split of the dataset (default test)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="CamVid folder (default: $SEGNET_DATA_ROOT or data/CamVid)")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--protocol", default="standard", choices=PROTOCOLS,
                        help="standard: BatchNorm running statistics (PyTorch eval mode); paper: as the model's "
                        "paper evaluated (FC-DenseNet: statistics of each test batch of 10 frames; "
                        "FC-Log-DenseNet: running statistics, 1 frame); both ignore void and sum IoU over the split")
    parser.add_argument("--bn", default=None, choices=BN_MODES,
                        help="standard protocol only: running (default) or batch statistics of each test batch")
    parser.add_argument("--report", action="store_true",
                        help="also write report.html (self-contained: per-class IoU chart and table, confusion "
                        "matrix, distribution of per-frame mIoU, the worst frames with their errors)")
    parser.add_argument("--worst", type=int, default=6, metavar="N",
                        help="with --report: how many of the lowest-mIoU frames it shows (default 6)")
    add_model_options(parser, batch_size=2)
    parser.set_defaults(func=run, batch_size=None)  # None: the protocol's (standard: 2)


def run(args: argparse.Namespace) -> int:
    import segnet

    if args.protocol == "paper" and (args.bn is not None or args.batch_size is not None):
        raise SegnetError("--protocol paper sets the BatchNorm mode and batch size itself; "
                          "leave out --bn and --batch-size")
    if args.worst < 0:
        raise SegnetError(f"--worst must be >= 0, got {args.worst}")
    model = load_model(args)
    out = args.out
    if out is None:
        out = (args.checkpoint.parent if args.checkpoint else Path("outputs") / "bundled") / f"eval_{args.split}"
    batch_size = 2 if args.batch_size is None else args.batch_size  # None: the protocol's; 0 is refused
    worst, report = ({"worst": args.worst}, {"report": True}) if args.report else ({}, {})  # else: no pictures kept
    with flags_named():
        result = segnet.evaluate(model, args.data_root, split=args.split, batch_size=batch_size,
                                 bn=args.bn or "running", protocol=args.protocol, progress=sys.stderr.isatty(), **worst)
    result.save(out, **report)
    print(result.describe())
    print(result.table())
    print(f"wrote {out}/metrics.json, per_class_iou.csv, confusion_matrix.png{', report.html' if args.report else ''}")
    return 0
