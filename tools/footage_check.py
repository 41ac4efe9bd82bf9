"""Does the model read held-out footage's layout: road in the lane ahead, sky on top? (segnet.bench.footage)

For frames of a camera the model never saw (dashcam, highway), which come without labels: the
largest class in the lane region and in the upper band of each frame, and how many frames have
Road and Sky there.

    python tools/footage_check.py FRAME_OR_FOLDER... [--checkpoint PATH] [--overlays DIR] [--require 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import segnet
from segnet.bench.footage import LANE, UPPER, footage_check, format_table
from segnet.core.choices import EXIT_USER_ERROR, RESCALE
from segnet.data.images import IMAGE_SUFFIXES
from segnet.errors import SegnetError


def frames(inputs: list[str]) -> list[Path]:
    found = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            found.append(item)
        else:
            raise SegnetError(f"not found: {item}")
    if not found:
        raise SegnetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {' '.join(inputs)}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", help="images, or folders of images")
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--rescale", default="auto", choices=RESCALE, help="as segnet predict --rescale")
    parser.add_argument("--lane", type=float, nargs=4, default=LANE, metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        help="the lane region, fractions of the frame (default %(default)s)")
    parser.add_argument("--upper", type=float, nargs=2, default=UPPER[:2], metavar=("TOP", "BOTTOM"),
                        help="the upper band's rows, fractions of the height (default %(default)s)")
    parser.add_argument("--overlays", type=Path, default=None, help="write each frame's overlay with both regions here")
    parser.add_argument("--require", type=int, default=None, metavar="N", help="exit 1 unless at least N frames pass")
    args = parser.parse_args(argv)
    try:
        model = segnet.load_model(args.checkpoint, rescale=args.rescale)
        rows = footage_check(model, frames(args.inputs), tuple(args.lane), (*args.upper, 0.0, 1.0),
                             overlays=args.overlays)
    except SegnetError as exc:
        print(f"footage_check: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(f"# {model.describe()}")
    print("\n".join(format_table(rows)))
    passed = sum(r.ok for r in rows)
    return 1 if args.require is not None and passed < args.require else 0


if __name__ == "__main__":
    sys.exit(main())
