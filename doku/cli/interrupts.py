"""Ctrl+C while a command starts its runs, held until it follows them.

A run fetches from the moment its job starts, and the command only catches Ctrl+C
once it follows the job. A SIGINT in between (`Thread.start` waits for the new
thread, which can take a while on a loaded machine) would end the process with
exit 130 and the run left "running" with no one fetching it. Inside `HeldInterrupts`
such a Ctrl+C is kept, then raised by `arm` where the command follows its jobs: it
cancels them like any other Ctrl+C (the run is stored as cancelled, the cancel goes
in the audit trail, and the exit names the run to resume).

Only the main thread can set a signal handler, and a SIGINT the shell ignores (a
command started in the background) stays ignored: then nothing is held or changed.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class HeldInterrupts:
    """`with HeldInterrupts() as held:` start the jobs, then `held.arm()` inside the
    `try` that follows them; `held.disarm()` once stopping (a second Ctrl+C is then
    ignored: stopping takes about 2 s)."""

    def __init__(self) -> None:
        self.armed = False
        self.held = False
        self.stopping = False
        self._previous: object = None
        self._installed = False

    def __enter__(self) -> HeldInterrupts:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        else:
            self.armed = True  # nothing to hold: Ctrl+C behaves as it did
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._installed = False

    def _on_sigint(self, _signum: int, _frame: FrameType | None) -> None:
        if self.armed:
            raise KeyboardInterrupt
        if not self.stopping:
            self.held = True

    def arm(self) -> None:
        """From here Ctrl+C raises KeyboardInterrupt; at once when one was held."""
        self.stopping = False
        self.armed = True
        # A SIGINT between these two lines raises in the handler: armed is already set.
        if self.held:
            self.held = False
            raise KeyboardInterrupt

    def disarm(self) -> None:
        """Ignore Ctrl+C until the next `arm` (the command is stopping its jobs)."""
        if self._installed:
            self.stopping = True
            self.armed = False
