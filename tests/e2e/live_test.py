#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of the browser's live view, server side: freeholdd with the synthetic camera, its
/api/v1/live/{stream} WebSocket read the way a browser's player reads it, the fragments decoded by FFmpeg (the
burned-in frame counter and capture clock give order, losses and latency), several viewers, a slow viewer, a
resolution change, privacy mode, logout, the MJPEG fallback, and the web UI's files over HTTPS and plain HTTP.

    /usr/bin/python3 tests/e2e/live_test.py --bin build/bin/freeholdd
"""

import argparse
import gzip
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Abort, Daemon, Report, free_port, kill_children, short  # noqa: E402
from api_test import Api  # noqa: E402
from wsclient import HandshakeRefused, WebSocket  # noqa: E402

HOST = "127.0.0.1"
R = Report()
WIDTH, HEIGHT, FPS = 640, 360, 25


def read_bits(gray, width, row, bits):
    """The synthetic source's burned-in row: one block of width/80 per bit, MSB first, bright = 1."""
    block = width / 80.0
    y = int((row + 0.5) * block)
    value = 0
    for i in range(bits):
        x = int((i + 0.5) * block)
        value = (value << 1) | (1 if gray[y * width + x] > 128 else 0)
    return value


def decode(mp4_bytes, width, height, work):
    """(counter, capture clock ms) of every frame FFmpeg decodes from an init segment + fragments."""
    path = os.path.join(work, f"live-{time.monotonic_ns()}.mp4")
    with open(path, "wb") as f:
        f.write(mp4_bytes)
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         capture_output=True, timeout=60)
    frame = width * height
    frames = [out.stdout[i:i + frame] for i in range(0, len(out.stdout) - frame + 1, frame)]
    return [(read_bits(g, width, 0, 32), read_bits(g, width, 1, 48)) for g in frames], out.stderr.decode()


def probe(mp4_bytes, work):
    path = os.path.join(work, f"probe-{time.monotonic_ns()}.mp4")
    with open(path, "wb") as f:
        f.write(mp4_bytes)
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", path],
                         capture_output=True, timeout=30)
    streams = json.loads(out.stdout or b"{}").get("streams", [])
    return streams[0] if streams else {}


def sample_flags(fragment):
    """trun's first sample flags (our fragments carry duration, size and flags per sample)."""
    i = fragment.find(b"trun")
    return int.from_bytes(fragment[i + 24:i + 28], "big") if i >= 0 else None


class Viewer:
    """A live-view client on a thread of its own, recording every message with its arrival time."""

    def __init__(self, port, token, stream="main", rcvbuf=None):
        # rcvbuf: a small receive window, so that a reader that stops reading is felt by the server at once.
        self.ws = WebSocket(HOST, port, f"/api/v1/live/{stream}", {"Authorization": "Bearer " + token},
                            rcvbuf=rcvbuf)
        self.messages = []  # (arrival time, kind, payload)
        self.cond = threading.Condition()
        self.paused = threading.Event()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            if self.paused.is_set():
                time.sleep(0.05)
                continue
            self.ws.sock.settimeout(0.5)
            try:
                kind, payload = self.ws.recv()
            except (socket.timeout, TimeoutError):
                continue
            except (OSError, EOFError, ValueError):
                with self.cond:
                    self.messages.append((time.time(), "eof", None))
                    self.cond.notify_all()
                return
            with self.cond:
                self.messages.append((time.time(), kind, payload))
                self.cond.notify_all()
            if kind == "close":
                return

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def texts(self, kind=None):
        with self.cond:
            out = [json.loads(p) for _, k, p in self.messages if k == "text"]
        return [t for t in out if kind is None or t.get("type") == kind]

    def binaries(self):
        with self.cond:
            return [(t, p) for t, k, p in self.messages if k == "binary"]

    def close(self):
        self.stop = True
        self.ws.close()
        self.thread.join(2)


def fragments(msgs):
    return [m for m in msgs if m[1] == "binary"]


def start(binary, work):
    ports = {k: free_port() for k in ("https", "plain", "rtsp", "rtsps")}
    config = os.path.join(work, "freehold.toml")
    with open(config, "w") as f:
        f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {ports["https"]}\nplain_enabled = true\n'
                f'plain_port = {ports["plain"]}\n[rtsp]\nport = {ports["rtsp"]}\ntls_port = {ports["rtsps"]}\n'
                f"[stream.main]\nwidth = {WIDTH}\nheight = {HEIGHT}\nfps = {FPS}\ngop = 25\n"
                "[stream.sub]\nenabled = false\n[onvif]\nenabled = false\n[motion]\nenabled = false\n")
    # A stand-in for the built UI: the server's rules for its files do not depend on what the files say.
    ui = os.path.join(work, "ui")
    os.makedirs(os.path.join(ui, "assets"))
    page = b'<!doctype html><title>Freehold</title><script type="module" src="/assets/app-0f1e2d.js"></script>'
    with open(os.path.join(ui, "index.html"), "wb") as f:
        f.write(page)
    with open(os.path.join(ui, "index.html.gz"), "wb") as f:
        f.write(gzip.compress(page, 9))
    with open(os.path.join(ui, "assets", "app-0f1e2d.js"), "wb") as f:
        f.write(b"document.title = 'live';\n")
    daemon = Daemon(binary, os.path.join(work, "state"), config, ["--webui", ui])
    daemon.start()
    ok = daemon.wait_for(daemon.out, r"Press Ctrl-C")
    m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", "\n".join(daemon.out))
    R.require("freeholdd starts with the synthetic camera and prints the admin credentials", ok and m,
              short(daemon.log_text(), 1500))
    return daemon, ports, m.group(1), m.group(2), page


def check_files(api, page):
    r = api.call("GET", "/", headers={"Accept-Encoding": "gzip"})
    R.check("GET / over HTTPS: the UI's page, gzip-encoded as the browser asked",
            r.status == 200 and r.header("Content-Encoding") == "gzip" and gzip.decompress(r.body) == page, repr(r))
    csp = r.header("Content-Security-Policy") or ""
    R.check("its CSP allows scripts from this device only and no inline script",
            "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'self'" in csp, csp)
    R.check("the page is revalidated (no-cache) and has an ETag",
            r.header("Cache-Control") == "no-cache" and r.header("ETag"), str(r.headers))
    again = api.call("GET", "/", headers={"If-None-Match": r.header("ETag") or "x"})
    R.check("a matching If-None-Match: 304 without a body", again.status == 304 and not again.body, repr(again))
    js = api.call("GET", "/assets/app-0f1e2d.js")
    R.check("hashed assets are immutable for a year",
            js.status == 200 and "immutable" in (js.header("Cache-Control") or "") and
            (js.header("Content-Type") or "").startswith("text/javascript"), str(js.headers))
    plain = api.call("GET", "/settings?x=1", tls=False)
    R.check("plain HTTP: every page redirects (308) to the same path over HTTPS",
            plain.status == 308 and plain.header("Location") == f"https://{HOST}:{api.https_port}/settings",
            repr(plain) + str(plain.headers))
    live = api.call("GET", "/api/v1/live/main", tls=False)
    R.check("plain HTTP: the live view is not served there", live.status == 404, repr(live))


def said(port, token, stream):
    """The first message of a live socket and its close code."""
    ws = WebSocket(HOST, port, f"/api/v1/live/{stream}", {"Authorization": "Bearer " + token})
    msgs = ws.messages(5)
    ws.close()
    first = json.loads(msgs[0][1]) if msgs and msgs[0][0] == "text" else {}
    return first, ws.close_code


def check_refusals(api, port, token):
    def refused(path, headers):
        try:
            WebSocket(HOST, port, path, headers).close()
            return None
        except HandshakeRefused as e:
            return e
    e = refused("/api/v1/live/main", {})
    R.check("no session: the upgrade is refused with 401", e and e.status == 401, str(e and e.body))
    e = refused("/api/v1/live/main", {"Authorization": "Bearer " + token, "Origin": "https://attacker.example"})
    R.check("a page from another origin: 403 origin", e and e.status == 403 and "origin" in e.body, str(e and e.body))
    first, code = said(port, token, "nope")
    R.check("an unknown stream: the socket says not_found (a browser cannot read a refused upgrade), then closes",
            first.get("type") == "error" and first.get("code") == "not_found" and code == 1000, f"{first} {code}")
    r = api.call("GET", "/api/v1/live/main", token=token)
    R.check("a plain GET (no Upgrade): 426 naming the MJPEG alternative",
            r.status == 426 and ".mjpeg" in r.message(), repr(r))
    r = api.call("GET", "/api/v1/live/main", token=token, headers={"Upgrade": "websocket"})
    R.check("Upgrade: websocket without the rest of an upgrade (no Connection: upgrade, no key): 426, no 101",
            r.status == 426, repr(r))


def check_one_viewer(port, token, work):
    v = Viewer(port, token)
    try:
        got = v.wait(lambda ms: len(fragments(ms)) >= 4 * FPS + 1, 15)
        R.require("a viewer receives fragments (4 s worth)", got, str([m[1] for m in v.messages[:5]]))
        kinds = [m[1] for m in v.messages]
        R.check("the first message is the init announcement, then the init segment",
                kinds[:2] == ["text", "binary"] and json.loads(v.messages[0][2])["type"] == "init", str(kinds[:4]))
        init = v.texts("init")[0]
        R.check("init names the size, rate and an avc1 MIME type for MediaSource.isTypeSupported",
                init["width"] == WIDTH and init["height"] == HEIGHT and init["fps"] == FPS and
                re.fullmatch(r'video/mp4; codecs="avc1\.[0-9a-f]{6}"', init["mime"]), str(init))
        bins = v.binaries()
        R.check("the first fragment is a keyframe (sample depends on no other)",
                sample_flags(bins[1][1]) == 0x02000000, hex(sample_flags(bins[1][1]) or 0))
        info = probe(b"".join(p for _, p in bins), work)
        R.check("ffprobe: H.264 at the stream's size", info.get("codec_name") == "h264" and
                info.get("width") == WIDTH and info.get("height") == HEIGHT, str(info)[:300])
        frames, err = decode(b"".join(p for _, p in bins), WIDTH, HEIGHT, work)
        R.check("FFmpeg decodes every fragment without an error", len(frames) == len(bins) - 1 and not err,
                f"{len(frames)} frames of {len(bins) - 1} fragments; {short(err)}")
        counters = [c for c, _ in frames]
        gaps = [b - a for a, b in zip(counters, counters[1:]) if b - a != 1]
        R.check("the burned-in counter runs on without a gap: no frame lost", counters and not gaps,
                f"{counters[:5]}...; gaps {gaps[:5]}")
        # Capture (burned-in UTC ms) to arrival at the client, per frame: what the server adds to a browser's delay.
        lat = sorted(arrival * 1000 - clock for (arrival, _), (_, clock) in zip(bins[1:], frames))
        if lat:
            p50, p95 = statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]
            print(f"      capture -> WebSocket client: median {p50:.1f} ms, p95 {p95:.1f} ms, max {lat[-1]:.1f} ms "
                  f"over {len(lat)} frames")
            R.check("capture to client: median under 100 ms", p50 < 100, f"{p50:.1f} ms")
        stats = v.texts("stats")
        R.check("stats about once a second: fps near the stream's, bitrate, no drops, times",
                len(stats) >= 2 and abs(stats[-1]["fps"] - FPS) <= 5 and stats[-1]["bitrate_kbps"] > 0 and
                stats[-1]["dropped"] == 0 and 0 <= stats[-1]["server_time_ms"] - stats[-1]["capture_time_ms"] < 1000,
                str(stats[-2:]))
    finally:
        v.close()


def check_many_and_slow(api, port, token):
    slow = Viewer(port, token, rcvbuf=16384)
    many = [Viewer(port, token) for _ in range(3)]
    try:
        ok = all(x.wait(lambda ms: len(fragments(ms)) >= 10, 10) for x in many + [slow])
        R.require("four viewers at once all receive the stream", ok)
        st = api.call("GET", "/api/v1/streams", token=token)
        main = next((s for s in (st.json or {}).get("streams", []) if s.get("name") == "main"), {})
        R.check("GET /api/v1/streams counts them as live viewers", main.get("live_viewers") == 4, str(main)[:300])
        slow.paused.set()
        time.sleep(8)  # 200 frames, about 2 MB: more than the send buffer holds and the 2 s a viewer may lag
        mark = len(slow.messages)
        slow.paused.clear()
        got = slow.wait(lambda ms: any(k == "text" and json.loads(p).get("type") == "stats" and
                                       json.loads(p)["dropped"] > 0 for _, k, p in ms[mark:]), 10)
        R.check("a viewer that stops reading is skipped ahead and told how many frames it lost", got,
                str(slow.texts("stats")[-2:]))
        resumed = [p for _, k, p in slow.messages[mark:] if k == "binary"]
        flags = [sample_flags(p) for p in resumed]
        first_key = next((i for i, f in enumerate(flags) if f == 0x02000000), None)
        R.check("after the skip it goes on from a keyframe", first_key is not None, str([hex(f or 0) for f in flags[:8]]))
        others = [x.texts("stats")[-1]["dropped"] if x.texts("stats") else None for x in many]
        R.check("the other viewers lost nothing meanwhile", others == [0, 0, 0], str(others))
    finally:
        for x in many + [slow]:
            x.close()


def check_changes(api, port, token, work):
    v = Viewer(port, token)
    try:
        R.require("a viewer is watching", v.wait(lambda ms: len(fragments(ms)) >= 5, 10))
        r = api.call("PATCH", "/api/v1/config", {"stream.main.width": 320, "stream.main.height": 180}, token=token)
        R.check("PATCH the main stream to 320x180", r.status == 200, repr(r))
        got = v.wait(lambda ms: any(k == "text" and json.loads(p).get("type") == "init" and
                                    json.loads(p)["width"] == 320 for _, k, p in ms), 10)
        R.check("the viewer gets a new init for 320x180 without reconnecting", got, str(v.texts("init")))
        if got:
            i = next(i for i, (_, k, p) in enumerate(v.messages)
                     if k == "text" and json.loads(p).get("type") == "init" and json.loads(p)["width"] == 320)
            v.wait(lambda ms: len(fragments(ms[i:])) >= 10, 5)
            tail = b"".join(p for _, k, p in v.messages[i:] if k == "binary")
            frames, err = decode(tail, 320, 180, work)
            R.check("what follows decodes at 320x180", len(frames) >= 5 and not err, f"{len(frames)}; {short(err)}")
        mark = len(v.messages)
        r = api.call("PATCH", "/api/v1/config", {"privacy.enabled": True}, token=token)
        R.check("privacy mode on", r.status == 200, repr(r))
        got = v.wait(lambda ms: any(k == "close" or k == "eof" for _, k, _p in ms[mark:]), 5)
        errors = v.texts("error")
        R.check("privacy mode ends the live view with the reason, then a normal close",
                got and errors and errors[-1]["code"] == "refused" and "privacy" in errors[-1]["message"] and
                v.ws.close_code == 1000, f"{errors} close={v.ws.close_code}")
        first, code = said(port, token, "main")
        R.check("while it is on, a new viewer is told privacy_mode and the socket closes",
                first.get("code") == "privacy_mode" and code == 1000, f"{first} {code}")
        r = api.call("GET", "/api/v1/live/main", token=token)
        R.check("a plain GET says so before any upgrade (503 privacy_mode)",
                r.status == 503 and (r.json or {}).get("error") == "privacy_mode", repr(r))
        api.call("PATCH", "/api/v1/config", {"privacy.enabled": False, "stream.main.width": WIDTH,
                                             "stream.main.height": HEIGHT}, token=token)
    finally:
        v.close()


def check_logout(api, port, password):
    token = api.login("admin", password).json["token"]
    v = Viewer(port, token)
    try:
        R.require("a viewer with a fresh session is watching", v.wait(lambda ms: len(fragments(ms)) >= 3, 10))
        api.call("DELETE", "/api/v1/session", token=token)
        t0 = time.monotonic()
        got = v.wait(lambda ms: any(k in ("close", "eof") for _, k, _p in ms), 5)
        R.check("logging out ends the live view at once", got, f"after {time.monotonic() - t0:.1f} s")
    finally:
        v.close()


def check_mjpeg(api, token):
    import http.client
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(HOST, api.https_port, timeout=10, context=ctx)
    conn.request("GET", "/api/v1/live/main.mjpeg", headers={"Authorization": "Bearer " + token})
    r = conn.getresponse()
    ctype = r.getheader("Content-Type") or ""
    data, t0 = b"", time.monotonic()
    while time.monotonic() - t0 < 2.5:
        chunk = r.read1(65536)
        if not chunk:
            break
        data += chunk
    conn.close()
    parts = re.findall(rb"--freehold-frame\r\nContent-Type: image/jpeg\r\nContent-Length: (\d+)\r\n"
                       rb"X-Picture-Time: (\d+)\r\n\r\n", data)
    jpegs = [i for i in range(len(data)) if data.startswith(b"\xff\xd8\xff", i)]
    R.check("MJPEG fallback: multipart/x-mixed-replace with a boundary",
            r.status == 200 and ctype.startswith("multipart/x-mixed-replace; boundary=freehold-frame"), ctype)
    times = [int(t) for _, t in parts]
    R.check("about 5 JPEG pictures a second, each a JPEG, newer each time",
            len(parts) >= 8 and len(jpegs) >= len(parts) and times == sorted(times) and len(set(times)) == len(times),
            f"{len(parts)} parts in 2.5 s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/bin/freeholdd")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="freehold-live-")
    daemon = None
    t0 = time.monotonic()
    try:
        daemon, ports, user, password, page = start(os.path.abspath(args.bin), work)
        api = Api(ports["https"], ports["plain"])
        token = api.login(user, password).json["token"]
        check_files(api, page)
        check_refusals(api, ports["https"], token)
        check_one_viewer(ports["https"], token, work)
        check_many_and_slow(api, ports["https"], token)
        check_changes(api, ports["https"], token, work)
        check_mjpeg(api, token)
        check_logout(api, ports["https"], password)
        time.sleep(1)
        st = api.call("GET", "/api/v1/streams", token=token)
        main_stream = next((s for s in (st.json or {}).get("streams", []) if s.get("name") == "main"), {})
        R.check("with every viewer gone the stream has no reader left (the encoder idles)",
                main_stream.get("readers") == 0 and main_stream.get("live_viewers") == 0, str(main_stream)[:300])
        R.check("freeholdd is still running", daemon.running())
    except Abort:
        pass
    except Exception as e:  # a crash of the test itself is a failure, with its reason
        R.check("the test ran to its end", False, f"{type(e).__name__}: {e}")
    finally:
        if daemon:
            if R.failed:
                print(daemon.log_text()[-3000:])
            daemon.stop()
        kill_children()
        shutil.rmtree(work, ignore_errors=True)
    print(f"({time.monotonic() - t0:.0f} s)")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
