"""``segnet evaluate [--checkpoint PATH] [--split test|val]``: per-class IoU, mIoU, accuracies."""

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
        "confusion_matrix.png into --out (default: <checkpoint folder>/eval_<split>/).",
    )
    parser.add_argument("--split", default="test", choices=[s for s in SPLITS if s != "train"],
                        help="split of the dataset (default test)")
    parser.add_argument("--data-root", type=Path, default=None, help="CamVid folder (default: $SEGNET_DATA_ROOT or data/CamVid)")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--protocol", default="standard", choices=PROTOCOLS,
                        help="standard: BatchNorm running statistics (PyTorch eval mode); paper: as the model's "
                        "paper evaluated (FC-DenseNet: statistics of each test batch of 10 frames; "
                        "FC-Log-DenseNet: running statistics, 1 frame); both ignore void and sum IoU over the split")
    parser.add_argument("--bn", default=None, choices=BN_MODES,
                        help="standard protocol only: running (default) or batch statistics of each test batch")
    add_model_options(parser, batch_size=2)
    parser.set_defaults(func=run, batch_size=None)  # None: the protocol's (standard: 2)


def run(args: argparse.Namespace) -> int:
    import segnet

    if args.protocol == "paper" and (args.bn is not None or args.batch_size is not None):
        raise SegnetError("--protocol paper sets the BatchNorm mode and batch size itself; leave out --bn and --batch-size")
    model = load_model(args)
    out = args.out
    if out is None:
        out = (args.checkpoint.parent if args.checkpoint else Path("outputs") / "bundled") / f"eval_{args.split}"
    batch_size = 2 if args.batch_size is None else args.batch_size  # None: the protocol's; 0 is refused
    with flags_named():
        result = segnet.evaluate(model, args.data_root, split=args.split, batch_size=batch_size,
                                 bn=args.bn or "running", protocol=args.protocol, progress=sys.stderr.isatty())
    result.save(out)
    print(result.describe())
    print(result.table())
    print(f"wrote {out}/metrics.json, per_class_iou.csv, confusion_matrix.png")
    return 0
