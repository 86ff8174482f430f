"""A SHA-256 whose running state is saved in the database between tus PATCHes (any replica resumes it).

hashlib objects cannot be serialised, so the state would otherwise be tied to one process. OpenSSL's
SHA256_CTX is a plain 112-byte struct: we drive it through ctypes (same speed as hashlib) and store its
bytes. Where libcrypto cannot be loaded, a pure-Python SHA-256 with the same interface takes over (slow,
but correct); the saved state names its engine, so a state is never continued by the other one.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import struct
from typing import Any

_CTX_SIZE = 112  # sizeof(SHA256_CTX): h[8], Nl, Nh, data[16], num, md_len (all 32-bit)


def _load_libcrypto() -> Any | None:
    for name in (ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.dylib"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            for fn in (lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final):
                fn.restype = ctypes.c_int
            lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
            return lib
        except (OSError, AttributeError):
            continue
    return None


_LIB = _load_libcrypto()


class ResumableSha256:
    """update() like hashlib; state() → str to keep; ResumableSha256.resume(str) → continue."""

    def __init__(self, engine: str | None = None) -> None:
        self.engine = engine or ("openssl" if _LIB is not None else "python")
        if self.engine == "openssl":
            if _LIB is None:
                raise RuntimeError("libcrypto is not available to continue this hash state")
            self._ctx = ctypes.create_string_buffer(_CTX_SIZE)
            _LIB.SHA256_Init(self._ctx)
        else:
            self._py = _PySha256()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self.engine == "openssl":
            if isinstance(data, bytes):  # ctypes passes bytes as a char pointer without copying
                _LIB.SHA256_Update(self._ctx, data, len(data))  # type: ignore[union-attr]
                return
            view = memoryview(data).cast("B")
            if view.readonly:
                buf = (ctypes.c_char * len(view)).from_buffer_copy(view)
            else:
                buf = (ctypes.c_char * len(view)).from_buffer(view)
            _LIB.SHA256_Update(self._ctx, buf, len(view))  # type: ignore[union-attr]
        else:
            self._py.update(bytes(data))

    def hexdigest(self) -> str:
        if self.engine == "openssl":
            ctx = ctypes.create_string_buffer(self._ctx.raw, _CTX_SIZE)  # Final destroys the context
            out = ctypes.create_string_buffer(32)
            _LIB.SHA256_Final(out, ctx)  # type: ignore[union-attr]
            return out.raw.hex()
        return self._py.hexdigest()

    def state(self) -> str:
        raw = self._ctx.raw if self.engine == "openssl" else self._py.state()
        return f"{self.engine}:{base64.b64encode(raw).decode('ascii')}"

    @classmethod
    def resume(cls, saved: str) -> ResumableSha256:
        if not saved:
            return cls()
        engine, _, encoded = saved.partition(":")
        raw = base64.b64decode(encoded)
        obj = cls(engine)
        if engine == "openssl":
            if len(raw) != _CTX_SIZE:
                raise ValueError("bad SHA-256 state")
            obj._ctx = ctypes.create_string_buffer(raw, _CTX_SIZE)
        else:
            obj._py = _PySha256.from_state(raw)
        return obj


_K = [
    0x428A2F98,
    0x71374491,
    0xB5C0FBCF,
    0xE9B5DBA5,
    0x3956C25B,
    0x59F111F1,
    0x923F82A4,
    0xAB1C5ED5,
    0xD807AA98,
    0x12835B01,
    0x243185BE,
    0x550C7DC3,
    0x72BE5D74,
    0x80DEB1FE,
    0x9BDC06A7,
    0xC19BF174,
    0xE49B69C1,
    0xEFBE4786,
    0x0FC19DC6,
    0x240CA1CC,
    0x2DE92C6F,
    0x4A7484AA,
    0x5CB0A9DC,
    0x76F988DA,
    0x983E5152,
    0xA831C66D,
    0xB00327C8,
    0xBF597FC7,
    0xC6E00BF3,
    0xD5A79147,
    0x06CA6351,
    0x14292967,
    0x27B70A85,
    0x2E1B2138,
    0x4D2C6DFC,
    0x53380D13,
    0x650A7354,
    0x766A0ABB,
    0x81C2C92E,
    0x92722C85,
    0xA2BFE8A1,
    0xA81A664B,
    0xC24B8B70,
    0xC76C51A3,
    0xD192E819,
    0xD6990624,
    0xF40E3585,
    0x106AA070,
    0x19A4C116,
    0x1E376C08,
    0x2748774C,
    0x34B0BCB5,
    0x391C0CB3,
    0x4ED8AA4A,
    0x5B9CCA4F,
    0x682E6FF3,
    0x748F82EE,
    0x78A5636F,
    0x84C87814,
    0x8CC70208,
    0x90BEFFFA,
    0xA4506CEB,
    0xBEF9A3F7,
    0xC67178F2,
]
_H0 = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
_M = 0xFFFFFFFF


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & _M


class _PySha256:
    """FIPS 180-4 SHA-256 in Python; state = 8 words + total length + the unprocessed tail (< 64 bytes)."""

    def __init__(self) -> None:
        self.h = list(_H0)
        self.length = 0
        self.buffer = b""

    def update(self, data: bytes) -> None:
        self.length += len(data)
        data = self.buffer + data
        full = len(data) - len(data) % 64
        for i in range(0, full, 64):
            self._block(data[i : i + 64])
        self.buffer = data[full:]

    def _block(self, block: bytes) -> None:
        w = list(struct.unpack(">16I", block)) + [0] * 48
        for i in range(16, 64):
            s0 = _rotr(w[i - 15], 7) ^ _rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            s1 = _rotr(w[i - 2], 17) ^ _rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & _M
        a, b, c, d, e, f, g, h = self.h
        for i in range(64):
            t1 = (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + _K[i] + w[i]) & _M
            t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & _M
            h, g, f, e, d, c, b, a = g, f, e, (d + t1) & _M, c, b, a, (t1 + t2) & _M
        self.h = [(x + y) & _M for x, y in zip(self.h, (a, b, c, d, e, f, g, h), strict=True)]

    def hexdigest(self) -> str:
        clone = _PySha256.from_state(self.state())
        pad = b"\x80" + b"\x00" * ((55 - clone.length) % 64) + struct.pack(">Q", clone.length * 8)
        clone.update(pad)
        return b"".join(struct.pack(">I", x) for x in clone.h).hex()

    def state(self) -> bytes:
        return struct.pack(">8IQ", *self.h, self.length) + self.buffer

    @classmethod
    def from_state(cls, raw: bytes) -> _PySha256:
        obj = cls()
        *h, obj.length = struct.unpack(">8IQ", raw[:40])
        obj.h = list(h)
        obj.buffer = raw[40:]
        return obj
