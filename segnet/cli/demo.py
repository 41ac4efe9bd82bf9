"""``segnet demo``: the bundled model on CamVid's Seq05VD test sequence, as a video.

1. The 171 frames ``test/Seq05VD_*.png`` (one per second of driving, in time order) are
   assembled into ``Seq05VD.mkv`` at 5 frames/s (a 34 s clip: at 1 frame per second of real
   time, faster playback makes cars jump between frames). The clip is lossless (FFV1) when
   this OpenCV can write it, so the IoU below is exactly that of the PNG frames; otherwise
   MPEG-4 ``.mp4`` (the IoU is then on compressed frames).
2. ``segnet predict`` runs on that video: ``Seq05VD_overlay.webm`` with a legend (+ frames/s).
3. Its predictions are scored against ``testannot/``: per-class IoU table, plus
   metrics.json, per_class_iou.csv and confusion_matrix.png.
Everything lands in --out at once when all steps succeeded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segnet.cli.options import add_model_options, add_output_options, flags_named, load_model, output_options
from segnet.core.defaults import DEMO_FPS, DEMO_SEQUENCE


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help=f"bundled model on the CamVid {DEMO_SEQUENCE} test sequence: overlay video + per-class IoU",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("outputs") / "demo",
                        help="output folder (default outputs/demo)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="CamVid folder (default: $SEGNET_DATA_ROOT or data/CamVid)")
    parser.add_argument("--fps", type=float, default=DEMO_FPS,
                        help=f"frame rate of the assembled clip (default {DEMO_FPS:g})")
    add_output_options(parser)
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import segnet

    options = output_options(args)
    model = load_model(args)
    print(f"model: {model.describe()}", flush=True)
    with flags_named():
        demo = segnet.demo(model, args.data_root, args.out, fps=args.fps, options=options, progress=sys.stderr.isatty())
    result = demo.evaluation
    print(f"assembled {result.num_images} frames of {DEMO_SEQUENCE} into {demo.clip.name} "
          f"({demo.codec}, {demo.fps:g} fps)")
    print(f"{demo.frames} frames segmented at {demo.frames_per_second:.2f} frames/s "
          f"({demo.precision}, {demo.threads} threads) -> {demo.overlay}")
    lossy = "" if demo.codec == "FFV1" else f" (frames decoded from the {demo.codec} clip, not the PNGs)"
    print(f"per-class IoU on the {result.num_images} {DEMO_SEQUENCE} frames against testannot{lossy}:")
    print(result.table())
    print(f"wrote {args.out}/{demo.clip.name}, {demo.overlay.name}, metrics.json, per_class_iou.csv, "
          "confusion_matrix.png")
    return 0
