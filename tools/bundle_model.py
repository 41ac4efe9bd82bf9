"""Turn a training checkpoint into the model bundled with segnet.

    python tools/bundle_model.py runs/<name>/best.pt --out segnet/assets/camvid_bundled.pt \\
        --test-miou 0.655 --command "segnet train --config configs/<recipe>.yaml"

Drops optimizer/scheduler/scaler/rng/config, stores float16 weights and a ``meta`` with the
architecture, classes, palette, training command and test mIoU; refuses a result over
10 MB; writes atomically (temporary file + rename). --test-miou accepts 0.655 or 65.5.
--frame-size H W records the training frame size (at input_scale) of a checkpoint saved before
segnet stored it, so that frames of other cameras reach the network at the scale it learnt
(segnet.inference.predictor.network_scale); CamVid at input_scale 0.5 is 180 240.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segnet.inference.bundled import BUNDLED_PATH, MAX_BUNDLE_BYTES, make_bundle
from segnet.core.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from segnet.errors import SegnetError


def bundle(source: Path, out: Path, test_miou: float | None, command: str | None,
           max_bytes: int = MAX_BUNDLE_BYTES, frame_size: list[int] | None = None) -> Path:
    ckpt = load_checkpoint(source)
    if frame_size is not None:
        recorded = ckpt.get("frame_size")
        if recorded is not None and list(recorded) != list(frame_size):
            raise SegnetError(f"{source} records frame_size {list(recorded)}, not {list(frame_size)}")
        ckpt = {**ckpt, "frame_size": list(frame_size)}
    if test_miou is not None and test_miou > 1.0:
        test_miou /= 100.0
    slim = make_bundle(ckpt, test_miou=test_miou, command=command, source=str(source))
    model_from_checkpoint(slim, str(source))  # the bundle must load strictly before it is written
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.check")
    try:
        save_checkpoint(tmp, slim)
        size = tmp.stat().st_size
        if size > max_bytes:
            raise SegnetError(
                f"bundle of {ckpt['model_name']} would be {size / 2**20:.1f} MiB, over the "
                f"{max_bytes / 2**20:.0f} MiB limit: bundle a smaller model (fc_densenet56/67)"
            )
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="training checkpoint, e.g. runs/<name>/best.pt")
    parser.add_argument("--out", type=Path, default=BUNDLED_PATH, help=f"default {BUNDLED_PATH}")
    parser.add_argument("--test-miou", type=float, default=None, help="test mIoU of this checkpoint (fraction or %%)")
    parser.add_argument("--command", default=None, help="the training command that produced it")
    parser.add_argument("--frame-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="training frame size at input_scale, for checkpoints saved without it")
    parser.add_argument("--max-mb", type=float, default=MAX_BUNDLE_BYTES / 2**20, help="size limit in MiB (default 10)")
    args = parser.parse_args(argv)
    try:
        out = bundle(args.checkpoint, args.out, args.test_miou, args.command, int(args.max_mb * 2**20), args.frame_size)
    except SegnetError as exc:
        print(f"bundle_model: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
