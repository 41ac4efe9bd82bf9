"""The one exception type for mistakes a user can make (bad files, bad values).

The CLI prints it as a single line and exits non-zero; anything else is a bug and keeps
its traceback.
"""


class SegnetError(Exception):
    """A user-facing error; the message names the offending file or value."""
