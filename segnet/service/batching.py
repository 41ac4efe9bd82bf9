"""One model instance, many concurrent requests: frames are queued, and a single worker thread
takes whatever arrived within a few milliseconds and runs it through one ``Model.predict`` call.

Why one worker: the runtimes already use every core for one forward pass, so two passes at once
only fight over the cores; batching frames of one size into one pass is where a runtime can gain
(fewer, larger matrix products). The queue is bounded: a request beyond ``max_pending`` is refused
at once (503 + Retry-After) instead of waiting behind a queue that makes its latency unbounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError

import numpy as np

from segnet.service.errors import ApiError


def batching_gain(predict_batch: Callable[..., list[np.ndarray]], frame: np.ndarray, max_batch: int,
                  repeats: int = 1) -> float:
    """Seconds per frame of single frames divided by that of one batch of ``max_batch``: above 1
    the runtime gains from batching. Measured, not assumed: on CPUs some runtimes are slower per
    frame in batches (OpenVINO INT8 and torch bf16 on the bundled model here)."""
    if max_batch < 2:
        return 1.0
    frames = [frame] * max_batch
    predict_batch(frames, batch_size=max_batch)  # first passes build each shape's kernels
    predict_batch(frames[:1], batch_size=1)
    single = batched = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        predict_batch(frames, batch_size=1)
        single = min(single, time.perf_counter() - start)
        start = time.perf_counter()
        predict_batch(frames, batch_size=max_batch)
        batched = min(batched, time.perf_counter() - start)
    return single / batched


class MicroBatcher:
    """``predict_batch(frames, batch_size)`` (a ``Model.predict``) behind a bounded queue.

    ``window_s``: how long the worker waits for more frames after the first one arrived;
    ``max_batch``: most frames in one forward pass (1 turns batching off).
    """

    def __init__(self, predict_batch: Callable[..., list[np.ndarray]], window_s: float = 0.003,
                 max_batch: int = 4, max_pending: int = 32):
        if max_batch < 1 or max_pending < 1 or window_s < 0:
            raise ValueError("max_batch and max_pending must be >= 1 and the window >= 0")
        self.predict_batch, self.window_s = predict_batch, window_s
        self.max_batch, self.max_pending = max_batch, max_pending
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._seconds_per_frame = 0.2  # refined by every batch; used for Retry-After
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="segnet-batcher", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, frame: np.ndarray, bounded: bool = True) -> Future:
        """Queue ``frame``; the future gives its HxW class ids. ``bounded=False`` (video jobs,
        whose own number is limited) skips the queue limit."""
        with self._lock:
            self.refuse_if_full(bounded)
            self._pending += 1
        future: Future = Future()
        self._queue.put((frame, future))
        return future

    def refuse_if_full(self, bounded: bool = True) -> None:
        """ApiError 503 with Retry-After (the time the queue takes to drain) when no frame may join."""
        if self._stopping:
            raise ApiError(503, "the server is shutting down", {"Retry-After": "5"})
        if bounded and self._pending >= self.max_pending:
            wait = max(1, math.ceil(self._pending * self._seconds_per_frame))
            raise ApiError(503, f"busy: {self._pending} frames queued; retry in {wait} s", {"Retry-After": str(wait)})

    async def predict(self, frame: np.ndarray) -> np.ndarray:
        return await asyncio.wrap_future(self.submit(frame))

    def _collect(self, first) -> list:
        batch, deadline = [first], time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # keep the stop mark for the loop
                break
            batch.append(item)
        return batch

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = self._collect(first)
            for shape in dict.fromkeys(f.shape for f, _ in batch):  # one forward pass per frame size
                group = [(f, fut) for f, fut in batch if f.shape == shape]
                self._run([f for f, _ in group], [fut for _, fut in group])

    def _run(self, frames: list[np.ndarray], futures: list[Future]) -> None:
        start = time.perf_counter()
        try:
            results = self.predict_batch(frames, batch_size=len(frames))
        except BaseException as exc:  # the request sees the error; the worker goes on
            results, error = None, exc
        per_frame = (time.perf_counter() - start) / len(frames)
        self._seconds_per_frame = 0.8 * self._seconds_per_frame + 0.2 * per_frame
        with self._lock:
            self._pending -= len(frames)
        for i, future in enumerate(futures):
            with contextlib.suppress(InvalidStateError):  # its client left and cancelled it meanwhile
                future.set_exception(error) if results is None else future.set_result(results[i])

    def close(self, timeout: float = 30.0) -> None:
        """Finish the frames already queued, then stop the worker."""
        with self._lock:
            self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout)
