"""SharedPacer on a fake timeline (injected clock and wait), plus one real-time check."""

from __future__ import annotations

import threading
import time

import pytest

from doku.client.pacing import Pacer, SharedPacer
from doku.errors import CancelledError


class FakeTime:
    """A monotonic clock that only moves when someone waits on it."""

    def __init__(self, cancel: threading.Event | None = None, cancel_at: float | None = None):
        self.now = 0.0
        self.waits: list[float] = []
        self.cancel, self.cancel_at = cancel, cancel_at

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        cancel, at = self.cancel, self.cancel_at
        if cancel is not None and at is not None and self.now + seconds >= at:
            self.now = at  # cancelled part-way through the wait
            cancel.set()
            return True
        self.now += seconds
        return False


def pacer_on(
    fake: FakeTime, rps: float | None = None, cancel: threading.Event | None = None
) -> SharedPacer:
    return SharedPacer(rps, cancel, clock=fake.clock, wait=fake.wait)


def test_is_a_pacer() -> None:
    pacer: Pacer = SharedPacer()
    pacer.acquire()
    pacer.pause(0.0)
    pacer.sleep(0.0)


def test_without_a_rate_acquire_never_waits() -> None:
    fake = FakeTime()
    pacer = pacer_on(fake)
    for _ in range(5):
        pacer.acquire()
    assert fake.waits == []
    assert fake.now == 0.0


def test_rate_spaces_acquires_exactly() -> None:
    fake = FakeTime()
    pacer = pacer_on(fake, rps=4)
    starts = []
    for _ in range(5):
        pacer.acquire()
        starts.append(fake.now)
    assert starts == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert fake.waits == [0.25, 0.25, 0.25, 0.25]


def test_idle_time_is_not_banked_as_burst() -> None:
    fake = FakeTime()
    pacer = pacer_on(fake, rps=2)
    pacer.acquire()
    fake.now = 10.0  # a long idle spell
    pacer.acquire()
    pacer.acquire()
    assert fake.now == 10.5
    assert fake.waits == [0.5]


@pytest.mark.parametrize("rps", [0, -1])
def test_rate_must_be_positive(rps: float) -> None:
    with pytest.raises(ValueError, match="rps must be positive"):
        SharedPacer(rps)


def test_pause_holds_every_worker_until_it_ends() -> None:
    fake = FakeTime()
    pacer = pacer_on(fake, rps=4)
    pacer.acquire()  # t=0, next slot 0.25
    pacer.pause(3.0)  # a 429 at t=0 said: 3 s
    assert pacer.pauses == 1
    pacer.acquire()
    assert fake.now == 3.0
    pacer.acquire()  # the rate applies again after the pause
    assert fake.now == 3.25


def test_shorter_pause_does_not_shorten_a_longer_one() -> None:
    fake = FakeTime()
    pacer = pacer_on(fake)
    pacer.pause(5.0)
    pacer.pause(1.0)
    assert pacer.pauses == 1
    pacer.acquire()
    assert fake.now == 5.0
    pacer.pause(2.0)  # at t=5: until 7, a new pause
    assert pacer.pauses == 2


def test_sleep_is_per_worker_and_exact() -> None:
    fake = FakeTime()
    pacer = pacer_on(fake, rps=1)
    pacer.sleep(1.5)
    assert fake.now == 1.5
    assert fake.waits == [1.5]
    pacer.acquire()  # the slot was free long ago: no extra wait
    assert fake.now == 1.5


def test_cancel_interrupts_a_wait_and_every_later_call() -> None:
    cancel = threading.Event()
    fake = FakeTime(cancel, cancel_at=0.1)
    pacer = pacer_on(fake, cancel=cancel)
    with pytest.raises(CancelledError, match="run cancelled"):
        pacer.sleep(30.0)
    assert fake.now == 0.1
    with pytest.raises(CancelledError):
        pacer.acquire()
    with pytest.raises(CancelledError):
        pacer.sleep(0.0)


def test_cancel_wakes_a_real_wait_at_once() -> None:
    cancel = threading.Event()
    pacer = SharedPacer(cancel=cancel)
    timer = threading.Timer(0.05, cancel.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(CancelledError):
        pacer.sleep(10.0)
    elapsed = time.monotonic() - started
    timer.join()
    assert 0.04 <= elapsed < 0.5


class Booked(Exception):
    def __init__(self, slot: float) -> None:
        self.slot = slot


def test_concurrent_workers_each_get_their_own_slot() -> None:
    """Time stands still at 0; a wait reports the slot it was for instead of waiting."""
    pacer = SharedPacer(4, clock=lambda: 0.0, wait=lambda left: _raise(Booked(left)))
    slots: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        for _ in range(5):
            try:
                pacer.acquire()
                slot = 0.0
            except Booked as b:
                slot = b.slot
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert sorted(slots) == [0.25 * i for i in range(20)]


def _raise(exc: Exception) -> bool:
    raise exc


def test_ready_says_when_acquire_would_not_wait() -> None:
    fake = FakeTime()
    cancel = threading.Event()
    free, rated = pacer_on(fake, cancel=cancel), pacer_on(FakeTime(), rps=10)
    assert (free.ready(), rated.ready()) == (True, False)  # a rate always goes to a thread
    free.pause(2.0)
    assert free.ready() is False
    fake.now = 2.0
    assert free.ready() is True
    cancel.set()
    assert free.ready() is False  # acquire would raise CancelledError
