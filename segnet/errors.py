"""The one exception type for mistakes a user can make (bad files, bad values).

The CLI prints it as a single line and exits non-zero; anything else is a bug and keeps
its traceback.
"""


class SegnetError(Exception):
    """A user-facing error; the message names the offending file or value."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The informative line of a library's exception: its last non-empty line (OpenVINO, ONNX and
    PyTorch put a C++ stack before it), cut to ``limit`` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:limit]
