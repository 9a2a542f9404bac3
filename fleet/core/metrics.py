"""A tiny Prometheus text-format registry (exposition format 0.0.4).

Written here rather than pulling prometheus-client: the fleet needs a handful
of counters and gauges, and gauges are computed from the database on scrape.
"""

from __future__ import annotations

import threading
from collections import defaultdict


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    esc = lambda v: str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')  # noqa: E731
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items())) + "}"


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._values: dict[str, dict[tuple, float]] = defaultdict(dict)

    def describe(self, name: str, kind: str, help_text: str) -> None:
        self._help[name] = (kind, help_text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[name][key] = self._values[name].get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] = float(value)

    def render(self, extra: dict[str, tuple[str, str, list[tuple[dict, float]]]] | None = None) -> str:
        lines: list[str] = []
        with self._lock:
            items = {n: dict(v) for n, v in self._values.items()}
        for name, (kind, help_text) in sorted(self._help.items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for key, value in sorted(items.get(name, {}).items()):
                lines.append(f"{name}{_labels(dict(key))} {value:g}")
        for name, (kind, help_text, samples) in sorted((extra or {}).items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for labels, value in samples:
                lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"


REGISTRY = Registry()
REGISTRY.describe("greengate_http_requests_total", "counter", "HTTP requests by route and status.")
REGISTRY.describe("greengate_scans_ingested_total", "counter", "Scan events stored (new, not duplicates).")
REGISTRY.describe("greengate_scans_duplicate_total", "counter", "Scan events already stored (QoS 1 re-deliveries).")
REGISTRY.describe("greengate_control_published_total", "counter", "Signed control messages published, by kind.")
