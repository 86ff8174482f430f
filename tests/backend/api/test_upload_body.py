"""Upload bodies read straight from gunicorn's socket: the bytes, gunicorn's own bookkeeping, keep-alive."""

from __future__ import annotations

import io
import os
import socket
import threading

import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser

from backend.api.uploads.resources import _SocketBody, _StreamGuard


class CountingSocket(socket.socket):
    """Counts the bytes that went straight into a caller's buffer."""

    direct = 0

    def recv_into(self, buffer, nbytes=0, flags=0):  # type: ignore[no-untyped-def,override]
        n = super().recv_into(buffer, nbytes, flags)
        self.direct += n
        return n


def _request(body: bytes, path: str = "/api/v1/uploads/x") -> bytes:
    head = f"PATCH {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    return head + body


def _read_all(stream: _StreamGuard, length: int, piece: int) -> bytes:
    out = bytearray()
    buffer = bytearray(piece)
    while len(out) < length:
        n = stream.readinto(memoryview(buffer)[: min(piece, length - len(out))])
        if not n:
            break
        out += buffer[:n]
    return bytes(out)


@pytest.mark.parametrize("piece", [1000, 256 * 1024])
def test_body_bytes_and_keep_alive_survive_the_direct_read(piece: int) -> None:
    """The first request's headers and the start of its body arrive together (gunicorn holds those bytes), the
    rest comes straight from the socket; gunicorn then parses the pipelined second request as usual."""
    first, second = os.urandom(3 * 1024 * 1024 + 7), os.urandom(5000)
    pair, client = socket.socketpair()
    server = CountingSocket(fileno=pair.detach())
    with server, client:
        sender = threading.Thread(target=client.sendall, args=(_request(first) + _request(second, "/next"),))
        sender.start()
        parser = RequestParser(Config(), server, ("127.0.0.1", 1))
        request = next(parser)
        wrapped = _SocketBody.wrap(request.body)
        assert wrapped is not None  # gunicorn's plain Content-Length body over a socket
        assert _read_all(_StreamGuard(None, request.body), len(first), piece) == first
        assert server.direct > len(first) - 64 * 1024  # all but what gunicorn had read with the headers
        assert request.body.read(10) == b""  # gunicorn agrees the body was consumed
        following = next(parser)
        assert following.path == "/next" and following.body.read(len(second) + 1) == second
        sender.join()


def test_a_client_that_goes_away_mid_body() -> None:
    body = os.urandom(100_000)
    server, client = socket.socketpair()
    with server:
        with client:
            client.sendall(_request(body)[:-50_000])
        request = next(RequestParser(Config(), server, ("127.0.0.1", 1)))
        stream = _StreamGuard(None, request.body)
        received = _read_all(stream, len(body), 8192)
        assert received == body[:-50_000]  # what came, then end of stream (the service reports it incomplete)
        assert request.body.failed  # gunicorn will not reuse this connection


def test_other_servers_keep_the_wsgi_stream() -> None:
    assert _SocketBody.wrap(io.BytesIO(b"abc")) is None
    guard = _StreamGuard(io.BytesIO(b"abcdef"), io.BytesIO(b"abcdef"))
    buffer = bytearray(4)
    assert guard.readinto(buffer) == 4 and bytes(buffer) == b"abcd"
    assert guard.read(10) == b"ef"
