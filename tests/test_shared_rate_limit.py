"""One rate limit for the whole team (DOKU_RATE_LIMIT), kept in the store: the slot
arithmetic on a given clock, the pacer on a fake timeline, and processes sharing one
schedule on each backend (rates computed from the slots they were given)."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from typing import Any

import pytest

from doku.client.pacing import SharedPacer
from doku.engine.ratelimit import MAX_TEAM_PAUSE_S, TeamPacer, pacer_for
from doku.engine.slots import Pause, Slot
from doku.engine.store import Store
from doku.errors import CancelledError
from doku.settings import SIMULATOR_CLIENT_ID, SecretKey, Settings

CLIENT = "MCH-0001-TEAM"
R = 4.0  # slots 0.25 s apart: every time below is exact in binary floating point
STORE_EPOCH = 1000.0  # the store's clock runs apart from the local one: only differences count


class Timeline:
    """A fake local clock; waiting moves it on (and may first run a hook)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.on_wait: list[Any] = []

    def __call__(self) -> float:
        return self.now

    def store_clock(self) -> float:
        return STORE_EPOCH + self.now

    def wait(self, seconds: float) -> bool:
        while self.on_wait:
            self.on_wait.pop(0)()
        self.now += seconds
        return False


def team_pacer(store: Store, tl: Timeline, *, rps: float | None = None,
               rate_limit: float = R) -> TeamPacer:
    cancel = threading.Event()
    local = SharedPacer(rps, cancel, clock=tl, wait=tl.wait)
    return TeamPacer(store, CLIENT, rate_limit, local, store_clock=tl.store_clock,
                     clock=tl, wait=tl.wait)


# -- the schedule in the store -----------------------------------------------------------


def test_slots_follow_one_another_at_the_limit_and_idle_time_is_no_credit(store_url: str) -> None:
    now = [100.0]
    with Store(url=store_url) as store:
        def take(client: str = CLIENT) -> Slot:
            return store.take_send_slot(client, 1 / R, lambda: now[0])

        assert [take(), take(), take()] == [
            Slot(100.0, 100.0, 0.0), Slot(100.25, 100.0, 0.0), Slot(100.5, 100.0, 0.0)]
        now[0] = 100.5  # the third taker waited for its slot
        assert take() == Slot(100.75, 100.5, 0.0)
        now[0] = 110.0  # quiet for a while: no burst to make up for it
        assert [take(), take()] == [Slot(110.0, 110.0, 0.0), Slot(110.25, 110.0, 0.0)]
        assert take("MCH-OTHER") == Slot(110.0, 110.0, 0.0)  # one schedule per client ID
        assert take().wait_s == 0.5


def test_a_pause_moves_every_later_slot_past_it(store_url: str) -> None:
    now = [200.0]
    with Store(url=store_url) as store:
        def take() -> Slot:
            return store.take_send_slot(CLIENT, 1 / R, lambda: now[0])

        assert take() == Slot(200.0, 200.0, 0.0)
        now[0] = 200.125
        assert store.pause_sending(CLIENT, 3.0, lambda: now[0]) == Pause(203.125, 200.125)
        assert store.pause_sending(CLIENT, 1.0, lambda: now[0]) == Pause(203.125, 200.125)
        assert [take(), take()] == [Slot(203.125, 200.125, 203.125),
                                    Slot(203.375, 200.125, 203.125)]
        assert store.sending_pause(CLIENT, lambda: now[0]) == Pause(203.125, 200.125)
        assert store.sending_pause("MCH-OTHER", lambda: now[0]) == Pause(0.0, 200.125)


def test_a_clock_that_steps_back_restarts_the_schedule_instead_of_stalling(
    store_url: str,
) -> None:
    now = [500.0]
    with Store(url=store_url) as store:
        def take() -> Slot:
            return store.take_send_slot(CLIENT, 1 / R, lambda: now[0])

        store.pause_sending(CLIENT, 30.0, lambda: now[0])
        assert take() == Slot(530.0, 500.0, 530.0)
        now[0] = 499.5  # within a second of the last slot's clock: not a step
        assert take() == Slot(530.25, 499.5, 530.0)
        now[0] = 100.0  # the clock went back: nobody waits 430 s for it
        assert take() == Slot(100.0, 100.0, 0.0)
        assert take() == Slot(100.25, 100.0, 0.0)


# -- the pacer on a fake timeline ------------------------------------------------------------


def test_the_pacer_waits_for_the_team_slot(tmp_path: Any) -> None:
    tl = Timeline()
    with Store(tmp_path / "s.sqlite3") as store:
        pacer = team_pacer(store, tl)
        store.take_send_slot(CLIENT, 1 / R, tl.store_clock)  # another process went first
        pacer.acquire()
        assert tl.now == 0.25
        pacer.acquire()
        assert tl.now == 0.5
        assert pacer.slots == 2


def test_a_429_elsewhere_requeues_a_slot_given_before_it(store_url: str) -> None:
    tl = Timeline()
    with Store(url=store_url) as store:
        for _ in range(8):  # other processes booked the next 2 s
            store.take_send_slot(CLIENT, 1 / R, tl.store_clock)
        pacer = team_pacer(store, tl)
        # While this worker waits for its slot at 2.0, another process sees a 429.
        tl.on_wait.append(lambda: store.pause_sending(CLIENT, 10.0, tl.store_clock))
        pacer.acquire()
        assert (tl.now, pacer.slots) == (10.0, 2)  # queued again behind the pause
        pacer.acquire()
        assert tl.now == 10.25


def test_a_429_in_this_process_during_a_short_wait_queues_the_request_again(
    tmp_path: Any,
) -> None:
    tl = Timeline()
    with Store(tmp_path / "s.sqlite3") as store:
        pacer = team_pacer(store, tl, rate_limit=8.0)  # slots 0.125 s apart: no re-check
        store.take_send_slot(CLIENT, 1 / 8.0, tl.store_clock)
        # Another thread of this process gets a 429 while this one waits 0.125 s.
        tl.on_wait.append(lambda: pacer.pause(1.0))
        pacer.acquire()
        assert (tl.now, pacer.slots) == (1.0, 2)


def test_a_429_here_stops_this_process_at_once_and_pauses_the_team(store_url: str) -> None:
    tl = Timeline()
    with Store(url=store_url) as store:
        pacer = team_pacer(store, tl)
        pacer.acquire()
        pacer.pause(2.0)
        assert pacer.pauses == 1
        assert store.sending_pause(CLIENT, tl.store_clock) == Pause(STORE_EPOCH + 2.0,
                                                                    STORE_EPOCH)
        other = store.take_send_slot(CLIENT, 1 / R, tl.store_clock)
        assert other.at == STORE_EPOCH + 2.0
        pacer.acquire()
        assert tl.now == 2.25
        pacer.pause(3600.0)  # a Retry-After the client would cap anyway
        assert store.sending_pause(CLIENT, tl.store_clock).until == \
            STORE_EPOCH + 2.25 + MAX_TEAM_PAUSE_S


@pytest.mark.parametrize(("rps", "times"), [
    (2.0, [0.0, 0.5, 1.0]),  # this run's --rps is the stricter
    (8.0, [0.0, 0.25, 0.5]),  # the team's limit is
])
def test_the_stricter_of_rps_and_the_team_limit_wins(
    tmp_path: Any, rps: float, times: list[float],
) -> None:
    tl = Timeline()
    with Store(tmp_path / "s.sqlite3") as store:
        pacer = team_pacer(store, tl, rps=rps)
        seen = []
        for _ in times:
            pacer.acquire()
            seen.append(tl.now)
        assert seen == times


def test_a_run_paces_itself_alone_unless_the_team_limit_is_set(tmp_path: Any) -> None:
    plain = Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey("k"), "http://127.0.0.1:1")
    team = Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey("k"), "http://127.0.0.1:1",
                    rate_limit=50.0)
    cancel = threading.Event()
    with Store(tmp_path / "s.sqlite3") as store:
        alone = pacer_for(store, plain, 5.0, cancel)
        assert type(alone) is SharedPacer
        assert alone.interval == 0.2
        shared = pacer_for(store, team, 5.0, cancel)
        assert isinstance(shared, TeamPacer)
        assert (shared.client_id, shared.interval, shared.local.interval) == (
            SIMULATOR_CLIENT_ID, 0.02, 0.2)
        assert shared.cancel is cancel


def test_a_store_failure_cancels_the_request_and_says_why(tmp_path: Any) -> None:
    tl = Timeline()
    store = Store(tmp_path / "s.sqlite3")
    told: list[str] = []
    pacer = TeamPacer(store, CLIENT, R, SharedPacer(None, clock=tl, wait=tl.wait),
                      store_clock=tl.store_clock, clock=tl, wait=tl.wait,
                      on_store_error=told.append)
    store.close()
    with pytest.raises(CancelledError):
        pacer.acquire()
    assert len(told) == 1
    assert told[0].startswith(
        f"the team's rate limit (DOKU_RATE_LIMIT): cannot use the store at {store.where}: ")


# -- processes sharing the schedule -----------------------------------------------------------

RATE = 100.0
PROCESSES = 3
THREADS = 4
PER_THREAD = 25


def _take_in_process(url: str, ready: Any, go: Any, out: Any) -> None:
    """Take PER_THREAD slots on each of THREADS threads as fast as the store gives
    them, without waiting for them: the slots alone show when the team would send."""
    with Store(url=url) as store:
        store.sending_pause(CLIENT)  # connected before the start, not during it
        granted: list[float] = []
        ready.put(True)
        go.wait(60)

        def take() -> None:
            for _ in range(PER_THREAD):
                granted.append(store.take_send_slot(CLIENT, 1 / RATE).at)

        threads = [threading.Thread(target=take) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out.put(granted)


def _pause_or_take(url: str, role: str, paused: Any, out: Any) -> None:
    """`pause`: record a 429's 30 s pause; `take`: once it is recorded, take a slot."""
    with Store(url=url) as store:
        if role == "pause":
            out.put(store.pause_sending(CLIENT, 30.0))
            paused.set()
        else:
            paused.wait(60)
            out.put(store.take_send_slot(CLIENT, 1 / RATE))


def test_processes_together_are_given_slots_at_the_team_limit(store_url: str) -> None:
    with Store(url=store_url) as store:  # migrated once, before the processes race to it
        # The team is paused (as after a 429), so every taker queues: the schedule is
        # what it is however slowly a loaded machine runs the takers.
        pause = store.pause_sending(CLIENT, 60.0)
    ctx = multiprocessing.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_take_in_process, args=(store_url, ready, go, out))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()
    granted = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    assert [len(g) for g in granted] == [THREADS * PER_THREAD] * PROCESSES
    slots = sorted(s for g in granted for s in g)
    assert slots[0] == pause.until
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    # No slot given twice, none closer than 1/R to the one before, no gap between them.
    assert (min(gaps), max(gaps)) == (pytest.approx(1 / RATE, abs=1e-6),
                                      pytest.approx(1 / RATE, abs=1e-6))
    rate = (len(slots) - 1) / (slots[-1] - slots[0])
    assert abs(rate - RATE) / RATE <= 0.05, rate


def test_a_429_in_one_process_moves_every_other_process_past_the_pause(
    store_url: str,
) -> None:
    Store(url=store_url).close()
    ctx = multiprocessing.get_context("spawn")
    paused, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_pause_or_take, args=(store_url, role, paused, out))
             for role in ("pause", "take", "take")]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    [pause] = [r for r in results if isinstance(r, Pause)]
    slots = sorted((r for r in results if isinstance(r, Slot)), key=lambda s: s.at)
    # PostgreSQL reads its clock again for the answer: `now` may be a few ms later.
    assert pause.until == pytest.approx(pause.now + 30.0, abs=0.01)
    assert [s.at for s in slots] == pytest.approx(
        [pause.until, pause.until + 1 / RATE], abs=1e-6)
    assert [s.paused_until for s in slots] == [pause.until, pause.until]
