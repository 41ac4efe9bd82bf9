"""Turn a training checkpoint into the model bundled with segnet.

    python tools/bundle_model.py runs/<name>/best.pt --out segnet/assets/camvid_bundled.pt \\
        --test-miou 0.655 --command "segnet train --config configs/<recipe>.yaml"

Drops optimizer/scheduler/scaler/rng/config, stores float16 weights and a ``meta`` with the
architecture, classes, palette, training command and test mIoU; refuses a result over
10 MB; writes atomically (temporary file + rename). --test-miou accepts 0.655 or 65.5.
--frame-size H W records the training frame size (at input_scale) of a checkpoint saved before
segnet stored it, so that frames of other cameras reach the network at the scale it learnt
(segnet.inference.preprocess.network_scale); CamVid at input_scale 0.5 is 180 240.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segnet.core.paths import SHIPPED_MODEL
from segnet.deploy.bundle import MAX_BUNDLE_BYTES, write_bundle
from segnet.errors import SegnetError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="training checkpoint, e.g. runs/<name>/best.pt")
    parser.add_argument("--out", type=Path, default=SHIPPED_MODEL, help=f"default {SHIPPED_MODEL}")
    parser.add_argument("--test-miou", type=float, default=None, help="test mIoU of this checkpoint (fraction or %%)")
    parser.add_argument("--command", default=None, help="the training command that produced it")
    parser.add_argument("--frame-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="training frame size at input_scale, for checkpoints saved without it")
    parser.add_argument("--max-mb", type=float, default=MAX_BUNDLE_BYTES / 2**20, help="size limit in MiB (default 10)")
    args = parser.parse_args(argv)
    try:
        out = write_bundle(args.checkpoint, args.out, args.test_miou, args.command, int(args.max_mb * 2**20),
                           args.frame_size)
    except SegnetError as exc:
        print(f"bundle_model: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
