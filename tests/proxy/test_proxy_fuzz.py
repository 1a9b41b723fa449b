"""Malformed frames at the proxy: protocol errors or a closed connection, never a crash, and
a driver session through the same proxy keeps working the whole time."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster

from cassflow.protocol import SegmentReader, encode_frames_as_segments, encode_segment
from cassflow.proxy._server import ProxyRequest, ProxyServer
from cassflow.proxy._upstream import UpstreamConfig, UpstreamHost

PASSWORD = "fuzz-token"
HEADER = struct.Struct(">BBhBI")
PROTOCOL_ERROR = 0x000A
#: Request opcodes (their bodies get garbage), a response opcode sent as a request, unknown ones.
OPCODES = (0x01, 0x05, 0x07, 0x09, 0x0A, 0x0B, 0x0D, 0x0F, 0x00, 0x08, 0x11, 0x42, 0xFF)
BATCH = 100


def _authenticate(username: str, password: str) -> str:
    if password != PASSWORD:
        raise ValueError("Bad credentials")
    return username


def _allow(identity: Any, request: ProxyRequest) -> str | None:
    return None


@pytest.fixture(scope="module")
def proxy(contact: tuple[list[str], int]) -> Iterator[ProxyServer]:
    hosts, port = contact
    upstream = UpstreamConfig(hosts=[UpstreamHost(host, port) for host in hosts])
    server = ProxyServer("127.0.0.1", 0, upstream, _authenticate, _allow)
    server.start()
    yield server
    server.stop()


class _Answers:
    """Reads response frames off a raw socket (inside v5 segments once ``segments`` is set)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.closed = False
        self.segments: SegmentReader | None = None

    def _received(self, data: bytes) -> None:
        if self.segments is None:
            self.buffer += data
            return
        self.segments.feed(data)
        while (segment := self.segments.next_segment()) is not None:
            self.buffer += segment[0]

    def read(self, count: int, deadline: float) -> list[tuple[int, int, bytes]]:
        """Up to ``count`` (stream, opcode, body) answers, fewer if closed or out of time."""
        frames: list[tuple[int, int, bytes]] = []
        while len(frames) < count and not self.closed:
            while len(self.buffer) >= HEADER.size:
                _version, _flags, stream, opcode, length = HEADER.unpack_from(self.buffer)
                if len(self.buffer) < HEADER.size + length:
                    break
                frames.append((stream, opcode, self.buffer[HEADER.size : HEADER.size + length]))
                self.buffer = self.buffer[HEADER.size + length :]
            if len(frames) >= count:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                break
            except OSError:
                data = b""
            if not data:
                self.closed = True
            self._received(data)
        return frames


def _frame(opcode: int, body: bytes, stream: int, version: int = 4, flags: int = 0) -> bytes:
    return HEADER.pack(version, flags, stream, opcode, len(body)) + body


def _whole_bad_frames(rng: random.Random, count: int, version: int) -> list[bytes]:
    """Whole frames with bad opcodes or garbage bodies: each must get exactly one answer."""
    frames = []
    for stream in range(count):
        opcode = rng.choice(OPCODES)
        body = rng.randbytes(rng.choice((0, 1, 3, 7, 20, 200)))
        if opcode == 0x05:  # OPTIONS takes any body: make its length field lie instead
            frames.append(_frame(0x07, b"\xff\xff\xff\x7f" + body, stream, version))
            continue
        flags = rng.choice((0, 0, 0, 0x02, 0x04))
        frames.append(_frame(opcode, body, stream, version, flags))
    return frames


def _connection_killers(rng: random.Random) -> bytes:
    """Bytes after which the proxy must answer an error and/or close the connection."""
    kind = rng.randrange(5)
    if kind == 0:  # random bytes
        return rng.randbytes(rng.randrange(1, 64))
    if kind == 1:  # a truncated header
        return _frame(0x05, b"", 0)[: rng.randrange(1, HEADER.size)]
    if kind == 2:  # a huge length field
        return HEADER.pack(4, 0, 1, 0x07, rng.randrange(300 * 1024 * 1024, 0xFFFFFFFF))
    if kind == 3:  # an unsupported protocol version
        return _frame(0x05, b"", 0, version=rng.choice((0, 1, 2, 6, 7, 0x42, 0x7F)))
    return _frame(0x07, b"\x00\x00\x00\x10abc", rng.randrange(-5, -1))  # negative stream id


_STARTUP = struct.pack(">HH", 1, 11) + b"CQL_VERSION" + struct.pack(">H", 5) + b"3.0.0"


def _login(sock: socket.socket, answers: _Answers) -> None:
    sock.sendall(_frame(0x01, _STARTUP, 0))
    assert answers.read(1, time.monotonic() + 5)[0][1] == 0x03  # AUTHENTICATE
    token = b"\x00fuzzer\x00" + PASSWORD.encode()
    sock.sendall(_frame(0x0F, struct.pack(">i", len(token)) + token, 0))
    assert answers.read(1, time.monotonic() + 5)[0][1] == 0x10  # AUTH_SUCCESS


def _start_v5(sock: socket.socket, answers: _Answers) -> None:
    """STARTUP in v5: from its answer on, every byte both ways travels in segments."""
    sock.sendall(_frame(0x01, _STARTUP, 0, version=5))
    assert answers.read(1, time.monotonic() + 5)[0][1] == 0x03  # AUTHENTICATE
    answers.segments = SegmentReader(compressed=False)


class _DriverProbe(threading.Thread):
    """Runs a query through the proxy in a loop while the fuzzing goes on."""

    def __init__(self, proxy: ProxyServer) -> None:
        super().__init__(daemon=True)
        self.cluster = Cluster(
            ["127.0.0.1"],
            port=proxy.port,
            auth_provider=PlainTextAuthProvider("driver", PASSWORD),
            connect_timeout=10,
            control_connection_timeout=10,
        )
        self.session = self.cluster.connect()
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[BaseException] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                row = self.session.execute("SELECT release_version FROM system.local").one()
                assert row.release_version
                self.ok += 1
            except BaseException as exc:
                self.failures.append(exc)


def test_ten_thousand_malformed_frames(proxy: ProxyServer) -> None:
    rng = random.Random(7)
    probe = _DriverProbe(proxy)
    probe.start()
    sent = protocol_errors = killers = 0
    deadline = time.monotonic() + 90
    try:
        while sent < 10_000:
            assert time.monotonic() < deadline, f"fuzzing too slow: {sent} frames"
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
                answers = _Answers(sock)
                mode = rng.randrange(3)
                version = 5 if mode == 2 else 4
                if mode == 1:
                    _login(sock, answers)  # fuzz a logged-in connection
                elif mode == 2:
                    _start_v5(sock, answers)  # fuzz frames inside v5 segments
                frames = _whole_bad_frames(rng, BATCH, version)
                payload = b"".join(frames)
                if mode == 2:
                    payload = encode_frames_as_segments(frames, compressed=False)
                sock.sendall(payload)
                got = answers.read(len(frames), time.monotonic() + 10)
                sent += len(frames)
                assert len(got) == len(frames), "every whole frame gets one answer"
                assert sorted(stream for stream, _op, _body in got) == list(range(len(frames)))
                for _stream, opcode, body in got:
                    if opcode == 0x00 and struct.unpack_from(">i", body)[0] == PROTOCOL_ERROR:
                        protocol_errors += 1
                # Then something that must end the connection, answered or not.
                killer = _connection_killers(rng)
                if mode == 2 and rng.random() < 0.5:  # a segment whose CRC does not match
                    segment = bytearray(encode_segment(killer, True, compressed=False))
                    segment[-1] ^= 0xFF
                    killer = bytes(segment)
                sock.sendall(killer)
                sock.shutdown(socket.SHUT_WR)
                answers.read(10, time.monotonic() + 10)
                assert answers.closed
                sent += 1
                killers += 1
    finally:
        probe.stop.set()
        probe.join(timeout=30)
        probe.cluster.shutdown()
    assert sent >= 10_000
    assert protocol_errors > 0.9 * (sent - killers)
    assert probe.failures == []
    assert probe.ok > 0
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(_frame(0x05, b"", 3))  # and it still answers a fresh OPTIONS
        [(stream, opcode, _body)] = _Answers(sock).read(1, time.monotonic() + 5)
    assert (stream, opcode) == (3, 0x06)


def test_unsupported_versions_are_refused_as_cassandra_refuses_them(proxy: ProxyServer) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(_frame(0x05, b"", 0, version=6))
        answers = _Answers(sock)
        [(_stream, opcode, body)] = answers.read(1, time.monotonic() + 5)
        answers.read(1, time.monotonic() + 5)
        assert answers.closed
    assert opcode == 0x00
    assert struct.unpack_from(">i", body)[0] == PROTOCOL_ERROR
    listed = ", ".join(f"{v}/v{v}" for v in proxy.protocol_versions)
    assert body[6:].decode() == (
        f"Invalid or unsupported protocol version (6); supported versions are ({listed})"
    )
