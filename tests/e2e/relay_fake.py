#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for freehold-relay written from docs/relay-protocol.md alone (standard library only, no code shared
with src/relay/), for e2e.relay's tampering checks: a relay that misbehaves on purpose.

It speaks the link protocol well enough for freeholdd and `freehold connect` to use it: TLS 1.3 with a self-signed
P-256 certificate made by `openssl req`, hello / challenge / auth / ready on every link (the signature is not
checked: no allow-lists), then it splices sessions between the one device link and any number of client links,
numbering sessions on the device link itself and answering pings. One thread runs asyncio's event loop, so each TLS
connection is only ever used by that thread; another reads the commands.

With --direct it also offers every session direct data connections ("Direct data connections"): a `direct` frame with
a fresh token to the device before it forwards the `open`, another to the client before it forwards the `accept`.
Both kinds of connection arrive on the one port: one that begins with "F" ("FHD1" and a token) is a direct
connection, anything else is a link and gets TLS. The two direct connections of a session are joined, FIN passed on
as a half-close and a reset as a reset, and the device -> client direction is read as u16 BE length-prefixed
transport messages so that the commands below tamper with messages there instead of with data frames.

    python3 relay_fake.py --dir DIR [--listen 127.0.0.1:0] [--direct]

It prints `listening PORT FINGERPRINT` once ready, then one line per event (`link device`, `link client`,
`open csid=C dsid=D`, `direct csid=C dsid=D` when a session's direct connections are joined, `direct_failed dsid=D`,
`tampered flip|drop dsid=D frame=N`, `impersonated csid=C`). Commands on stdin, one a line, each acknowledged with
`ok <command>`:

    pass          forward everything unchanged (the default)
    flip N        flip one bit in the payload of the Nth data frame (or direct transport message, not its length) of
                  each session, device -> client
    drop N        silently drop the Nth data frame (or direct transport message, length and all) of each session,
                  device -> client
    impersonate   answer a client's open itself (an accept of 80 random bytes) instead of forwarding it
"""

import argparse
import asyncio
import hashlib
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading

HELLO, CHALLENGE, AUTH, READY = 0x01, 0x02, 0x03, 0x04
OPEN, ACCEPT, DATA, CREDIT, CLOSE, DIRECT = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15
PING, PONG = 0x20, 0x21
DEVICE, CLIENT = 1, 2
DEVICE_OFFLINE, DIRECT_FAILED = 1, 12
HANDSHAKE_S = 10  # TLS handshake, each frame of the link set-up, the 20 bytes of a direct connection
DIRECT_S = 15     # from the offer until both direct connections are there
MAGIC = b"FHD1"


def say(text):
    print(text, flush=True)


def make_certificate(directory):
    """A self-signed P-256 certificate and key; returns (cert, key, fingerprint "AB:CD:…")."""
    os.makedirs(directory, exist_ok=True)
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    if not (os.path.exists(cert) and os.path.exists(key)):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "1", "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    digest = hashlib.sha256(der).hexdigest().upper()
    return cert, key, ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


class Link:
    """One framed TLS connection: an 8-byte header (type, 0, length u16 BE, session u32 BE), then the payload."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.role = None

    async def read(self):
        header = await self.reader.readexactly(8)
        ftype, reserved, length, session = struct.unpack(">BBHI", header)
        if reserved:
            raise ConnectionError("reserved header byte is not 0")
        return ftype, session, await self.reader.readexactly(length) if length else b""

    def send(self, ftype, session, payload=b""):
        if not self.writer.is_closing():
            self.writer.write(struct.pack(">BBHI", ftype, 0, len(payload), session) + bytes(payload))


async def peek(sock):
    """The first byte of an accepted (non-blocking) socket, left unread; b"" if the peer closed."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: readable.done() or readable.set_result(None))
    try:
        await readable
    finally:
        loop.remove_reader(sock.fileno())
    return sock.recv(1, socket.MSG_PEEK)


def reset(writer):
    """Ends a connection with a TCP RST (SO_LINGER 0), as the doc asks for a reset passed on."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class Session:
    """A session: the client's link and its number there, its number on the device link, its direct connections."""

    def __init__(self, client, csid, dsid):
        self.client, self.csid, self.dsid = client, csid, dsid
        self.frames = 0     # data frames, or direct transport messages, sent device -> client so far
        self.tokens = []    # the tokens offered for its direct connections, while unused
        self.conns = {}     # "device" / "client" -> (reader, writer): its direct connections
        self.timer = None   # direct_failed, unless both direct connections arrive in time


class FakeRelay:
    def __init__(self, direct):
        self.direct = direct
        self.mode, self.nth = "pass", 0
        self.device = None
        self.next_dsid = 1
        self.by_client = {}  # (client link, client session) -> Session
        self.by_device = {}  # device session -> Session
        self.tokens = {}     # direct token -> (Session, "device" or "client")
        self.tasks = set()   # one per accepted connection (the loop keeps only weak references)

    def command(self, line):
        words = line.split()
        if words and words[0] in ("pass", "impersonate") and len(words) == 1:
            self.mode, self.nth = words[0], 0
        elif len(words) == 2 and words[0] in ("flip", "drop") and words[1].isdigit() and int(words[1]) > 0:
            self.mode, self.nth = words[0], int(words[1])
        else:
            say(f"error unknown command {line!r}")
            return
        say(f"ok {line}")

    def tamper(self, s, payload):
        """The device -> client payload of data frame or direct message number s.frames, as it is to be sent on,
        or None to drop it."""
        s.frames += 1
        if self.mode == "flip" and s.frames == self.nth:
            payload = bytearray(payload)
            payload[0] ^= 0x01
            say(f"tampered flip dsid={s.dsid} frame={s.frames}")
        elif self.mode == "drop" and s.frames == self.nth:
            say(f"tampered drop dsid={s.dsid} frame={s.frames}")
            return None
        return payload

    def offer(self, s, link, sid, side):
        token = os.urandom(16)
        self.tokens[token] = (s, side)
        s.tokens.append(token)
        link.send(DIRECT, sid, token)

    def forget(self, s):
        """The session is over at the relay: its unused tokens go, its direct connections are reset."""
        if self.by_device.get(s.dsid) is s:
            del self.by_device[s.dsid]
            self.by_client.pop((s.client, s.csid), None)
        for token in s.tokens:
            self.tokens.pop(token, None)
        if s.timer:
            s.timer.cancel()
        for _, writer in s.conns.values():
            reset(writer)
        s.conns.clear()

    def direct_failed(self, s):
        if len(s.conns) < 2 and self.by_device.get(s.dsid) is s:
            say(f"direct_failed dsid={s.dsid}")
            text = b"the direct data connections did not both arrive"
            s.client.send(CLOSE, s.csid, bytes([DIRECT_FAILED]) + text)
            if self.device is not None:
                self.device.send(CLOSE, s.dsid, bytes([DIRECT_FAILED]) + text)
            self.forget(s)

    def from_client(self, link, ftype, sid, payload):
        if ftype == OPEN:
            if self.mode == "impersonate":
                # Noise message 2 is e (32 bytes) and an encrypted payload (at least its 16-byte tag): random bytes
                # of that shape, made without the device's key.
                link.send(ACCEPT, sid, os.urandom(32 + 48))
                say(f"impersonated csid={sid}")
                return
            if self.device is None:
                link.send(CLOSE, sid, bytes([DEVICE_OFFLINE]) + b"no device link")
                return
            s = Session(link, sid, self.next_dsid)
            self.next_dsid += 1
            self.by_client[(link, sid)] = self.by_device[s.dsid] = s
            if self.direct:
                self.offer(s, self.device, s.dsid, "device")
                s.timer = asyncio.get_running_loop().call_later(DIRECT_S, self.direct_failed, s)
            self.device.send(OPEN, s.dsid, payload)
            say(f"open csid={sid} dsid={s.dsid}")
            return
        s = self.by_client.get((link, sid))
        if s is None or self.device is None:
            return
        self.device.send(ftype, s.dsid, payload)
        if ftype == CLOSE:
            self.forget(s)

    def from_device(self, ftype, dsid, payload):
        s = self.by_device.get(dsid)
        if s is None:
            return
        if ftype == DATA:
            payload = self.tamper(s, payload)
            if payload is None:
                return
        elif ftype == ACCEPT and self.direct:
            self.offer(s, s.client, s.csid, "client")
        s.client.send(ftype, s.csid, payload)
        if ftype == CLOSE:
            self.forget(s)

    async def accept(self, sock, tls):
        """One accepted TCP connection: a direct connection if it begins with "F", else a link over TLS."""
        loop = asyncio.get_running_loop()
        try:
            direct = await asyncio.wait_for(peek(sock), HANDSHAKE_S) == MAGIC[:1]
            reader = asyncio.StreamReader()
            protocol = asyncio.StreamReaderProtocol(reader)
            kw = {} if direct else {"ssl": tls, "ssl_handshake_timeout": HANDSHAKE_S}
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock, **kw)
        except (asyncio.TimeoutError, OSError):
            sock.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        await (self.serve_direct if direct else self.serve)(reader, writer)

    async def serve_direct(self, reader, writer):
        try:
            first = await asyncio.wait_for(reader.readexactly(20), HANDSHAKE_S)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            writer.close()
            return
        s, side = self.tokens.pop(first[4:], (None, None)) if first[:4] == MAGIC else (None, None)
        if s is None:
            say("direct refused: not FHD1 and a token offered")
            writer.close()
            return
        s.tokens.remove(first[4:])
        s.conns[side] = (reader, writer)
        if len(s.conns) < 2:
            return  # the other side's connection joins them
        s.timer.cancel()
        say(f"direct csid={s.csid} dsid={s.dsid}")
        device, client = s.conns["device"], s.conns["client"]
        await asyncio.gather(self.pump(client, device), self.pump(device, client, s))
        for _, w in (device, client):
            w.close()
        s.conns.clear()
        self.forget(s)

    async def pump(self, src, dst, s=None):
        """Copies one direction of a joined session until it ends; with a session, reads it as length-prefixed
        transport messages and tampers with them. A FIN is passed on as a FIN, a reset (or a write that fails) resets
        both connections."""
        reader, writer = src[0], dst[1]
        try:
            while True:
                if s is None:
                    data = await reader.read(1 << 16)
                    if not data:
                        break
                else:
                    try:
                        head = await reader.readexactly(2)
                        body = await reader.readexactly(struct.unpack(">H", head)[0])
                    except asyncio.IncompleteReadError as e:  # the end, maybe inside a message: pass that on
                        writer.write(e.partial)
                        break
                    body = self.tamper(s, body)
                    data = head + body if body is not None else b""
                writer.write(data)
                await writer.drain()
            if not writer.is_closing():
                writer.write_eof()
        except OSError:
            reset(src[1])
            reset(writer)

    async def serve(self, reader, writer):
        link = Link(reader, writer)
        try:
            ftype, _, payload = await asyncio.wait_for(link.read(), HANDSHAKE_S)
            if ftype != HELLO or len(payload) != 34 or payload[0] != 1 or payload[1] not in (DEVICE, CLIENT):
                return
            link.role = payload[1]
            link.send(CHALLENGE, 0, os.urandom(32))
            ftype, _, payload = await asyncio.wait_for(link.read(), HANDSHAKE_S)
            if ftype != AUTH or len(payload) != 64:
                return
            link.send(READY, 0, bytes([1, 0, 0, 25]))  # version 1, keep-alive 25 s
            if link.role == DEVICE:
                if self.device is not None:
                    self.device.writer.close()
                self.device = link
            say(f"link {'device' if link.role == DEVICE else 'client'}")
            while True:
                ftype, sid, payload = await link.read()
                if ftype == PING:
                    link.send(PONG, 0, payload)
                elif ftype == PONG:
                    continue
                elif ftype == CLOSE and sid == 0:
                    return
                elif link.role == CLIENT:
                    self.from_client(link, ftype, sid, payload)
                elif link is self.device:
                    self.from_device(ftype, sid, payload)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, ssl.SSLError, OSError):
            return
        finally:
            self.gone(link)
            writer.close()

    def gone(self, link):
        """A link ended: its sessions end at the other side too."""
        if link.role == DEVICE and link is self.device:
            self.device = None
            for s in list(self.by_device.values()):
                s.client.send(CLOSE, s.csid, bytes([DEVICE_OFFLINE]) + b"the device's link ended")
                self.forget(s)
        elif link.role == CLIENT:
            for s in [s for s in self.by_device.values() if s.client is link]:
                if self.device is not None:
                    self.device.send(CLOSE, s.dsid, bytes([0]) + b"the client's link ended")
                self.forget(s)

    async def listen(self, listener, tls):
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(listener)
            sock.setblocking(False)
            task = loop.create_task(self.accept(sock, tls))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="where the certificate and key are kept")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--direct", action="store_true", help="offer direct data connections (docs: \"direct\" frames)")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    cert, key, fingerprint = make_certificate(args.dir)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_3
    tls.load_cert_chain(cert, key)
    relay = FakeRelay(args.direct)
    loop = asyncio.new_event_loop()
    listener = socket.create_server((host, int(port)))
    listener.setblocking(False)
    say(f"listening {listener.getsockname()[1]} {fingerprint}")

    def commands():
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(relay.command, line.strip())
        loop.call_soon_threadsafe(loop.stop)  # stdin closed: the test is gone

    threading.Thread(target=commands, daemon=True).start()
    task = loop.create_task(relay.listen(listener, tls))
    try:
        loop.run_forever()
    finally:
        task.cancel()
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
