"""Would a server be able to listen on this port? Asked before anything is
started or created, so a busy port is said first and plainly."""

from __future__ import annotations

import socket


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when binding host:port fails (another program holds it). Binds
    with SO_REUSEADDR like uvicorn and amqtt, so a socket in TIME_WAIT does not
    count; a wildcard host (0.0.0.0) is checked too, unlike a test connect."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return False  # an unresolvable address fails later with its own error
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError:
            return True
    return False
