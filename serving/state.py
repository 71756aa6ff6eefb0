"""The service's state: loaded in the background at start, read by every request, reloaded on demand."""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ranking.base import RankContext
from ranking.request import RankRequest
from ranking.runner import Runner
from serving.abtest import Experiments
from serving.config import ServiceConfig
from serving.data import ServiceData, load_service_data
from serving.eventlog import EventLog
from serving.events import EventIntake
from serving.gate_live import gate_board
from serving.loadlock import one_at_a_time
from serving.metrics import ServiceMetrics
from serving.models import Engine, SlotModel, build_engine, load_champions
from serving.pagelog import PageLog
from serving.ranker import RankService
from serving.settings import ServingSettings

log = logging.getLogger(__name__)
#: The file a service's workers lock while loading, beside its page log (serving.loadlock).
LOAD_LOCK = "load.lock"
ModelLoader = Callable[[ServiceConfig], dict[str, SlotModel]]
VersionProbe = Callable[[ServiceConfig], dict[str, str]]


@dataclass(frozen=True)
class Promotion:
    """What moving a slot's alias did (the registry's answer)."""

    moved: bool
    reason: str
    before: int | None
    after: int | None


Promoter = Callable[[str, str], Promotion]  # (slot, "promote" | "rollback") -> outcome; writes the registry


@dataclass
class ServiceState:
    """What ``/ready`` reports and what the routes use once it is ready."""

    config: ServiceConfig
    load_models: ModelLoader = load_champions
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    data: ServiceData | None = None
    engines: dict[str, Engine] = field(default_factory=dict)  # every alias served, the default's included
    ranker: RankService | None = None
    intake: EventIntake | None = None
    page_log: PageLog | None = None
    probe_versions: VersionProbe | None = None  # the registry's current versions, for the watch
    refresh_models: Callable[[], None] | None = None  # brings the loader up to the registry now (admin reloads)
    error: str | None = None
    degraded: str | None = None  # why answers are degraded now (a store is down, events wait), else None
    draining: bool = False  # stopping soon (serving.drain): /ready says so, the routes still answer
    started: float = field(default_factory=time.monotonic)
    _reload_lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _last_probe: float = 0.0

    @property
    def engine(self) -> Engine | None:
        """The engine of the default alias (``serving.model_alias``)."""
        return self.engines.get(self.config.serving.model_alias)

    @property
    def ready(self) -> bool:
        return self.ranker is not None

    def now_ms(self) -> int:
        """The service clock (see ``serving.clock``)."""
        if self.config.serving.clock == "wall" or self.data is None:
            return int(time.time() * 1000)
        return self.data.data_end_ms + int((time.monotonic() - self.started) * 1000)

    def load(self) -> None:
        """Index the data, load the models, then open for traffic; a failure is kept for ``/ready``."""
        try:
            s = self.config.serving
            with one_at_a_time(s.page_log_dir.parent / LOAD_LOCK):  # the load's memory peak, one worker at a time
                self._load(s)
        except Exception as e:  # kept for /ready; the process stays up so operators can see why
            log.exception("service failed to load")
            self.error = f"{type(e).__name__}: {e}"

    def _load(self, s: ServingSettings) -> None:
        data = load_service_data(s.data_dir, self.config.features, self.config.ranking, self.config.gate)
        self.started = time.monotonic()
        self.data = data
        self._swap(self._build_engines())
        self.page_log = PageLog(s.page_log_dir, s.page_log_batch)
        event_log = EventLog(s.event_log_dir or s.page_log_dir.parent / "events", f"w{os.getpid()}")
        self.intake = EventIntake(data, s.events_per_account_per_minute, event_log,
                                  horizon_ms=self.config.features.dedup_horizon_hours * 3_600_000)
        self.intake.catch_up(self.now_ms())  # events accepted before a restart, or by other workers
        runner = Runner.from_settings(self.config.ranking)
        warm_up(self.engines, data, runner, self.now_ms())
        ranker = RankService(lambda alias: self.engines[alias], data, runner, self.metrics, self.page_log,
                             deadline_ms=s.deadline_ms, stale_ttl_s=s.stale_ttl_s,
                             experiments=Experiments(s), explore_pool=s.explore_pool)
        # Before opening (the ranker makes the state ready): the full collection holds the GIL for a fifth of a
        # second on the medium world, which the first requests would wait out.
        settle_heap()
        self.ranker = ranker
        log.info("service ready: data in %.1f s, models %s", data.load_seconds, self.engine.versions)

    def reload(self, *, fresh: bool = False) -> tuple[bool, str]:
        """Load the models again and swap them in; on any failure the current models keep serving.

        ``fresh`` (an operator's reload): ask the registry now, not the loader's last answer of it
        (``serving.champion_manifest``); the watch reloads what the loader already knows.
        """
        if self.data is None or self.engine is None:
            return False, "not loaded yet"
        with self._reload_lock:
            try:
                if fresh and self.refresh_models is not None:
                    self.refresh_models()
                engines = self._build_engines()
            except Exception as e:  # a corrupt or mismatched model must not take the old one down
                self.metrics.reloads.labels(outcome="refused").inc()
                log.warning("reload refused, old models keep serving: %s", e)
                return False, f"{type(e).__name__}: {e}"
            if self.ranker is not None:
                warm_up(engines, self.data, self.ranker.runner, self.now_ms())
            self._swap(engines)
            self.metrics.reloads.labels(outcome="ok").inc()
            return True, "reloaded"

    def for_alias(self, alias: str) -> ServiceConfig:
        """This service's configuration with ``serving.model_alias`` set to ``alias``."""
        return replace(self.config, serving=self.config.serving.model_copy(update={"model_alias": alias}))

    def _build_engines(self) -> dict[str, Engine]:
        """One engine per alias served (the default and any experiment arm's), all or nothing."""
        assert self.data is not None
        return {alias: build_engine(self.load_models(self.for_alias(alias)), self.data, self.config.ranking)
                for alias in self.config.serving.aliases()}

    def _swap(self, engines: dict[str, Engine]) -> None:
        self.engines = engines  # one reference: a request in flight keeps the engine it read
        self.metrics.set_versions(engines[self.config.serving.model_alias].versions)

    def start_background(self) -> None:
        """Start the maintenance loop (event log, store health, registry watch); it stops with :meth:`close`."""
        threading.Thread(target=self._loop, name="maintenance", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.wait(self.config.serving.sync_interval_s):
            if self.ready:
                try:
                    self.maintain()
                except Exception:  # the loop must outlive any one failure; the next pass tries again
                    log.exception("maintenance pass failed")

    def maintain(self) -> None:
        """One pass: apply logged and waiting events, check the online stores, follow the registry, run the gate."""
        assert self.intake is not None and self.data is not None and self.engine is not None
        waiting = self.intake.catch_up(self.now_ms())
        down = [] if self.data.updater.store.healthy() else list(self.data.online)
        reasons = ([f"online store of {', '.join(down)} unreachable: model slots answer with the fallback"]
                   if down else []) + ([f"{waiting} accepted events wait for the online store"] if waiting else [])
        self.degraded = "; ".join(reasons) or None
        poll = self.config.serving.registry_poll_s
        if self.probe_versions is not None and poll > 0 and time.monotonic() - self._last_probe >= poll:
            self._last_probe = time.monotonic()
            current = {alias: self.probe_versions(self.for_alias(alias)) for alias in self.engines}
            if any(self.engines[a].versions.get(slot) != v for a, now in current.items() for slot, v in now.items()):
                _, detail = self.reload()  # another worker or an operator moved an alias
                log.info("registry moved to %s: %s", current, detail)
        self.gate_pass(self.now_ms())  # last: a failing pass must not hold up events or the registry watch

    def gate_pass(self, now_ms: int) -> bool:
        """Re-decide the live posts and rebuild the hotlist board if a pass is due on the gate's clock grid."""
        assert self.data is not None
        gate = self.data.gate
        due = gate.due(now_ms, int(self.config.serving.gate_interval_s * 1000))
        if due is None:
            return False
        moved = gate.run(due)
        self.data.board.replace(gate_board(self.data.base_board, gate))
        self.metrics.gate_moves.inc(moved)
        return True

    def close(self) -> None:
        """Stop the maintenance loop and flush the page log (graceful shutdown)."""
        self._stop.set()
        if self.page_log is not None:
            self.page_log.close()


def settle_heap() -> None:
    """After loading: collect once, keep what was loaded out of every later collection, return freed pages.

    A worker holds several hundred thousand long-lived Python objects once loaded. Each full collection of
    the cyclic garbage collector walks all of them (about 200 ms on the medium world, one-off measurement), a
    pause that lands on whichever requests are in flight. ``gc.freeze`` moves them to the permanent
    generation, which collections skip. Loaded objects are never garbage before a model reload; the models
    a reload replaces are freed by reference counting, and at worst one set of them stays, if it holds a
    reference cycle (later reloads' objects are not frozen).
    """
    gc.collect()
    gc.freeze()
    return_freed_memory()  # loading's temporaries are garbage now: hand their pages back (RSS)


def return_freed_memory() -> bool:
    """Hand the heap's free pages back to the OS (glibc ``malloc_trim``); False where there is no glibc.

    Loading replays the event history through large temporary arrays; once they are freed, glibc keeps the
    pages in its heap (about 100 MB of a worker's resident memory on the medium world) unless asked to trim.
    """
    try:
        return bool(ctypes.CDLL(None).malloc_trim(0))
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        return False


def warm_up(engines: dict[str, Engine], data: ServiceData, runner: Runner, now_ms: int) -> None:
    """Rank one page of every slot of every engine before it serves: lazy indexes, caches and compiled code
    are built here, not inside the first requests' deadline (they fell back to the popular page)."""
    if not len(data.known_users):
        return
    ctx = RankContext(data.catalog, data.seen)
    user = int(data.known_users[0])
    for engine in engines.values():
        for name, slot in engine.slots.items():
            runner.run(slot, [RankRequest(user, name, 10, now_ms, None, {})], ctx)
