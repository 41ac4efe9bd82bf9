"""Library logs while segnet converts a model: silent unless asked for.

Converting a checkpoint to OpenVINO (and NNCF's INT8 quantization) makes NNCF log every node it
leaves unquantized (~200 ``INFO:nncf:`` lines), torch's cpp_extension warn that there is no CUDA
runtime, and the exporters warn about their own internals: nothing a user can act on, and it
buries the one line segnet prints about the conversion. ``--verbose`` (SEGNET_VERBOSE=1) keeps them.
NNCF's progress bar stays on a terminal (it shows the slow part moving) and is left out of a log file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator

VERBOSE_ENV = "SEGNET_VERBOSE"
_LOGGERS = ("nncf", "openvino", "torch.utils.cpp_extension", "torch.onnx", "torch.export", "torch._dynamo",
            "onnxscript")


def verbose() -> bool:
    """Whether library logs are wanted (``--verbose`` sets SEGNET_VERBOSE=1)."""
    return os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0")


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Library loggers at ERROR and Python warnings off inside the block (unless ``verbose()``);
    their levels are restored after it."""
    if verbose():
        yield
        return
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.suppress(ImportError):
            import nncf  # noqa: F401  (its import sets its logger to INFO: import it before lowering that)

            logging.getLogger("nncf").setLevel(logging.ERROR)
        with warnings.catch_warnings(), _progress_bars(sys.stdout.isatty()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _progress_bars(shown: bool) -> Iterator[None]:
    """rich's console (NNCF's progress bars) quiet inside the block unless ``shown``."""
    try:
        from rich import get_console
    except ImportError:
        yield
        return
    console = get_console()
    quiet = console.quiet
    console.quiet = quiet or not shown
    try:
        yield
    finally:
        console.quiet = quiet
