#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Event latency: from the picture that shows motion starting (or ending) to an SSE client holding the event.

freeholdd runs the synthetic camera (its box moves 4 s, rests 4 s) with motion.min_duration_ms = 0, so an event's
`time` is the capture time of the very picture the detector decided on (the source stamps each picture with the
instant it was due). A client on loopback reads GET /api/v1/events as server-sent events; latency = arrival on the
client's clock - `time` (same host clock). That covers the hand-over to the analytics thread, the motion and tamper
detectors, the snapshot JPEG, the post to the I/O thread, the bus and the stream. Not included: the wait for the
next analysed picture (up to 1/motion.fps after the box starts) and motion.min_duration_ms, both settings.

    python3 bench/event_latency.py --bin build/bin/freeholdd [--events 12] [--fps 5]
"""

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from common import Daemon, free_port, kill_children  # noqa: E402

GOAL_MS = 50.0
HOST = "127.0.0.1"
TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


def request(port, method, path, body=None, token=None):
    s = TLS.wrap_socket(socket.create_connection((HOST, port), timeout=10), server_hostname=HOST)
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\nContent-Length: {len(data)}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    buf = b""
    while chunk := s.recv(65536):
        buf += chunk
    s.close()
    status = int(buf.split(b" ", 2)[1])
    return status, json.loads(buf.split(b"\r\n\r\n", 1)[1] or b"null")


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--events", type=int, default=12, help="motion starts and ends to measure (one every ~4 s)")
    ap.add_argument("--fps", type=int, default=5, help="motion.fps")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="freehold-event-latency-")
    daemon = None
    try:
        https, rtsp, rtsps = free_port(), free_port(), free_port()
        config = os.path.join(work, "freehold.toml")
        with open(config, "w") as f:
            f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {https}\n[rtsp]\nport = {rtsp}\ntls_port = {rtsps}\n'
                    f"[motion]\nmin_duration_ms = 0\nfps = {a.fps}\n[person]\nenabled = false\n"
                    "[onvif]\nenabled = false\n")
        daemon = Daemon(os.path.abspath(a.bin), os.path.join(work, "state"), config)
        daemon.start()
        if not daemon.wait_for(daemon.out, r"Press Ctrl-C"):
            print("freeholdd did not start:", daemon.log_text()[-2000:])
            return 1
        m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", "\n".join(daemon.out))
        status, session = request(https, "POST", "/api/v1/session", {"username": m.group(1), "password": m.group(2)})
        if status not in (200, 201):
            print("login failed:", status, session)
            return 1
        s = TLS.wrap_socket(socket.create_connection((HOST, https), timeout=30), server_hostname=HOST)
        s.sendall((f"GET /api/v1/events HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n"
                   f"Authorization: Bearer {session['token']}\r\n\r\n").encode())
        buf, lat, kinds = b"", [], []
        deadline = time.monotonic() + a.events * 4 + 20
        while len(lat) < a.events and time.monotonic() < deadline:
            chunk = s.recv(65536)
            arrived = time.time()
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.decode().splitlines() if ": " in line)
                if fields.get("event") in ("motion_start", "motion_end"):
                    event = json.loads(fields["data"])
                    lat.append((arrived - parse_time(event["time"])) * 1000)
                    kinds.append(fields["event"])
        s.close()
        if not lat:
            print("no motion events arrived:", daemon.log_text()[-2000:])
            return 1
        q = sorted(lat)
        print(f"picture -> SSE client, motion.fps {a.fps}, {len(q)} events ({kinds.count('motion_start')} starts, "
              f"{kinds.count('motion_end')} ends): median {statistics.median(q):.1f} ms, "
              f"p90 {q[int(0.9 * (len(q) - 1))]:.1f} ms, max {q[-1]:.1f} ms (goal <= {GOAL_MS:.0f} ms)")
        return 0
    finally:
        kill_children()
        if daemon:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
