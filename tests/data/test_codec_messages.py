"""What the codec libraries print to file descriptor 2 (libpng's "Read Error", libjpeg's warnings)
never reaches the user's terminal: a file that fails is one SegnetError line naming the cause, and
threads decoding at once (the service's thread pool) leave stderr where it was."""

import os
import threading

import cv2
import numpy as np
import pytest

from segnet.data.images import read_image
from segnet.errors import SegnetError


def noise(path, size=(360, 480)):
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8))
    return path


def truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_half_png_is_one_line_and_libpng_stays_quiet(tmp_path, capfd):
    bad = truncated(noise(tmp_path / "half.png"))
    with pytest.raises(SegnetError) as err:
        read_image(bad)
    message = str(err.value)
    assert "half.png" in message and "truncated" in message and "\n" not in message
    assert capfd.readouterr().err == ""  # libpng's own line went into the message, not to the terminal


def test_a_damaged_jpeg_names_libjpegs_warning(tmp_path, capfd):
    bad = truncated(noise(tmp_path / "half.jpg"))
    with pytest.raises(SegnetError, match=r"half.jpg: corrupt or truncated JPEG \(.+\)"):
        read_image(bad)
    assert capfd.readouterr().err == ""


def test_threads_decoding_at_once_leave_stderr_in_place(tmp_path, capfd):
    files = [truncated(noise(tmp_path / f"bad{i}{ext}", (120, 160))) for i in range(4) for ext in (".png", ".jpg")]
    files += [noise(tmp_path / f"good{i}.png", (120, 160)) for i in range(4)]
    before = os.fstat(2)
    failures = []

    def work():
        for _ in range(10):
            for path in files:
                try:
                    read_image(path)
                except SegnetError:
                    failures.append(path.name)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
    assert len(failures) == 8 * 10 * 8 and not any(name.startswith("good") for name in failures)
    os.write(2, b"still the terminal\n")
    assert capfd.readouterr().err == "still the terminal\n"
