"""``segnet train --config configs/<recipe>.yaml [key=value ...]`` / ``segnet train --resume RUN_DIR``."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a network on CamVid (paper recipe: crops, then full-frame fine-tuning)",
        description="Train from a recipe in configs/, with OmegaConf dotted overrides (train.epochs=10 "
        "data.scale=0.5 ...). Multi-GPU: torchrun --nproc_per_node N -m segnet train ...",
    )
    parser.add_argument("--config", help="recipe file, e.g. configs/fc_densenet103.yaml")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    parser.set_defaults(func=run)


def run(args) -> int:
    from segnet.errors import SegnetError

    if bool(args.config) == bool(args.resume):
        raise SegnetError("give exactly one of --config FILE or --resume RUN_DIR")
    from segnet.training.train import resume, train

    _stop_on_signals()
    command = "segnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run_dir = None
    try:
        if args.resume:
            run_dir = args.resume
            summary = resume(args.resume, args.overrides, command=command)
        else:
            from segnet.config import load_config

            cfg = load_config(args.config, args.overrides)
            summary = train(cfg, command=command)
    except KeyboardInterrupt:
        from segnet.training import distributed

        if distributed.current_rank() == 0:
            where = run_dir or _last_run_dir()
            resumable = where and (Path(where) / "last.pt").is_file()
            hint = f"; resumable state in {where}/last.pt (segnet train --resume {where})" if resumable else ""
            print(f"segnet: interrupted{hint}", file=sys.stderr)
        return 130
    from segnet.training.distributed import current_rank

    if current_rank() != 0:
        return 0
    if summary.get("stopped") == "already finished":
        print(f"{summary['run_dir']}: run already finished; best model {summary['best']}")
        return 0
    best = summary.get("best_miou")
    best_txt = f"{best:.4f}" if isinstance(best, float) and best > float("-inf") else "n/a"
    print(f"done ({summary['stopped']}): best val mIoU {best_txt}; model {summary['best']}")
    return 0


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both end training through KeyboardInterrupt, which saves a resumable
    last.pt. Installed explicitly: a shell starts background jobs with SIGINT ignored, and
    schedulers stop jobs with SIGTERM."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def _last_run_dir():
    from segnet.training.trainer import LAST_RUN_DIR

    return LAST_RUN_DIR[0] if LAST_RUN_DIR else None
