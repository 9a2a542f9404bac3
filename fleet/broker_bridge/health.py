"""Is the bridge making progress? Each running Bridge keeps a BridgeHealth
(updated by its threads, read by /healthz and /metrics of the same process).
A bridge is failing when the database refused its last transactions several
times in a row, when a received message has waited too long for its commit,
or when it has been disconnected from the broker too long."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

MAX_FAILURES = 3      # consecutive failed transactions
STALL_S = 60.0        # oldest uncommitted message older than this
OFFLINE_S = 60.0      # broker connection lost for longer than this

_live: "weakref.WeakSet[BridgeHealth]" = weakref.WeakSet()
_lock = threading.Lock()


@dataclass(eq=False)
class BridgeHealth:
    client_id: str
    connected: bool = False
    disconnected_since: float | None = None  # time.time()
    last_commit: float | None = None
    consecutive_failures: int = 0
    pending_since: float | None = None       # arrival of the oldest uncommitted message
    dead_letters: int = 0
    acks: int = 0
    last_error: str = ""

    def committed(self) -> None:
        self.last_commit, self.consecutive_failures, self.pending_since = time.time(), 0, None

    def failed(self, error: BaseException) -> None:
        self.consecutive_failures += 1
        self.last_error = type(error).__name__

    def problem(self, now: float | None = None) -> str | None:
        """Reason code when the bridge cannot make progress, else None."""
        now = time.time() if now is None else now
        if self.consecutive_failures >= MAX_FAILURES:
            return "BRIDGE_DB_FAILING"
        if self.pending_since is not None and now - self.pending_since > STALL_S:
            return "BRIDGE_STALLED"
        if not self.connected and self.disconnected_since is not None and \
                now - self.disconnected_since > OFFLINE_S:
            return "BRIDGE_OFFLINE"
        return None

    def report(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        return {"client_id": self.client_id, "connected": self.connected,
                "problem": self.problem(now),
                "consecutive_failures": self.consecutive_failures,
                "last_commit_age_s": round(now - self.last_commit, 1) if self.last_commit else None,
                "oldest_pending_s": round(now - self.pending_since, 1) if self.pending_since else 0.0,
                "dead_letters": self.dead_letters, "last_error": self.last_error}


def register(h: BridgeHealth) -> None:
    with _lock:
        _live.add(h)


def unregister(h: BridgeHealth) -> None:
    with _lock:
        _live.discard(h)


def reports() -> list[dict]:
    """One report per bridge running in this process."""
    with _lock:
        live = list(_live)
    now = time.time()
    return [h.report(now) for h in sorted(live, key=lambda h: h.client_id)]
