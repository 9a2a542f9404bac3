"""Helpers for the firmware networking tests: MicroPython drivers, a fake
broker for exact bytes, a paho subscriber that records what reached the
broker, TLS test certificates."""

from __future__ import annotations

import datetime
import ipaddress
import json
import queue
import socket
import subprocess
import threading
import time
from pathlib import Path

import cbor2
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from mpy import MICROPYTHON, mpy_env

HERE = Path(__file__).resolve().parent


class MpyProcess:
    """A MicroPython script with JSON lines on stdin/stdout."""

    def __init__(self, script: str, config: dict, workdir: Path):
        # The config goes in a file: the unix port crashes ("FATAL: uncaught
        # NLR") on command-line arguments longer than ~220 bytes.
        workdir.mkdir(parents=True, exist_ok=True)
        cfg_path = workdir / f"{script}.{time.monotonic_ns()}.json"
        cfg_path.write_text(json.dumps(config))
        self.proc = subprocess.Popen(
            [MICROPYTHON, "-X", "heapsize=4m", str(HERE / script), str(cfg_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=mpy_env(), bufsize=0,
        )
        self.events: queue.Queue = queue.Queue()
        self.all_events: list[dict] = []
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "raw", "line": line.decode(errors="replace")}
            self.all_events.append(ev)
            self.events.put(ev)
        self.events.put(None)

    def send(self, **cmd) -> None:
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()

    def next(self, timeout: float = 10.0) -> dict:
        ev = self.events.get(timeout=timeout)
        if ev is None:
            raise EOFError(f"process exited: {self.stderr()} after {self.all_events[-5:]}")
        return ev

    def wait_for(self, ev_name: str, timeout: float = 10.0, **match) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {ev_name} event {match}; stderr: {self.stderr()}")
            try:
                ev = self.next(left)
            except queue.Empty:
                continue
            if ev.get("ev") == ev_name and all(ev.get(k) == v for k, v in match.items()):
                return ev

    def call(self, **cmd) -> dict:
        self.send(**cmd)
        return self.next()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._t.join(5)

    def stderr(self) -> str:
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Conn:
    """One connection a FakeBroker accepted: whole packets in, raw bytes out."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        sock.settimeout(10)

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("client closed the connection")
            buf += chunk
        return buf

    def packet(self, timeout: float = 10) -> bytes:
        """One whole packet as raw bytes (fixed header included)."""
        self.sock.settimeout(timeout)
        first = self._exact(1)
        raw = first
        n, shift = 0, 0
        while True:
            b = self._exact(1)
            raw += b
            n |= (b[0] & 0x7F) << shift
            shift += 7
            if not b[0] & 0x80:
                break
        return raw + self._exact(n)

    def expect_closed(self, timeout: float = 10) -> None:
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(4096)
            except ConnectionResetError:
                return
            if not data:
                return

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


class FakeBroker:
    """A listening socket the test drives by hand, for exact bytes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]

    def accept(self, timeout: float = 10) -> Conn:
        self.sock.settimeout(timeout)
        s, _ = self.sock.accept()
        return Conn(s)

    def session(self, expected_connect: bytes | None = None) -> Conn:
        """Accept a connection, check its CONNECT, accept the session."""
        c = self.accept()
        pkt = c.packet()
        if expected_connect is not None:
            assert pkt == expected_connect
        else:
            assert pkt[0] == 0x10
        c.send(b"\x20\x02\x00\x00")
        return c

    def close(self) -> None:
        self.sock.close()


class Subscriber:
    """paho-mqtt subscriber (QoS 1) recording every message it receives."""

    def __init__(self, port: int, topics: list[str], tls: dict | None = None):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{time.monotonic_ns()}")
        self.client.max_queued_messages_set(0)
        subscribed = self.subscribed = threading.Event()  # SUBACK, also after a reconnect

        def on_connect(client, userdata, flags, rc, props=None):
            client.subscribe([(t, 1) for t in topics])

        def on_subscribe(client, userdata, mid, rcs, props=None):
            subscribed.set()

        def on_message(client, userdata, msg):
            with self.lock:
                self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.received(msg.topic, bytes(msg.payload))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        # back at once after a broker restart (on_connect subscribes again)
        self.client.reconnect_delay_set(0.05, 0.5)
        if tls:
            self.client.tls_set(ca_certs=tls["ca"])
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("subscriber did not get SUBACK")

    def received(self, topic: str, payload: bytes) -> None:
        """Hook for subclasses, called for each message after it is recorded."""

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self.lock:
            return list(self.messages)

    def wait(self, predicate, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.05)
        return predicate(self.snapshot())

    def scans(self) -> list[dict]:
        """Every scan entry of every batch received, in arrival order."""
        out = []
        for topic, payload, _ in self.snapshot():
            if topic.endswith("/scans"):
                # docs/protocol.md 4.1: {1: device, 2: [scan...], 3: sent_at}
                batch = cbor2.loads(payload)
                assert set(batch) == {1, 2, 3} and 1 <= len(batch[2]) <= 30
                for seq, t, tv, h, verdict, reason in batch[2]:
                    out.append({"device": batch[1], "sent_at": batch[3], "seq": seq,
                                "time": t, "time_valid": tv, "pass": h,
                                "verdict": verdict, "reason": reason})
        return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def ack_payload(first: int, last: int) -> bytes:
    """The fleet's ack (docs/protocol.md 4.4): CBOR {1: first seq, 2: last seq}."""
    return cbor2.dumps({1: first, 2: last})


class FleetAcks:
    """What makes a subscriber a minimal fleet: while `acking`, each scan
    batch it receives is answered on the device's ack topic with the range
    of seqs it carried, QoS 0, as the bridge does after its database commit.
    With acking False every ack is withheld (a fleet that is down, or old)."""

    acking = True

    def received(self, topic: str, payload: bytes) -> None:
        if not (self.acking and topic.endswith("/scans")):
            return
        batch = cbor2.loads(payload)
        seqs = [scan[0] for scan in batch[2]]
        self.ack(batch[1], min(seqs), max(seqs))

    def ack(self, device: str, first: int, last: int, payload: bytes | None = None) -> None:
        """Publish an ack (or any payload: a forged or garbage one) to a device."""
        self.client.publish(f"gg/v1/dev/{device}/ack",
                            ack_payload(first, last) if payload is None else payload, qos=0)

    def batch_count(self) -> int:
        return sum(1 for t, _, _ in self.snapshot() if t.endswith("/scans"))


class Fleet(FleetAcks, Subscriber):
    """A Subscriber (default: every device's scans) that acks as a fleet."""

    def __init__(self, port: int, topics: list[str] | None = None, acking: bool = True,
                 tls: dict | None = None):
        self.acking = acking
        super().__init__(port, topics or ["gg/v1/dev/+/scans"], tls)


def scan_id(entry: dict) -> int:
    """The harness's scan counter, carried in the pass hash."""
    h = entry["pass"]
    assert h[:4] == b"SCAN" and h[8:] == bytes(8), h
    return int.from_bytes(h[4:8], "big")


def make_certs(directory: Path, hostname: str = "localhost") -> dict:
    """A throwaway CA and a server certificate for 127.0.0.1 / hostname."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("GreenGate test CA"))
          .issuer_name(name("GreenGate test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name(hostname))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    return {k: str(v) for k, v in paths.items()}


class OutageProxy:
    """A TCP forwarder to a real broker that can be taken down: while down
    nothing listens on its port (connection refused, as with a dead broker)
    and every forwarded connection is cut."""

    def __init__(self, target_port: int):
        import socket

        from brokers import free_port

        self.target = target_port
        self.port = free_port()
        self._socket = socket
        self._listener = None
        self._conns: list = []
        self._lock = threading.Lock()

    def up(self) -> None:
        s = self._socket.socket()
        s.setsockopt(self._socket.SOL_SOCKET, self._socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(8)
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self) -> None:
        s, self._listener = self._listener, None
        if s:
            # close() alone leaves a socket blocked in accept() (other thread)
            # listening on Linux: shut it down first so the port is free again
            try:
                s.shutdown(self._socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(self._socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = self._socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass
