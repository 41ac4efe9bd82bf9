"""MicroBatcher on its own: frames gathered into batches no larger than allowed, one pass per
frame size, each result to its own request, errors to the requests of their batch only, a full
queue refused with Retry-After, and close() finishing what was queued."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from segnet.service.batching import MicroBatcher, batching_gain
from segnet.service.errors import ApiError


class RecordingModel:
    """A predict_batch that answers each frame with its own first pixel and records batch sizes."""

    def __init__(self, seconds: float = 0.0, fail_on: int | None = None):
        self.batches, self.seconds, self.fail_on, self.gate = [], seconds, fail_on, threading.Event()
        self.gate.set()

    def __call__(self, frames, batch_size=1):
        self.gate.wait(10)
        self.batches.append([int(f[0, 0, 0]) for f in frames])
        time.sleep(self.seconds)
        if self.fail_on is not None and any(int(f[0, 0, 0]) == self.fail_on for f in frames):
            raise ValueError("this batch failed")
        return [np.full(f.shape[:2], f[0, 0, 0], np.uint8) for f in frames]


def frame(value: int, size=(4, 6)) -> np.ndarray:
    return np.full((*size, 3), value, np.uint8)


def test_concurrent_frames_share_passes_and_get_their_own_answers():
    model = RecordingModel()
    model.gate.clear()  # hold the worker until every frame is queued
    batcher = MicroBatcher(model, window_s=0.05, max_batch=3, max_pending=20)
    futures = [batcher.submit(frame(v, (4, 6) if v % 2 else (5, 5))) for v in range(1, 9)]
    model.gate.set()
    answers = [f.result(10) for f in futures]
    assert [int(a[0, 0]) for a in answers] == list(range(1, 9))
    assert all(len(b) <= 3 for b in model.batches) and len(model.batches) < 8
    assert sorted(v for b in model.batches for v in b) == list(range(1, 9))
    assert all(len({v % 2 for v in b}) == 1 for b in model.batches)  # one frame size per pass
    batcher.close()


def test_an_error_reaches_its_batch_only_and_the_worker_goes_on():
    batcher = MicroBatcher(RecordingModel(fail_on=7), window_s=0, max_batch=1)
    with pytest.raises(ValueError, match="this batch failed"):
        batcher.submit(frame(7)).result(10)
    assert int(batcher.submit(frame(8)).result(10)[0, 0]) == 8
    batcher.close()


def test_full_queue_is_refused_with_retry_after_and_close_drains():
    model = RecordingModel(seconds=0.05)
    model.gate.clear()
    batcher = MicroBatcher(model, window_s=0, max_batch=1, max_pending=2)
    queued = [batcher.submit(frame(1)), batcher.submit(frame(2))]
    with pytest.raises(ApiError) as refused:
        batcher.submit(frame(3))
    assert refused.value.status == 503 and int(refused.value.headers["Retry-After"]) >= 1
    video_frame = batcher.submit(frame(4), bounded=False)  # video jobs bypass the request limit
    model.gate.set()
    batcher.close()
    assert [int(f.result(0)[0, 0]) for f in [*queued, video_frame]] == [1, 2, 4]
    with pytest.raises(ApiError, match="shutting down"):
        batcher.submit(frame(5))


def test_batching_gain_compares_per_frame_time():
    def slow_singles(frames, batch_size=1):
        time.sleep(0.01 * (len(frames) if batch_size == 1 else 1))
        return [f[..., 0] for f in frames]

    assert batching_gain(slow_singles, frame(1), 4) > 1.5
    assert batching_gain(slow_singles, frame(1), 1) == 1.0
