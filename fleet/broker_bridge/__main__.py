"""One bridge worker as its own process: `python -m fleet.broker_bridge
--db URL --broker URL [--client-id ID] [--no-shared] [--no-publish]`.
Run several, each with its own fleet account, to share the ingest load (the
client id is the broker username). Prints "ready" once connected; keeps
reconnecting (capped backoff) while the broker is away."""

from __future__ import annotations

import argparse
import signal
import threading

from fleet.core.config import normalise_db_url
from fleet.core.db import make_engine, make_sessionmaker
from fleet.core.logging import configure

from .bridge import Bridge, BrokerParams
from .wire import load_or_create_fleet_key


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m fleet.broker_bridge")
    p.add_argument("--db", required=True)
    p.add_argument("--broker", required=True)
    p.add_argument("--ca-file")
    p.add_argument("--client-id", help="default and only value the broker accepts: the username")
    p.add_argument("--fleet-key", help="fleet signing key (PEM); needed to publish")
    p.add_argument("--no-shared", action="store_true", help="broker without $share (amqtt)")
    p.add_argument("--no-publish", action="store_true")
    p.add_argument("--batch-max", type=int, default=500)
    p.add_argument("--poll-s", type=float, default=0.2, help="control outbox poll interval")
    a = p.parse_args(argv)
    configure()
    engine = make_engine(normalise_db_url(a.db))
    key = load_or_create_fleet_key(a.fleet_key, create=False) if a.fleet_key else None
    params = BrokerParams.from_url(a.broker, a.ca_file)
    bridge = Bridge(make_sessionmaker(engine), params, key,
                    client_id=a.client_id or params.username, shared=not a.no_shared,
                    publish=not a.no_publish and key is not None, batch_max=a.batch_max,
                    poll_s=a.poll_s).start(timeout=None)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.is_set() and not bridge.wait_connected(0.2):
        pass
    if not done.is_set():
        print("ready", flush=True)
    done.wait()
    bridge.stop()
    engine.dispose()


if __name__ == "__main__":
    main()
