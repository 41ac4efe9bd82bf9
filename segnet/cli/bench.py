"""``segnet bench models|predict|loader|serve``: figures recorded in docs/RESULTS.md.

A bench's module (and torch with it) is imported only when that bench runs, so that ``segnet
--help`` and the other commands' argument errors answer at once."""

import argparse
import importlib

_BENCHES = {
    "models": "parameters, GFLOPs, training-step time and memory, eval frames/s per model",
    "predict": "inference frames/s at 360x480, float32 vs bfloat16",
    "loader": "CamVid train split through Dataset + DataLoader, frames/s",
    "serve": "segnet serve requests/s and p50/p95/p99 at 1, 4, 16 clients vs a Model.predict loop",
}


def add_parser(subparsers) -> None:
    listing = "\n".join(f"  {name:<8} {text}" for name, text in _BENCHES.items())
    parser = subparsers.add_parser("bench", help="speed and memory benchmarks",
                                   description="benches (segnet bench BENCH --help for each one's options):\n"
                                               f"{listing}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", choices=list(_BENCHES), metavar="BENCH", help=", ".join(_BENCHES))
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the bench's own options")
    parser.set_defaults(func=run)


def run(args) -> int:
    module = importlib.import_module(f"segnet.bench.{args.bench}")
    parser = argparse.ArgumentParser(prog=f"segnet bench {args.bench}", description=_BENCHES[args.bench])
    module.add_arguments(parser)
    return module.run(parser.parse_args(args.options))
