"""The panel's background task: result, error and cancellation (pure Python)."""
from __future__ import annotations

import threading

from SegmentationQCLib.background import BackgroundTask


def test_result_and_progress():
    task = BackgroundTask(lambda progress: (progress(0.5, "half"), 42)[1]).start()
    assert task.wait(10) and task.result == 42 and task.error is None
    assert (task.fraction, task.message) == (1.0, "done")


def test_error_is_kept_for_the_main_thread():
    def work(progress):
        raise ValueError("bad input")

    task = BackgroundTask(work).start()
    assert task.wait(10) and isinstance(task.error, ValueError) and task.result is None


def test_cancel_stops_at_the_next_step():
    started, release, steps = threading.Event(), threading.Event(), []

    def work(progress):
        progress(0.1, "first")
        steps.append(1)
        started.set()
        release.wait(10)
        progress(0.5, "second")
        steps.append(2)
        return "finished"

    task = BackgroundTask(work).start()
    started.wait(10)
    task.cancel()
    release.set()
    assert task.wait(10) and task.cancelled
    assert task.result is None and task.error is None and steps == [1] and task.message == "cancelled"
