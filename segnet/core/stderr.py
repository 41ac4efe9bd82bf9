"""File descriptor 2 pointed at a temporary file for a moment, to keep what C libraries print there
(libjpeg's warnings, libpng's "Read Error", OpenCV's FFmpeg notes) out of the user's terminal.

File descriptor 2 belongs to the whole process, so every swap takes one lock: two overlapping
swaps (the service decodes uploads in a thread pool while a video job opens its writer) would
each restore what the other had saved, and could leave stderr pointing at a sink for good.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

_SWAP = threading.Lock()


class CapturedText:
    """What was written to file descriptor 2 inside ``captured_stderr``; ``text`` is set on exit."""

    text = ""


@contextlib.contextmanager
def captured_stderr() -> Iterator[CapturedText]:
    """Redirect file descriptor 2 into a temporary file; on exit restore it and fill ``text``."""
    captured = CapturedText()
    with _SWAP:
        sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # the process has no stderr: nothing to keep quiet
            yield captured
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield captured
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                captured.text = sink.read().decode(errors="replace")
