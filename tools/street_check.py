"""Would the model still read a street that does not look like CamVid? (segnet.bench.street)

Scores a model on CamVid frames changed as other footage differs (blue sky, sun, dusk, blur, other
cameras, JPEG, night noise) against the unchanged labels: mIoU, Sky recall and Sky read as Building.

    python tools/street_check.py [--checkpoint PATH] [--frames 40] [--split val] [--rescale factor] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import segnet
from segnet.bench.street import format_table, street_check
from segnet.core.choices import RESCALE
from segnet.core.paths import default_data_root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--data-root", type=Path, default=None, help="CamVid (default: segnet's data root)")
    parser.add_argument("--frames", type=int, default=40, help="frames, spread over the split")
    parser.add_argument("--json", help="write the table as JSON here")
    parser.add_argument("--overlays", help="write overlays (with legend) of the first two frames of each change here")
    parser.add_argument("--split", default="test", choices=["test", "val"],
                        help="val: to choose between models (the test split stays for reporting)")
    parser.add_argument("--rescale", default="auto", choices=RESCALE,
                        help="how frames are resized for the network (segnet predict --rescale)")
    args = parser.parse_args()
    model = segnet.load_model(args.checkpoint, rescale=args.rescale)
    results = street_check(model, args.data_root or default_data_root(), args.frames, split=args.split,
                           overlays=Path(args.overlays) if args.overlays else None)
    print(f"# {model.describe()}; {args.frames} CamVid {args.split} frames, "
          "each change scored against the original labels")
    print("\n".join(format_table(results)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
