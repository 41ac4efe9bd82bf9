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

from segnet.cli.predict import add_model_options, add_output_options, output_options

SEQUENCE = "Seq05VD"
DEMO_FPS = 5.0
INPUT_CODECS = (("FFV1", ".mkv"), ("mp4v", ".mp4"), ("MJPG", ".avi"))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help=f"bundled model on the CamVid {SEQUENCE} test sequence: overlay video + per-class IoU",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("outputs") / "demo", help="output folder (default outputs/demo)")
    parser.add_argument("--data-root", type=Path, default=None, help="CamVid folder (default: $SEGNET_DATA_ROOT or data/CamVid)")
    parser.add_argument("--fps", type=float, default=DEMO_FPS, help=f"frame rate of the assembled clip (default {DEMO_FPS:g})")
    add_output_options(parser)
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from segnet.data.camvid import find_pairs, read_image, read_label
    from segnet.data.classes import CLASS_NAMES, NUM_CLASSES, VOID_ID
    from segnet.inference.bundled import describe, resolve_checkpoint
    from segnet.inference.evaluate import format_table, summarize, write_metrics_files
    from segnet.core.metrics import SegmentationMetrics
    from segnet.inference.predict import predict_video
    from segnet.inference.predictor import Predictor
    from segnet.inference.staging import Staging
    from segnet.inference.video import VideoWriter
    from segnet.errors import SegnetError
    from segnet.paths import default_data_root

    options = output_options(args)
    root = args.data_root or default_data_root()
    pairs = [p for p in find_pairs(root, "test") if p[0].name.startswith(f"{SEQUENCE}_")]
    if not pairs:
        raise SegnetError(f"no {SEQUENCE}_*.png frames in {Path(root) / 'test'}")
    if args.fps <= 0:
        raise SegnetError(f"--fps must be positive, got {args.fps}")
    ckpt, source = resolve_checkpoint(args.checkpoint)
    if int(ckpt.get("num_classes", NUM_CLASSES)) != NUM_CLASSES:
        raise SegnetError(f"{source}: model has {ckpt.get('num_classes')} classes, CamVid has {NUM_CLASSES}")
    predictor = Predictor(ckpt, source, device=args.device, amp=args.amp, tta=args.tta, backend=args.backend)
    progress = sys.stderr.isatty()
    print(f"model: {describe(ckpt, source)}; {predictor.device}, {predictor.precision}")

    labels = iter(read_label(label) for _, label in pairs)
    metrics = SegmentationMetrics(NUM_CLASSES, VOID_ID)

    def score(ids) -> None:
        for frame_ids in ids:
            target = next(labels)
            if target.shape != frame_ids.shape:
                raise SegnetError(f"label size {target.shape} differs from the video frame size {frame_ids.shape}")
            metrics.update(torch.from_numpy(frame_ids).long(), torch.from_numpy(target).long())

    with Staging(args.out) as stage:
        first = read_image(pairs[0][0])
        with VideoWriter(stage.path(SEQUENCE), args.fps, (first.shape[1], first.shape[0]), codecs=INPUT_CODECS) as clip:
            for image, _ in pairs:
                clip.write(read_image(image))
        print(f"assembled {len(pairs)} frames of {SEQUENCE} into {clip.path.name} ({clip.codec}, {args.fps:g} fps)")
        video = predict_video(predictor, clip.path, stage, options, on_frames=score, progress=progress)
        if video["frames"] != len(pairs):
            raise SegnetError(f"{clip.path.name}: read back {video['frames']} frames, wrote {len(pairs)}")
        result = {"checkpoint": source, "model_name": ckpt["model_name"], "split": f"test/{SEQUENCE}",
                  "num_images": len(pairs), **summarize(metrics, list(ckpt.get("class_names") or CLASS_NAMES)),
                  "settings": {"video": clip.path.name, "codec": clip.codec, "precision": predictor.precision,
                               "device": str(predictor.device), "tta": args.tta,
                               "frames_per_second": video["frames_per_second"]}}
        write_metrics_files(result, stage, title=f"{ckpt['model_name']} on CamVid {SEQUENCE} (mIoU {100 * result['miou']:.1f})")

    print(f"{video['frames']} frames segmented at {video['frames_per_second']:.2f} frames/s "
          f"({predictor.precision}, {torch.get_num_threads()} threads) -> {args.out}/{video['output']}")
    lossy = "" if clip.codec == "FFV1" else f" (frames decoded from the {clip.codec} clip, not the PNGs)"
    print(f"per-class IoU on the {len(pairs)} {SEQUENCE} frames against testannot{lossy}:")
    print(format_table(result))
    print(f"wrote {args.out}/{clip.path.name}, {video['output']}, metrics.json, per_class_iou.csv, confusion_matrix.png")
    return 0
