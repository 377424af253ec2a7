# SPDX-License-Identifier: GPL-3.0-or-later
"""A minimal WebSocket client (RFC 6455) over TLS, standard library only: enough to read the device's live view
the way a browser does, and to see exactly what the server sends (status line, frames, close code)."""
import base64
import hashlib
import os
import socket
import ssl
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    def __init__(self, status, head, body):
        super().__init__(f"HTTP {status}")
        self.status, self.head, self.body = status, head, body


class WebSocket:
    def __init__(self, host, port, path, headers=None, timeout=10.0, rcvbuf=None):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # set before connecting, so that the window the server sees stays small
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(timeout)
        raw.connect((host, port))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(raw)
        self.sock.settimeout(timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._until(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = self._exactly(length) if length else b""
            self.sock.close()
            raise HandshakeRefused(status, head.decode("latin-1"), body.decode("utf-8", "replace"))
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        fields = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if fields.get("sec-websocket-accept") != accept:
            raise ValueError("wrong Sec-WebSocket-Accept: " + repr(fields.get("sec-websocket-accept")))
        self.headers = fields
        self.close_code = None

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _until(self, marker):
        while marker not in self.buf:
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self):
        """The next message: ("text", str), ("binary", bytes) or ("close", code). Answers pings."""
        data, kind = b"", None
        while True:
            b0, b1 = self._exactly(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if b1 & 0x80:
                raise ValueError("a server must not mask its frames")
            if n == 126:
                n = struct.unpack("!H", self._exactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exactly(8))[0]
            payload = self._exactly(n)
            if opcode == 0x9:
                self._send(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return ("close", self.close_code)
            if opcode in (0x1, 0x2):
                kind = "text" if opcode == 0x1 else "binary"
            data += payload
            if b0 & 0x80:
                return (kind, data.decode() if kind == "text" else data)

    def messages(self, seconds):
        """Every message for `seconds` (or until the server closes)."""
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                m = self.recv()
            except (socket.timeout, TimeoutError):
                break
            out.append(m)
            if m[0] == "close":
                break
        return out

    def close(self):
        try:
            self._send(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()
