"""Work off the main thread, polled by the caller (the Slicer panel polls with a QTimer).

No Qt here: a plain thread runs ``work(progress)``; ``progress(fraction, message)`` records how
far it got and raises ``Cancelled`` once ``cancel()`` was called, so the work stops at its next
step. The caller reads ``done``, ``fraction``, ``message``, ``result`` and ``error``.
"""
from __future__ import annotations

import threading


class Cancelled(Exception):
    """Raised inside the work by ``progress`` after ``cancel``."""


class BackgroundTask:
    def __init__(self, work):
        self._work = work
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="SegmentationQC", daemon=True)
        self.fraction, self.message = 0.0, "waiting"
        self.result, self.error = None, None

    def start(self) -> BackgroundTask:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()
        self.message = "cancelling"

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.done

    def progress(self, fraction: float, message: str) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        self.fraction, self.message = fraction, message

    def _run(self) -> None:
        try:
            self.result = self._work(self.progress)
            self.progress(1.0, "done")
        except Cancelled:
            self.result, self.message = None, "cancelled"
        except Exception as e:  # handed to the main thread, which shows it
            self.error, self.message = e, "failed"
