"""captured_stderr: file descriptor 2 swapped under one process-wide lock."""

from __future__ import annotations

import os
import threading

from segnet.core.stderr import captured_stderr


def test_what_c_code_writes_to_fd2_is_captured_and_fd2_restored():
    before = os.fstat(2)
    with captured_stderr() as captured:
        os.write(2, b"libpng error: Read Error\n")
    assert captured.text == "libpng error: Read Error\n"
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


def test_threads_swapping_at_once_each_get_their_own_text_and_stderr_survives():
    """A decode in the service's thread pool and a video writer opening in a job thread swap fd 2
    at the same time: each must capture its own text, and fd 2 must point where it did before."""
    before = os.fstat(2)
    wrong = []

    def swap(worker: int) -> None:
        for round_ in range(40):
            token = f"worker {worker} round {round_}\n"
            with captured_stderr() as captured:
                os.write(2, token.encode())
            if captured.text != token:
                wrong.append((token, captured.text))

    threads = [threading.Thread(target=swap, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


def test_an_exception_inside_still_restores_fd2():
    before = os.fstat(2)
    try:
        with captured_stderr():
            raise ValueError("decoder crashed")
    except ValueError:
        pass
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
