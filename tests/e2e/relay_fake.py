#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for freehold-relay written from docs/relay-protocol.md alone (standard library only, no code shared
with src/relay/), for e2e.relay's tampering checks: a relay that misbehaves on purpose.

It speaks the link protocol well enough for freeholdd and `freehold connect` to use it: TLS 1.3 with a self-signed
P-256 certificate made by `openssl req`, hello / challenge / auth / ready on every link (the signature is not
checked: no allow-lists), then it splices sessions between the one device link and any number of client links,
numbering sessions on the device link itself and answering pings. One thread runs asyncio's event loop, so each TLS
connection is only ever used by that thread; another reads the commands.

    python3 relay_fake.py --dir DIR [--listen 127.0.0.1:0]

It prints `listening PORT FINGERPRINT` once ready, then one line per event (`link device`, `link client`,
`open csid=C dsid=D`, `tampered flip|drop dsid=D frame=N`, `impersonated csid=C`). Commands on stdin, one a line,
each acknowledged with `ok <command>`:

    pass          forward everything unchanged (the default)
    flip N        flip one bit in the payload of the Nth data frame of each session, device -> client
    drop N        silently drop the Nth data frame of each session, device -> client
    impersonate   answer a client's open itself (an accept of 80 random bytes) instead of forwarding it
"""

import argparse
import asyncio
import hashlib
import os
import ssl
import struct
import subprocess
import sys
import threading

HELLO, CHALLENGE, AUTH, READY = 0x01, 0x02, 0x03, 0x04
OPEN, ACCEPT, DATA, CREDIT, CLOSE = 0x10, 0x11, 0x12, 0x13, 0x14
PING, PONG = 0x20, 0x21
DEVICE, CLIENT = 1, 2
DEVICE_OFFLINE = 1
HANDSHAKE_S = 10


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


class FakeRelay:
    def __init__(self):
        self.mode, self.nth = "pass", 0
        self.device = None
        self.next_dsid = 1
        self.by_client = {}  # (client link, client session) -> device session
        self.by_device = {}  # device session -> (client link, client session)
        self.frames = {}     # device session -> data frames sent device -> client so far

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

    def forget(self, dsid):
        entry = self.by_device.pop(dsid, None)
        self.frames.pop(dsid, None)
        if entry:
            self.by_client.pop(entry, None)

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
            dsid = self.next_dsid
            self.next_dsid += 1
            self.by_client[(link, sid)] = dsid
            self.by_device[dsid] = (link, sid)
            self.frames[dsid] = 0
            self.device.send(OPEN, dsid, payload)
            say(f"open csid={sid} dsid={dsid}")
            return
        dsid = self.by_client.get((link, sid))
        if dsid is None or self.device is None:
            return
        self.device.send(ftype, dsid, payload)
        if ftype == CLOSE:
            self.forget(dsid)

    def from_device(self, ftype, dsid, payload):
        entry = self.by_device.get(dsid)
        if entry is None:
            return
        client, csid = entry
        if ftype == DATA:
            self.frames[dsid] += 1
            n = self.frames[dsid]
            if self.mode == "flip" and n == self.nth:
                payload = bytearray(payload)
                payload[0] ^= 0x01
                say(f"tampered flip dsid={dsid} frame={n}")
            elif self.mode == "drop" and n == self.nth:
                say(f"tampered drop dsid={dsid} frame={n}")
                return
        client.send(ftype, csid, payload)
        if ftype == CLOSE:
            self.forget(dsid)

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
            for dsid, (client, csid) in list(self.by_device.items()):
                client.send(CLOSE, csid, bytes([DEVICE_OFFLINE]) + b"the device's link ended")
                self.forget(dsid)
        elif link.role == CLIENT:
            for (client, csid), dsid in list(self.by_client.items()):
                if client is link:
                    if self.device is not None:
                        self.device.send(CLOSE, dsid, bytes([0]) + b"the client's link ended")
                    self.forget(dsid)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="where the certificate and key are kept")
    ap.add_argument("--listen", default="127.0.0.1:0")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    cert, key, fingerprint = make_certificate(args.dir)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_3
    tls.load_cert_chain(cert, key)
    relay = FakeRelay()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(relay.serve, host, int(port), ssl=tls))
    say(f"listening {server.sockets[0].getsockname()[1]} {fingerprint}")

    def commands():
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(relay.command, line.strip())
        loop.call_soon_threadsafe(loop.stop)  # stdin closed: the test is gone

    threading.Thread(target=commands, daemon=True).start()
    try:
        loop.run_forever()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
