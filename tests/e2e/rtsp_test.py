#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of freeholdd's RTSP server, with real clients.

Starts the real daemon in demo mode on loopback (small streams, to spare the CPU) and plays /main and /sub with
ffprobe, ffmpeg and GStreamer over RTP/TCP (interleaved) and RTP/UDP. Every picture of the synthetic source carries
its frame counter burned in (row 0 of bit blocks, see hal::read_burned_counter), so decoded frames prove that
nothing was lost, repeated or reordered. A raw-socket client (Digest computed here) covers what players hide:
refusals, a reader that stops reading, and 200 session cycles checked against the daemon's open file descriptors.
Prints one line per check and "N passed, M failed". Standard library only; needs ffmpeg/ffprobe and gst-launch-1.0
(Debian: ffmpeg, gstreamer1.0-tools, gstreamer1.0-plugins-{base,good,bad}, gstreamer1.0-libav).

    /usr/bin/python3 tests/e2e/rtsp_test.py --bin build/bin/freeholdd
"""

import argparse
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from common import Daemon, Report, free_port, kill_children, reap, spawn, wait_until
from common import short as _short


def short(value, limit=400):
    return _short(value, limit)

HOST = "127.0.0.1"
IO_TIMEOUT = 5.0  # every socket operation
READY_TIMEOUT = 10.0
UDP_FIRST, UDP_LAST = 40000, 40999
STREAMS = {  # small, so that the daemon and eight decoders share two cores
    "main": {"width": 640, "height": 360, "fps": 20, "gop": 20},
    "sub": {"width": 320, "height": 240, "fps": 10, "gop": 10},
}
# A second daemon serves /sub as MJPEG (RFC 2435), at the same size as above so that the readers need no change.
# Its sub runs at main's rate, so its counter advances by one per frame.
MJPEG_STREAMS = {"main": STREAMS["main"], "sub": dict(STREAMS["sub"], fps=STREAMS["main"]["fps"], codec='"mjpeg"')}
MJPEG_UDP_FIRST, MJPEG_UDP_LAST = 41000, 41999
STALL_LIMIT_S = 16  # a reader that stops reading is dropped or skipped within ~15 s
MAX_FD_GROWTH = 5

R = Report()


def server_socket_inode(server_port, client_port):
    """The inode of the daemon's end of the TCP connection from client_port (IPv4 loopback), or None."""
    want_local = f"{HOST_HEX}:{server_port:04X}"
    want_remote = f"{HOST_HEX}:{client_port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want_local and fields[2] == want_remote:
                return int(fields[9])
    return None


HOST_HEX = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


# ---------------------------------------------------------------------------------------------------------------
# The burned-in counter


def burned_value(y, width, height, row, bits):
    """hal::read_burned_counter's reading of one row of bit blocks (MSB first, each 1/80 of the width, sampled at
    the block's centre): row 0 is the frame counter (32 bits), row 1 the UTC time in ms (48 bits)."""
    block = width / 80
    if block < 2 or height < (row + 1) * block:
        return None
    base = int((row + 0.5) * block) * width
    v = 0
    for i in range(bits):
        sample = y[base + int((i + 0.5) * block)]
        if 96 < sample < 160:
            return None  # neither dark nor bright: no value here
        v = (v << 1) | (1 if sample >= 160 else 0)
    return v


def burned_counter(y, width, height):
    return burned_value(y, width, height, 0, 32)


def stride(stream):
    """How far the capture's counter advances per frame of `stream`: one capture at main's rate feeds every stream,
    and sub takes every n-th picture (the rates here divide evenly)."""
    return STREAMS["main"]["fps"] // STREAMS[stream]["fps"]


def sequence_problems(counters, step=1):
    """What is wrong with a run of counters that should advance by exactly `step`: unreadable frames, gaps,
    repeats."""
    problems = []
    for i, c in enumerate(counters):
        if c is None:
            problems.append(f"frame {i}: no readable counter")
        elif i > 0 and counters[i - 1] is not None and c != counters[i - 1] + step:
            problems.append(f"frame {i}: {counters[i - 1]} -> {c}")
    return problems


class Reader:
    """A client process writing raw 8-bit gray frames to its stdout; reads the counter of each frame as it comes.

    Stops after `want` frames (killing the client if it does not exit by itself) or at `timeout`, whichever is
    first. `times[i]` is when frame i arrived (monotonic)."""

    def __init__(self, name, cmd, stream, want, timeout, exits_by_itself):
        self.name = name
        self.cmd = cmd
        self.width = STREAMS[stream]["width"]
        self.height = STREAMS[stream]["height"]
        self.step = stride(stream)
        self.want = want
        self.exits_by_itself = exits_by_itself
        self.counters = []
        self.times = []
        self.rc = None
        self.stderr = b""
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._err_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._err_thread.start()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _drain_stderr(self):
        chunks = []
        for chunk in iter(lambda: self.proc.stderr.read(4096), b""):
            if sum(map(len, chunks)) < 65536:
                chunks.append(chunk)
        self.stderr = b"".join(chunks)

    def _run(self):
        size = self.width * self.height
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while len(self.counters) < self.want:
            left = self.deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            buf += chunk
            now = time.monotonic()
            while len(buf) >= size and len(self.counters) < self.want:
                self.counters.append(burned_counter(buf, self.width, self.height))
                self.times.append(now)
                del buf[:size]
        if self.exits_by_itself and len(self.counters) >= self.want:
            try:  # ffmpeg -frames:v: let it end the session (TEARDOWN) and exit on its own
                self.proc.wait(timeout=max(0.1, min(5.0, self.deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
        self.rc = self.proc.poll()
        reap(self.proc)
        self.proc.stdout.close()

    def join(self):
        self._thread.join(timeout=max(0.0, self.deadline - time.monotonic()) + 10)
        self._err_thread.join(timeout=5)
        return self

    def problems(self):
        """Everything that makes this run a failure, in words ([] if none)."""
        out = []
        if len(self.counters) < self.want:
            out.append(f"{len(self.counters)} of {self.want} frames in {self.deadline - self.started:.0f} s")
        if self.exits_by_itself and self.rc != 0:
            out.append(f"exit status {self.rc}")
        out += sequence_problems(self.counters, self.step)[:5]
        if out:
            out.append("stderr: " + short(self.stderr.decode("utf-8", "replace").strip(), 300))
        return out


def rtsp_url(port, stream, user=None, password=None, scheme="rtsp"):
    cred = f"{user}:{password}@" if user is not None else ""
    return f"{scheme}://{cred}{HOST}:{port}/{stream}"


def ffmpeg_reader(name, url, transport, stream, frames, timeout=30):
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", transport,
           "-timeout", "5000000",  # microseconds: no I/O for this long ends it
           "-flags2", "showall",   # output every frame, even before a keyframe: a bad start shows
           "-i", url, "-map", "0:v:0", "-frames:v", str(frames), "-fps_mode", "passthrough",
           "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    return Reader(name, cmd, stream, frames, timeout, exits_by_itself=True)


GST_H264 = ["rtph264depay", "!", "h264parse", "!", "avdec_h264"]
GST_JPEG = ["rtpjpegdepay", "!", "jpegdec"]


def gst_reader(name, port, stream, user, password, protocol, frames, timeout=30, decode=GST_H264, scheme="rtsp"):
    # The device's certificate is self-signed: validation off (the fingerprint is what an owner pins).
    tls = ["tls-validation-flags=0"] if scheme == "rtsps" else []
    cmd = ["gst-launch-1.0", "-q", "rtspsrc", f"location={scheme}://{HOST}:{port}/{stream}", f"protocols={protocol}",
           f"user-id={user}", f"user-pw={password}", "latency=200", "tcp-timeout=5000000", *tls,
           "!", *decode, "!", "videoconvert", "!", "video/x-raw,format=GRAY8", "!", "fdsink", "fd=1"]
    return Reader(name, cmd, stream, frames, timeout, exits_by_itself=False)


def ffprobe(url, transport, *extra, timeout=20):
    cmd = ["ffprobe", "-hide_banner", "-v", "error", "-rtsp_transport", transport, "-timeout", "5000000",
           *extra, "-of", "json", url]
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        reap(p)
        return None, "", f"ffprobe did not finish in {timeout} s"
    try:
        data = json.loads(out) if out.strip() else {}
    except ValueError:
        data = {}
    return p.returncode, data, err


def run_parallel(fns):
    """Runs the callables on threads; returns their results in order."""
    results = [None] * len(fns)

    def body(i, fn):
        results[i] = fn()

    threads = [threading.Thread(target=body, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


# ---------------------------------------------------------------------------------------------------------------
# A raw RTSP client: what the players do, one request at a time, with RFC 2617 Digest computed here.


def md5hex(s):
    return hashlib.md5(s.encode("utf-8")).hexdigest()


class RtspError(Exception):
    pass


def udp_port_pair():
    """Two bound UDP sockets on consecutive ports, the first even (RTP, RTCP), as a player would open."""
    for _ in range(100):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((HOST, 0))
        port = rtp.getsockname()[1]
        if port % 2 == 0 and port < 65535:
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind((HOST, port + 1))
                return [rtp, rtcp]
            except OSError:
                rtcp.close()
        rtp.close()
    raise OSError("no free UDP port pair")


def rtp_packet(data):
    """(sequence, timestamp, marker, payload) of an RTP packet, or None."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    off = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10 and len(data) >= off + 4:
        off += 4 + 4 * int.from_bytes(data[off + 2:off + 4], "big")
    return (int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:8], "big"), bool(data[1] & 0x80),
            data[off:])


def starts_keyframe(payload):
    """Whether an H.264 RTP payload (RFC 6184) begins an IDR access unit: SPS, a STAP-A that starts with one,
    an IDR slice, or the first fragment of one."""
    if not payload:
        return False
    t = payload[0] & 0x1F
    if t in (7, 5):
        return True
    if t == 24 and len(payload) > 3:
        return payload[3] & 0x1F in (7, 5)
    if t == 28 and len(payload) > 1:
        return bool(payload[1] & 0x80) and payload[1] & 0x1F == 5
    return False


class RtspClient:
    def __init__(self, port, user=None, password=None, rcvbuf=None, mss=None):
        self.port = port
        self.user = user
        self.password = password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if mss:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.sock.settimeout(IO_TIMEOUT)
        self.sock.connect((HOST, port))
        self.buf = b""
        self.cseq = 0
        self.challenge = None  # (realm, nonce)
        self.session = None

    def close(self):
        self.sock.close()

    def local_port(self):
        return self.sock.getsockname()[1]

    def url(self, stream):
        return f"rtsp://{HOST}:{self.port}/{stream}"

    def authorization(self, method, uri):
        realm, nonce = self.challenge
        ha1 = md5hex(f"{self.user}:{realm}:{self.password}")
        ha2 = md5hex(f"{method}:{uri}")
        response = md5hex(f"{ha1}:{nonce}:{ha2}")
        return (f'Digest username="{self.user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{response}"')

    def send_raw(self, data):
        self.sock.sendall(data)

    def request(self, method, uri, headers=(), retry_auth=True):
        """Sends one request; returns (status, {lower-case header: value}, body). Answers a 401 once with Digest."""
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: freehold-e2e"]
        if self.session and method not in ("OPTIONS", "DESCRIBE"):
            lines.append(f"Session: {self.session}")
        if self.challenge and self.user is not None:
            lines.append(f"Authorization: {self.authorization(method, uri)}")
        lines += list(headers)
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, hdrs, body = self.response()
        if hdrs.get("cseq") != str(self.cseq):
            raise RtspError(f"{method}: CSeq {hdrs.get('cseq')!r}, expected {self.cseq}")
        if status == 401 and retry_auth and self.user is not None:
            m = re.search(r'realm="([^"]*)".*nonce="([^"]*)"', hdrs.get("www-authenticate", ""))
            if m:
                self.challenge = (m.group(1), m.group(2))
                return self.request(method, uri, headers, retry_auth=False)
        if "session" in hdrs and method == "SETUP" and status == 200:
            self.session = hdrs["session"].split(";")[0].strip()
        return status, hdrs, body

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise RtspError("timed out waiting for a response")
        self.sock.settimeout(min(left, IO_TIMEOUT))
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RtspError("connection closed")
        self.buf += chunk

    def response(self, timeout=IO_TIMEOUT):
        """Reads the next response, skipping interleaved RTP/RTCP ($ channel length data)."""
        deadline = time.monotonic() + timeout
        while True:
            while self.buf[:1] == b"$":
                while len(self.buf) < 4:
                    self._fill(deadline)
                n = int.from_bytes(self.buf[2:4], "big")
                while len(self.buf) < 4 + n:
                    self._fill(deadline)
                self.buf = self.buf[4 + n:]
            end = self.buf.find(b"\r\n\r\n")
            if self.buf and self.buf[:1] != b"$" and end >= 0:
                break
            self._fill(deadline)
        head = self.buf[:end].decode("utf-8", "replace")
        self.buf = self.buf[end + 4:]
        first, *rest = head.split("\r\n")
        m = re.match(r"RTSP/1\.0 (\d{3}) ", first + " ")
        if not m:
            raise RtspError(f"not an RTSP response: {first!r}")
        hdrs = {}
        for line in rest:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        length = int(hdrs.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill(deadline)
        body = self.buf[:length]
        self.buf = self.buf[length:]
        return int(m.group(1)), hdrs, body.decode("utf-8", "replace")

    def first_frame(self, timeout=3.0):
        """The RTP packets on interleaved channel 0 up to the end of the first frame (marker bit)."""
        deadline = time.monotonic() + timeout
        packets = []
        while time.monotonic() < deadline:
            while len(self.buf) >= 4 and self.buf[:1] == b"$":
                n = int.from_bytes(self.buf[2:4], "big")
                if len(self.buf) < 4 + n:
                    break
                channel, data = self.buf[1], self.buf[4:4 + n]
                self.buf = self.buf[4 + n:]
                p = rtp_packet(data) if channel == 0 else None
                if p:
                    packets.append(p)
                    if p[2]:
                        return packets
            if self.buf and self.buf[:1] != b"$":
                raise RtspError(f"unexpected data between RTP packets: {self.buf[:40]!r}")
            try:
                self._fill(deadline)
            except RtspError:
                break
        return packets

    def setup(self, stream, transport="tcp", client_ports=None):
        """OPTIONS, DESCRIBE, SETUP. Returns (steps, play URL): the (method, status) list, and where to PLAY."""
        url = self.url(stream)
        steps = [("OPTIONS", self.request("OPTIONS", url)[0])]
        status, hdrs, body = self.request("DESCRIBE", url, ["Accept: application/sdp"])
        steps.append(("DESCRIBE", status))
        if status != 200:
            return steps, url
        media = body[body.find("\nm=video"):] if "\nm=video" in body else body
        m = re.search(r"(?m)^a=control:(\S+)", media)  # the track's, not the session's "*"
        control = m.group(1) if m else "trackID=0"
        base = hdrs.get("content-base", url + "/")
        track = control if control.startswith("rtsp://") else base + control
        if transport == "tcp":
            t = "RTP/AVP/TCP;unicast;interleaved=0-1"
        else:
            t = f"RTP/AVP;unicast;client_port={client_ports[0]}-{client_ports[1]}"
        status, hdrs, _ = self.request("SETUP", track, [f"Transport: {t}"])
        steps.append(("SETUP", status))
        return steps, base

    def play(self, stream, transport="tcp", client_ports=None):
        """OPTIONS, DESCRIBE, SETUP, PLAY. Returns the list of (method, status); a refusal ends it early."""
        steps, base = self.setup(stream, transport, client_ports)
        if steps[-1] != ("SETUP", 200):
            return steps
        status, _, _ = self.request("PLAY", base, ["Range: npt=0.000-"])
        steps.append(("PLAY", status))
        return steps


# ---------------------------------------------------------------------------------------------------------------
# The checks


def check_probe(port, user, pw):
    """1. ffprobe over TCP and UDP: H.264 at the configured size and rate; and a new reader starts at a keyframe."""
    jobs = []
    for transport in ("tcp", "udp"):
        for name in STREAMS:
            url = rtsp_url(port, name, user, pw)
            jobs.append((transport, name, lambda u=url, t=transport: ffprobe(
                u, t, "-select_streams", "v:0", "-show_entries",
                "stream=codec_name,width,height,r_frame_rate,avg_frame_rate")))
    results = run_parallel([j[2] for j in jobs])
    for (transport, name, _), (rc, data, err) in zip(jobs, results):
        s = STREAMS[name]
        st = (data.get("streams") or [{}])[0] if isinstance(data, dict) else {}
        # Rates are ffmpeg's estimates from RTP timestamps (capture times, with scheduling jitter): 15000/1001 is
        # a fair guess for 15 fps. Within 1 % of the configured rate is right.
        rates = [rate(st.get(k)) for k in ("r_frame_rate", "avg_frame_rate")]
        ok = (rc == 0 and st.get("codec_name") == "h264" and st.get("width") == s["width"]
              and st.get("height") == s["height"]
              and all(r is not None and abs(r / s["fps"] - 1) < 0.01 for r in rates))
        R.check(f"ffprobe over {transport.upper()}: /{name} is h264 {s['width']}x{s['height']} at {s['fps']} fps",
                ok, f"exit {rc}: {short(st)} {short(err)}")


def rate(fraction):
    """'15/1' or '15000/1001' as a number; None if it is not one."""
    try:
        num, _, den = str(fraction).partition("/")
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None


def check_first_frame_keyframe(port, user, pw, label):
    rc, data, err = ffprobe(rtsp_url(port, "main", user, pw), "tcp", "-flags2", "showall", "-select_streams", "v:0",
                            "-show_entries", "frame=key_frame,pict_type", "-read_intervals", "%+#3")
    frames = data.get("frames", []) if isinstance(data, dict) else []
    R.check(f"the first frame a new reader decodes is a keyframe ({label})",
            rc == 0 and frames and frames[0].get("key_frame") == 1 and frames[0].get("pict_type") == "I",
            f"exit {rc}: {short(frames)} {short(err)}")


def report_reader(label, r, extra_ok=True, extra_detail=""):
    problems = r.problems()
    first = r.counters[0] if r.counters else None
    R.check(label + (f" (counters {first}..{r.counters[-1]})" if r.counters and not problems else ""),
            not problems and extra_ok, "; ".join(problems) + extra_detail)


def check_decode(port, user, pw):
    """2 and 3. ffmpeg and GStreamer, TCP and UDP, on /main: >= 100 frames each, every counter, in order.

    The ffmpeg TCP reader starts the idle stream; the others join it once it plays (its first frame is out), from
    the GOP cache. Readers that start together on an idle stream are check_simultaneous_start's business."""
    first = ffmpeg_reader("ffmpeg tcp", rtsp_url(port, "main", user, pw), "tcp", "main", 100)
    wait_until(lambda: first.counters or first.proc.poll() is not None, 10)
    readers = [
        first,
        ffmpeg_reader("ffmpeg udp", rtsp_url(port, "main", user, pw), "udp", "main", 100),
        gst_reader("gst tcp", port, "main", user, pw, "tcp", 100),
        gst_reader("gst udp", port, "main", user, pw, "udp", 100),
    ]
    check_first_frame_keyframe(port, user, pw, "joining a stream that is already playing")
    for r in readers:
        r.join()
    labels = {
        "ffmpeg tcp": "ffmpeg -rtsp_transport tcp decodes 100 frames of /main, counter +1 each frame from the first",
        "ffmpeg udp": "ffmpeg -rtsp_transport udp decodes 100 frames of /main, no gaps on loopback",
        "gst tcp": "GStreamer rtspsrc protocols=tcp decodes 100 frames of /main, no gaps",
        "gst udp": "GStreamer rtspsrc protocols=udp decodes 100 frames of /main, no gaps",
    }
    for r in readers:
        report_reader(labels[r.name], r)


def check_simultaneous_start(port, user, pw):
    """Two sessions PLAY an idle stream one right after the other (as players opened together do). Both must start
    at the keyframe the first PLAY asked for: not at the GOP left in the cache from when the stream last played,
    which is stale (seconds or hours old) and runs into the live frames with a jump back in time."""
    name = "/sub (idle, played before)"
    a, b = RtspClient(port, user, pw), RtspClient(port, user, pw)
    try:
        (steps_a, base_a), (steps_b, base_b) = a.setup("sub"), b.setup("sub")
        if not R.check(f"two raw clients set up {name} over TCP", steps_a[-1] == steps_b[-1] == ("SETUP", 200),
                       f"{steps_a} {steps_b}"):
            return
        play_a = a.request("PLAY", base_a)[0]
        play_b = b.request("PLAY", base_b)[0]
        fa, fb = a.first_frame(), b.first_frame()
        ok = play_a == play_b == 200 and fa and fb
        R.check(f"both PLAY {name} and get a first frame that starts with a keyframe",
                ok and starts_keyframe(fa[0][3]) and starts_keyframe(fb[0][3]),
                f"PLAY {play_a}/{play_b}; first payload bytes {fa[0][3][:2].hex() if fa else None} / "
                f"{fb[0][3][:2].hex() if fb else None}")
        if ok:
            seq_behind = (fa[0][0] - fb[0][0]) % 65536
            ts_behind = ((fa[0][1] - fb[0][1]) % (1 << 32)) / 90000
            R.check(f"the second session to PLAY {name} starts at the new keyframe, not at the stale cached GOP",
                    seq_behind == 0 or seq_behind > 32768,
                    f"its first RTP packet is {seq_behind} packets and {ts_behind:.1f} s (RTP time) before the "
                    f"first session's: PLAY B right after PLAY A on an idle stream replays the old GOP cache "
                    f"(seq {fb[0][0]} ts {fb[0][1]} vs seq {fa[0][0]} ts {fa[0][1]})")
    except (OSError, RtspError) as e:
        R.check(f"two raw clients play {name} at once", False, str(e))
    finally:
        a.close()
        b.close()


def check_auth(port, user, pw):
    """4. No credentials and a wrong password: 401 and no media. An unknown stream: 404, and only after auth."""
    rc, data, err = ffprobe(rtsp_url(port, "main", user, pw + "x"), "tcp", "-show_entries", "stream=codec_name")
    R.check("a wrong password: ffprobe fails with 401 and gets no stream",
            rc not in (0, None) and "401" in err and not (isinstance(data, dict) and data.get("streams")),
            f"exit {rc}: {short(data)} {short(err)}")
    head = raw_exchange(port, f"DESCRIBE rtsp://{HOST}:{port}/main RTSP/1.0\r\nCSeq: 2\r\n\r\n")
    R.check("no credentials: DESCRIBE gets 'RTSP/1.0 401' with 'WWW-Authenticate: Digest'",
            head.startswith("RTSP/1.0 401") and re.search(r"(?im)^WWW-Authenticate: Digest ", head)
            and re.search(r"(?im)^CSeq: 2\r?$", head), short(head))
    c = RtspClient(port)
    try:
        status, _, body = c.request("DESCRIBE", c.url("nope"))
        R.check("no credentials: /nope gets 401 too (which streams exist is not told before auth)", status == 401,
                f"{status} {short(body)}")
    except (OSError, RtspError) as e:
        R.check("no credentials: /nope gets 401 too (which streams exist is not told before auth)", False, str(e))
    finally:
        c.close()
    rc, data, err = ffprobe(rtsp_url(port, "nope", user, pw), "tcp", "-show_entries", "stream=codec_name")
    R.check("an unknown stream /nope with the right credentials: ffprobe fails with 404",
            rc not in (0, None) and "404" in err, f"exit {rc}: {short(err)}")


def raw_exchange(port, request, tls=False, timeout=IO_TIMEOUT):
    """Sends one request (inside TLS if asked) and returns the response head, or '(error)'."""
    import ssl
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as raw:
            s = raw
            if tls:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s = ctx.wrap_socket(raw)
            s.settimeout(timeout)
            s.sendall(request.encode())
            data, deadline = b"", time.monotonic() + timeout
            while b"\r\n\r\n" not in data and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.decode("utf-8", "replace")
    except (OSError, ValueError) as e:
        return f"({e})"


def check_rtsps(port, tls_port, user, pw):
    """RTSPS: the same streams inside TLS on their own port, with ffmpeg and GStreamer; media only interleaved in
    TLS (UDP refused); Basic authentication only inside TLS."""
    readers = [ffmpeg_reader("ffmpeg rtsps", rtsp_url(tls_port, "main", user, pw, "rtsps"), "tcp", "main", 60),
               gst_reader("gst rtsps", tls_port, "sub", user, pw, "tcp", 30, scheme="rtsps")]
    for r in readers:
        r.join()
    report_reader("ffmpeg decodes 60 frames of rtsps://.../main over TLS, no gaps", readers[0])
    report_reader("GStreamer rtspsrc decodes 30 frames of rtsps://.../sub over TLS, no gaps", readers[1])
    import base64
    basic = base64.b64encode(f"{user}:{pw}".encode()).decode()
    wrong = base64.b64encode(f"{user}:{pw}x".encode()).decode()
    req = "DESCRIBE {scheme}://" + HOST + ":{port}/main RTSP/1.0\r\nCSeq: 3\r\nAuthorization: Basic {cred}\r\n\r\n"
    head = raw_exchange(tls_port, req.format(scheme="rtsps", port=tls_port, cred=basic), tls=True)
    R.check("Basic credentials inside TLS: DESCRIBE 200 with an SDP", head.startswith("RTSP/1.0 200"), short(head))
    setup = ("SETUP rtsps://" + HOST + f":{tls_port}/main/trackID=0 RTSP/1.0\r\nCSeq: 4\r\n"
             f"Authorization: Basic {basic}\r\nTransport: RTP/AVP;unicast;client_port=40000-40001\r\n\r\n")
    head = raw_exchange(tls_port, setup, tls=True)
    R.check("RTSPS refuses RTP over UDP (media would leave TLS): SETUP with client_port gets 461",
            head.startswith("RTSP/1.0 461"), short(head))
    head = raw_exchange(tls_port, req.format(scheme="rtsps", port=tls_port, cred=wrong), tls=True)
    R.check("a wrong Basic password inside TLS: 401 offering Digest and Basic",
            head.startswith("RTSP/1.0 401") and re.search(r"(?im)^WWW-Authenticate: Basic ", head)
            and re.search(r"(?im)^WWW-Authenticate: Digest ", head), short(head))
    head = raw_exchange(port, req.format(scheme="rtsp", port=port, cred=basic))
    R.check("the right Basic credentials over plain RTSP: 401, Digest only (Basic would expose the password)",
            head.startswith("RTSP/1.0 401") and not re.search(r"(?im)^WWW-Authenticate: Basic", head), short(head))
    try:
        with socket.create_connection((HOST, tls_port), timeout=IO_TIMEOUT) as s:
            s.settimeout(IO_TIMEOUT)
            s.sendall(f"OPTIONS rtsp://{HOST}:{tls_port}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            answer = s.recv(4096)
    except OSError as e:
        answer = str(e).encode()
    R.check("plain RTSP to the RTSPS port gets no RTSP answer (TLS only there)", not answer.startswith(b"RTSP/"),
            short(answer))


def https(port, method, path, body=None, token=None):
    """One HTTPS request to the REST API; returns (status, headers, body bytes)."""
    import http.client
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = http.client.HTTPSConnection(HOST, port, context=ctx, timeout=IO_TIMEOUT)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = "Bearer " + token
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def api_token(daemon, user, pw):
    """A REST API session token for user/pw (None if the login fails)."""
    status, _, body = https(daemon.https_port, "POST", "/api/v1/session", {"username": user, "password": pw})
    return json.loads(body or b"{}").get("token") if status in (200, 201) else None


def check_snapshot(daemon, port, user, pw):
    """GET /api/v1/snapshot: a JPEG of the newest picture at the capture size, with the burned-in counter, taken
    while a reader plays /main at full rate; auth required."""
    status, _, _ = https(daemon.https_port, "GET", "/api/v1/snapshot")
    R.check("GET /api/v1/snapshot without credentials: 401", status == 401, str(status))
    token = api_token(daemon, user, pw)
    reader = ffmpeg_reader("ffmpeg during snapshots", rtsp_url(port, "main", user, pw), "tcp", "main", 60)
    wait_until(lambda: reader.counters or reader.proc.poll() is not None, 10)
    shots = []
    for _ in range(5):
        status, headers, jpeg = https(daemon.https_port, "GET", "/api/v1/snapshot", token=token)
        shots.append((status, headers.get("Content-Type"), jpeg))
        time.sleep(0.2)
    reader.join()
    problems = reader.problems()
    status, ctype, jpeg = shots[-1]
    decoded = None
    if status == 200:
        p = spawn(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "jpeg_pipe", "-i", "-", "-f", "rawvideo",
                   "-pix_fmt", "gray", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, _ = p.communicate(jpeg, timeout=20)
        w, h = STREAMS["main"]["width"], STREAMS["main"]["height"]
        decoded = burned_counter(out, w, h) if len(out) == w * h else None
    R.check("GET /api/v1/snapshot with a token: 200 image/jpeg of the main capture, its burned-in counter readable",
            all(s == 200 and t == "image/jpeg" for s, t, _ in shots) and decoded is not None,
            f"{[(s, t, len(j)) for s, t, j in shots]}; counter {decoded}")
    R.check("five snapshots during playback cost the reader nothing: 60 frames, no gaps", not problems,
            "; ".join(problems))


def check_live_reconfigure(daemon, port, user, pw):
    """Changing /sub's size and bitrate through the REST API applies live to /sub only: no restart asked, /sub comes
    out at the new size, and a reader of /main decodes through the change without a gap."""
    token = api_token(daemon, user, pw)
    main_reader = ffmpeg_reader("ffmpeg main during the change", rtsp_url(port, "main", user, pw), "tcp", "main", 80)
    wait_until(lambda: len(main_reader.counters) >= 10 or main_reader.proc.poll() is not None, 10)
    status, _, body = https(daemon.https_port, "PATCH", "/api/v1/config",
                            {"stream": {"sub": {"width": 480, "height": 270, "bitrate_kbps": 300}}}, token=token)
    answer = json.loads(body or b"{}") if body else {}
    R.check("PATCH stream.sub width/height/bitrate: 200, applied live (restart_required empty)",
            status == 200 and answer.get("restart_required") == []
            and set(answer.get("changed", [])) == {"stream.sub.width", "stream.sub.height", "stream.sub.bitrate_kbps"},
            f"{status} {short(answer)}")
    deadline, st = time.monotonic() + 10, {}
    while time.monotonic() < deadline:
        rc, data, err = ffprobe(rtsp_url(port, "sub", user, pw), "tcp", "-select_streams", "v:0", "-show_entries",
                                "stream=width,height")
        st = (data.get("streams") or [{}])[0] if isinstance(data, dict) else {}
        if (st.get("width"), st.get("height")) == (480, 270):
            break
        time.sleep(0.3)
    R.check("after the change, ffprobe sees /sub at 480x270", (st.get("width"), st.get("height")) == (480, 270),
            short(st))
    main_reader.join()
    report_reader("a /main reader decodes 80 frames through /sub's change, no gap (only sub's encoder changed)",
                  main_reader)
    status, _, _ = https(daemon.https_port, "PATCH", "/api/v1/config",
                         {"stream": {"sub": {k: STREAMS["sub"][k] for k in ("width", "height")}}}, token=token)
    R.check("changing /sub back: 200", status == 200, str(status))


def stream_status(daemon, token, name):
    """The entry of stream `name` in GET /api/v1/streams ({} if the request fails)."""
    try:
        status, _, body = https(daemon.https_port, "GET", "/api/v1/streams", token=token)
    except OSError:
        return {}
    streams = json.loads(body or b"{}").get("streams", []) if status == 200 else []
    return next((s for s in streams if s.get("name") == name), {})


def patch_stream(daemon, token, name, values):
    status, _, body = https(daemon.https_port, "PATCH", "/api/v1/config", {"stream": {name: values}}, token=token)
    answer = json.loads(body or b"{}") if body else {}
    return status == 200 and answer.get("restart_required") == [], f"{status} {short(answer)}"


def sps_size(sdp):
    """(width, height) from the SPS in an SDP's sprop-parameter-sets (H.264 7.3.2.1.1), or None."""
    import base64
    m = re.search(r"sprop-parameter-sets=([A-Za-z0-9+/=]+)", sdp)
    if not m:
        return None
    raw = base64.b64decode(m.group(1))
    rbsp = bytearray()
    zeros = 0
    for b in raw[1:]:  # without the NAL header; emulation prevention bytes (00 00 03) out
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        zeros = zeros + 1 if b == 0 else 0
        rbsp.append(b)
    bits = "".join(f"{b:08b}" for b in rbsp)
    pos = 0

    def u(n):
        nonlocal pos
        pos += n
        return int(bits[pos - n:pos], 2)

    def ue():
        nonlocal pos
        lead = bits.index("1", pos) - pos
        pos += lead + 1
        value = int(bits[pos:pos + lead], 2) if lead else 0
        pos += lead
        return (1 << lead) - 1 + value

    def se():
        k = ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)

    try:
        profile = u(8)
        u(16)  # constraint flags, level
        ue()  # seq_parameter_set_id
        chroma = 1
        if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
            chroma = ue()
            if chroma == 3:
                u(1)
            ue(), ue(), u(1)  # bit depths, qpprime_y_zero_transform_bypass
            if u(1):
                return None  # scaling matrices: x264 sends none
        ue()  # log2_max_frame_num
        poc = ue()
        if poc == 0:
            ue()
        elif poc == 1:
            u(1), se(), se()
            for _ in range(ue()):
                se()
        ue(), u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
        width_mbs, height_units = ue() + 1, ue() + 1
        frame_mbs_only = u(1)
        if not frame_mbs_only:
            u(1)
        u(1)  # direct_8x8_inference
        crop = (ue(), ue(), ue(), ue()) if u(1) else (0, 0, 0, 0)
    except (ValueError, IndexError):
        return None
    sub_w, sub_h = (2, 2) if chroma == 1 else (2, 1) if chroma == 2 else (1, 1)
    sub_h *= 2 - frame_mbs_only
    return (width_mbs * 16 - sub_w * (crop[0] + crop[1]),
            (2 - frame_mbs_only) * height_units * 16 - sub_h * (crop[2] + crop[3]))


def check_abandoned_describe(daemon, port, user, pw):
    """A DESCRIBE that runs an idle stream until its first keyframe, on a connection that dies during the wait,
    leaves the stream idle again: its encoder does not run on for nobody. (Regression: the wait's hold on the
    encoder was released only when the wait ran to its end, not when the connection's end cancelled it.)"""
    token = api_token(daemon, user, pw)
    # /sub at 1 fps: its first picture after a wake-up takes up to a second, the wait stays open that long.
    ok, detail = patch_stream(daemon, token, "sub", {"fps": 1})
    R.check("PATCH stream.sub.fps = 1 (idle stream): 200, applied live", ok, detail)
    c = RtspClient(port, user, pw)
    try:
        steps = c.play("main", "tcp")
        if not R.check("a raw client plays /main over TCP on the connection that will DESCRIBE /sub",
                       [s for _, s in steps] == [200] * 4, short(steps)):
            return
        before = stream_status(daemon, token, "sub").get("readers")
        url = c.url("sub")
        c.cseq += 1
        c.send_raw((f"DESCRIBE {url} RTSP/1.0\r\nCSeq: {c.cseq}\r\nAccept: application/sdp\r\n"
                    f"Authorization: {c.authorization('DESCRIBE', url)}\r\n\r\n").encode())
        started = wait_until(lambda: stream_status(daemon, token, "sub").get("readers") == 1, 1, step=0.02)
    finally:
        c.close()  # the daemon's next /main frame meets a closed socket: its writer fails, the DESCRIBE is cancelled
    R.check("the DESCRIBE wakes idle /sub (readers 0 -> 1 in GET /api/v1/streams)", before == 0 and started,
            f"readers before {before}, woke: {started}")
    idle = wait_until(lambda: stream_status(daemon, token, "sub").get("readers") == 0, 8)
    encoded = stream_status(daemon, token, "sub").get("frames_encoded")
    time.sleep(1.5)
    still = stream_status(daemon, token, "sub").get("frames_encoded")
    R.check("after the connection died during DESCRIBE, /sub goes idle again: readers 0, no more frames encoded",
            idle and encoded == still, f"{stream_status(daemon, token, 'sub')}; frames {encoded} -> {still}")
    ok, detail = patch_stream(daemon, token, "sub", {"fps": STREAMS["sub"]["fps"]})
    R.check("PATCH stream.sub.fps back: 200", ok, detail)


def check_describe_after_resize(daemon, port, user, pw):
    """DESCRIBE of an idle stream after a live size change announces the new size: the parameter sets in the SDP
    are the new encoder's, not those cached from before the change."""
    token = api_token(daemon, user, pw)
    size = (STREAMS["sub"]["width"], STREAMS["sub"]["height"])

    def describe():
        c = RtspClient(port, user, pw)
        try:
            status, _, sdp = c.request("DESCRIBE", c.url("sub"), ["Accept: application/sdp"])
        except (OSError, RtspError) as e:
            return f"({e})", None
        finally:
            c.close()
        return status, sps_size(sdp)

    first = describe()
    R.check(f"DESCRIBE /sub: the SDP's SPS says {size[0]}x{size[1]}", first == (200, size), str(first))
    wait_until(lambda: stream_status(daemon, token, "sub").get("readers") == 0, 5)
    ok, detail = patch_stream(daemon, token, "sub", {"width": 480, "height": 270})
    R.check("PATCH stream.sub to 480x270 while nobody watches it: 200, applied live", ok, detail)
    second = describe()
    R.check("the next DESCRIBE /sub announces 480x270 in sprop-parameter-sets", second == (200, (480, 270)),
            str(second))
    rc, data, err = ffprobe(rtsp_url(port, "sub", user, pw), "tcp", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height")
    st = (data.get("streams") or [{}])[0] if isinstance(data, dict) else {}
    R.check("ffprobe sees /sub at 480x270", (st.get("width"), st.get("height")) == (480, 270), f"{st} {short(err)}")
    ok, detail = patch_stream(daemon, token, "sub", {"width": size[0], "height": size[1]})
    wait_until(lambda: stream_status(daemon, token, "sub").get("readers") == 0, 5)
    third = describe()
    R.check(f"changed back: 200, and DESCRIBE /sub announces {size[0]}x{size[1]} again", ok and third == (200, size),
            f"{detail}; {third}")


def check_many_readers(port, user, pw):
    """5. Eight readers at once, four per stream, TCP and UDP mixed: all get 60 frames without a gap. One reader
    per stream starts it; the other three join once it plays (see check_simultaneous_start for joining at once)."""
    readers = []
    for name in ("main", "sub"):
        readers.append(ffmpeg_reader(f"{name} tcp #1", rtsp_url(port, name, user, pw), "tcp", name, 60, timeout=40))
    wait_until(lambda: all(r.counters or r.proc.poll() is not None for r in readers), 10)
    for i in range(1, 4):
        for name in ("main", "sub"):
            transport = ("tcp", "udp")[(i + (name == "sub")) % 2]
            readers.append(ffmpeg_reader(f"{name} {transport} #{i + 1}", rtsp_url(port, name, user, pw), transport,
                                         name, 60, timeout=40))
    for r in readers:
        r.join()
    bad = {r.name: r.problems() for r in readers if r.problems()}
    R.check("8 simultaneous ffmpeg readers (4 on /main, 4 on /sub, TCP and UDP): each decodes 60 frames, no gaps",
            not bad, short(bad, 1500))


def check_stalled_reader(daemon, port, user, pw):
    """6. A reader that stops reading its TCP connection neither slows nor starves the others; it is dropped."""
    mark = daemon.mark()
    # An Ethernet-sized segment and a small window, as a stalled client across a network would have: loopback's
    # 64 KiB segments would let the kernel buffer a minute of video before the daemon's writes ever block.
    stalled = RtspClient(port, user, pw, rcvbuf=8192, mss=1460)
    fps = STREAMS["main"]["fps"]
    try:
        try:
            steps = stalled.play("main", "tcp")
        except (OSError, RtspError) as e:
            steps = [("error", str(e))]
        if not R.check("a raw client (Digest computed by the test) plays /main over TCP interleaved",
                       [s for _, s in steps] == [200] * 4, short(steps)):
            return
        stall_start = time.monotonic()
        server_end = wait_until(lambda: server_socket_inode(port, stalled.local_port()), 2)
        # From here on nothing is read from `stalled`. Let its buffers fill, then measure another reader.
        time.sleep(2)
        r = ffmpeg_reader("beside a stalled reader", rtsp_url(port, "main", user, pw), "tcp", "main", 10 ** 6,
                          timeout=11)
        r.join()
        # Skip the first second: the GOP cache arrives in a burst. Then count the frames that arrived in ~8 s.
        t = [x - r.started for x in r.times]
        window = [i for i, x in enumerate(t) if x >= t[0] + 1.0] if t else []
        rate = (len(window) - 1) / (t[window[-1]] - t[window[0]]) if len(window) > 20 else 0.0
        span = t[window[-1]] - t[window[0]] if len(window) > 20 else 0.0
        gaps = sequence_problems(r.counters, r.step)
        R.check(f"while a reader is stalled, another /main reader gets >= 95 % of {fps} fps "
                f"({rate:.2f} fps over {span:.1f} s, no gaps)",
                rate >= 0.95 * fps and span >= 7.0 and not gaps,
                f"{len(r.counters)} frames; {short(gaps)}; stderr: {short(r.stderr.decode('utf-8', 'replace'))}")

        # The stalled one: the daemon drops frames for it (rtsp.reader_too_slow) or ends the connection.
        def dealt_with():
            if re.search(r"event=rtsp\.reader_too_slow", daemon.log_text(mark)):
                return "logged rtsp.reader_too_slow"
            if server_end is not None and server_end not in daemon.socket_inodes():
                return "closed the connection"
            return None

        how = wait_until(dealt_with, max(0.0, stall_start + STALL_LIMIT_S - time.monotonic()))
        took = time.monotonic() - stall_start
        R.check(f"the daemon deals with the stalled reader within {STALL_LIMIT_S} s "
                f"({how or 'nothing yet'} {took:.1f} s after it stopped reading)",
                how is not None and server_end is not None,
                f"server socket inode {server_end}; log: {short(daemon.log_text(mark), 600)}")
    finally:
        stalled.close()


def check_sessions_freed(daemon, port, user, pw, fds_at_start):
    """7. 200 session cycles leave no descriptors behind; a SIGKILLed player's session is freed."""
    base0 = daemon.settled_fds()
    R.check(f"after every earlier session (the stalled one too) the daemon holds the descriptors it started with "
            f"(+{MAX_FD_GROWTH}): {fds_at_start} -> {base0}",
            base0 is not None and base0 <= fds_at_start + MAX_FD_GROWTH, f"{fds_at_start} -> {base0}")
    # A background player keeps /main running, so PLAY sends the GOP cache at once and TEARDOWN races with it.
    bg = spawn(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "udp",
                "-timeout", "5000000", "-i", rtsp_url(port, "main", user, pw), "-map", "0:v:0", "-t", "60",
                "-f", "null", "-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # TCP connection + the RTP/RTCP socket pair of its UDP session.
    playing = wait_until(lambda: (daemon.fds() or 0) >= base0 + 3, 10)
    base1 = daemon.settled_fds()
    R.check(f"a UDP player holds 3 descriptors in the daemon ({base0} -> {base1})", playing and base1 == base0 + 3,
            f"{base0} -> {base1}")
    failures = {"tcp": [], "udp": []}
    cycles = 200
    t0 = time.monotonic()
    deadline = t0 + 40
    done = 0
    for i in range(cycles):
        if time.monotonic() > deadline or not daemon.running():
            break
        transport = "tcp" if i % 2 == 0 else "udp"
        stream = "main" if i % 4 < 2 else "sub"
        udp = []
        stage = "connect"
        try:
            if transport == "udp":
                udp = udp_port_pair()
            c = RtspClient(port, user, pw)
            try:
                stage = "OPTIONS..PLAY"
                steps = c.play(stream, transport, [u.getsockname()[1] for u in udp])
                stage = "TEARDOWN"
                status, _, _ = c.request("TEARDOWN", c.url(stream))
                steps.append(("TEARDOWN", status))
            finally:
                c.close()
            if [s for _, s in steps] != [200] * 5:
                failures[transport].append(f"cycle {i} (/{stream}): {steps}")
        except (OSError, RtspError) as e:
            failures[transport].append(f"cycle {i} (/{stream}) {stage}: {e}")
        finally:
            for u in udp:
                u.close()
        done += 1
    took = time.monotonic() - t0
    for transport in ("tcp", "udp"):
        f = failures[transport]
        R.check(f"{cycles // 2} {transport.upper()} cycles of connect/OPTIONS/DESCRIBE/SETUP/PLAY/TEARDOWN/close "
                f"(/main playing, /sub idle) all answered 200",
                not f and done == cycles, f"{done} of {cycles} cycles done in {took:.1f} s; {len(f)} failed, e.g. "
                + short(f[:4], 600))
    R.check(f"the daemon is still running after the cycles ({took:.1f} s)", daemon.running(),
            f"exit {daemon.proc.poll()}")
    after = wait_until(lambda: (n := daemon.fds()) is not None and n <= base1 + MAX_FD_GROWTH and n, 5)
    R.check(f"after the cycles the daemon's descriptors are back within +{MAX_FD_GROWTH} ({base1} -> {daemon.fds()})",
            after, f"{base1} -> {daemon.fds()}")
    # SIGKILL the background player mid-stream: its connection closes at once, so its session must go with it.
    t0 = time.monotonic()
    bg.kill()
    bg.wait(timeout=5)
    freed = wait_until(lambda: (n := daemon.fds()) is not None and n <= base0, 70, step=0.2)
    R.check(f"kill -9 of a playing ffmpeg frees its session: descriptors back to {base0} "
            f"in {time.monotonic() - t0:.1f} s", freed, f"now {daemon.fds()}")


def check_sigterm(daemon, port, user, pw):
    """8. SIGTERM with readers connected: exit 0 within 2 s."""
    readers = [ffmpeg_reader("sigterm tcp", rtsp_url(port, "main", user, pw), "tcp", "main", 10 ** 6, timeout=30),
               ffmpeg_reader("sigterm udp", rtsp_url(port, "sub", user, pw), "udp", "sub", 10 ** 6, timeout=30)]
    flowing = wait_until(lambda: all(len(r.counters) >= 5 for r in readers), 15)
    R.check("two readers (TCP and UDP) are playing before SIGTERM", flowing,
            f"{[len(r.counters) for r in readers]} frames")
    mark = daemon.mark()
    t0 = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    try:
        rc = daemon.proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    R.check(f"SIGTERM with readers connected: exit 0 in {took:.2f} s (limit 2 s)", rc == 0 and took <= 2.0,
            f"exit {rc}; log: {short(daemon.log_text(mark), 600)}")
    daemon.threads[1].join(timeout=2)
    R.check("the log ends with daemon.stopped", "event=daemon.stopped" in daemon.log_text(mark),
            short(daemon.log_text(mark), 600))
    for r in readers:
        reap(r.proc)
        r.join()


def check_mjpeg(binary, work):
    """9. A second daemon serves /sub as MJPEG: the SDP and the RTP/JPEG headers (RFC 2435) as a raw client sees
    them, ffprobe over TCP and UDP, ffmpeg over TCP and UDP and GStreamer (rtpjpegdepay ! jpegdec) decoding 50
    frames each with the burned-in counter advancing by one. Returns the daemon."""
    s = MJPEG_STREAMS["sub"]
    daemon, port, user, pw = start_daemon(binary, work, "mjpeg", MJPEG_STREAMS, (MJPEG_UDP_FIRST, MJPEG_UDP_LAST),
                                          " (second daemon, /sub as MJPEG)")
    if user is None:
        return daemon
    c = RtspClient(port, user, pw)
    try:
        status, _, sdp = c.request("DESCRIBE", c.url("sub"), ["Accept: application/sdp"])
        R.check(f"MJPEG: DESCRIBE /sub answers m=video 0 RTP/AVP 26, a=rtpmap:26 JPEG/90000, a=framerate:{s['fps']}",
                status == 200 and "\r\nm=video 0 RTP/AVP 26\r\n" in sdp and "\r\na=rtpmap:26 JPEG/90000\r\n" in sdp
                and f"\r\na=framerate:{s['fps']}\r\n" in sdp, f"{status}: {short(sdp)}")
        steps = c.play("sub", "tcp")
        packets = c.first_frame() if [x for _, x in steps] == [200] * 4 else []
        first = packets[0][3] if packets else b""
        # Main header: type-specific, 24-bit fragment offset, type 1 (4:2:0), Q 255, width/8, height/8; then the
        # quantization table header of two 8-bit tables.
        want = bytes([0, 0, 0, 0, 1, 255, s["width"] // 8, s["height"] // 8, 0, 0, 0, 128])
        R.check("MJPEG: a raw client's first RTP packet carries the RFC 2435 headers for 4:2:0 "
                f"{s['width']}x{s['height']} with the tables, and the frame ends with the marker bit",
                first[:12] == want and packets[-1][2] and not any(p[2] for p in packets[:-1]),
                f"{short(steps)}; first payload {first[:12].hex()}, want {want.hex()}; {len(packets)} packets")
    except (OSError, RtspError) as e:
        R.check("MJPEG: a raw client plays /sub", False, str(e))
    finally:
        c.close()
    jobs = [lambda t=t: ffprobe(rtsp_url(port, "sub", user, pw), t, "-select_streams", "v:0", "-show_entries",
                                "stream=codec_name,width,height") for t in ("tcp", "udp")]
    for transport, (rc, data, err) in zip(("tcp", "udp"), run_parallel(jobs)):
        st = (data.get("streams") or [{}])[0] if isinstance(data, dict) else {}
        R.check(f"MJPEG: ffprobe over {transport.upper()}: /sub is mjpeg {s['width']}x{s['height']}",
                rc == 0 and st.get("codec_name") == "mjpeg" and st.get("width") == s["width"]
                and st.get("height") == s["height"], f"exit {rc}: {short(st)} {short(err)}")
    frames = 50
    readers = [ffmpeg_reader("ffmpeg tcp", rtsp_url(port, "sub", user, pw), "tcp", "sub", frames, timeout=20),
               ffmpeg_reader("ffmpeg udp", rtsp_url(port, "sub", user, pw), "udp", "sub", frames, timeout=20),
               gst_reader("gst tcp", port, "sub", user, pw, "tcp", frames, timeout=20, decode=GST_JPEG)]
    for r in readers:
        r.step = 1  # this daemon's sub is not thinned
    labels = {"ffmpeg tcp": "ffmpeg -rtsp_transport tcp", "ffmpeg udp": "ffmpeg -rtsp_transport udp",
              "gst tcp": "GStreamer rtspsrc ! rtpjpegdepay ! jpegdec"}
    for r in readers:
        report_reader(f"MJPEG: {labels[r.name]} decodes {frames} frames of /sub, counter +1 each frame", r.join())
    R.check("MJPEG: the daemon logged no unsendable frame",
            "rtsp.frame_unsendable" not in daemon.log_text() and daemon.running(), short(daemon.log_text(), 800))
    return daemon


# ---------------------------------------------------------------------------------------------------------------


def start_daemon(binary, work, tag, streams, udp_ports, label=""):
    """Starts freeholdd in demo mode with `streams` in a state directory of its own. Returns (daemon, RTSP port,
    user, password); user and password are None if it did not come up."""
    port, tls_port, https_port = free_port(), free_port(), free_port()
    config = os.path.join(work, f"{tag}.toml")
    with open(config, "w") as f:
        f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {https_port}\n'
                f"[rtsp]\nport = {port}\ntls_port = {tls_port}\n"
                f"udp_port_first = {udp_ports[0]}\nudp_port_last = {udp_ports[1]}\n")
        for name, s in streams.items():
            f.write(f"[stream.{name}]\n" + "".join(f"{k} = {v}\n" for k, v in s.items()))
    daemon = Daemon(binary, os.path.join(work, f"state-{tag}"), config)
    daemon.tls_port = tls_port
    daemon.https_port = https_port
    daemon.start()
    banner = daemon.wait_for(daemon.out, r"Press Ctrl-C")
    text = "\n".join(daemon.out)
    m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", text)
    urls = re.search(rf"rtsp://\S+:{port}/main\s+and\s+rtsp://\S+:{port}/sub", text)
    if not R.check("the demo starts and prints the admin credentials and the rtsp:// URLs" + label,
                   banner and m and urls, f"stdout: {short(text)}\nlog: {short(daemon.log_text(), 800)}"):
        return daemon, port, None, None
    return daemon, port, m.group(1), m.group(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    binary = os.path.abspath(ap.parse_args().bin)
    missing = [t for t in ("ffmpeg", "ffprobe", "gst-launch-1.0") if shutil.which(t) is None]
    if missing:
        print(f"FAIL  the RTSP clients are installed: missing {' '.join(missing)} (scripts/deps.sh test)")
        print("0 passed, 1 failed")
        return 1
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="freehold-rtsp-")
    daemons = []
    try:
        daemon, port, user, pw = start_daemon(binary, work, "h264", STREAMS, (UDP_FIRST, UDP_LAST))
        daemons.append(daemon)
        if user is None:
            return 1
        fds_at_start = daemon.settled_fds()

        check_abandoned_describe(daemon, port, user, pw)  # first: /sub has never been described yet
        check_describe_after_resize(daemon, port, user, pw)
        daemon.wait_idle(fds_at_start)
        check_probe(port, user, pw)
        daemon.wait_idle(fds_at_start)
        check_first_frame_keyframe(port, user, pw, "the first reader of an idle stream")
        check_decode(port, user, pw)
        check_auth(port, user, pw)
        check_rtsps(port, daemon.tls_port, user, pw)
        check_snapshot(daemon, port, user, pw)
        daemon.wait_idle(fds_at_start)
        check_simultaneous_start(port, user, pw)
        check_many_readers(port, user, pw)
        check_stalled_reader(daemon, port, user, pw)
        check_sessions_freed(daemon, port, user, pw, fds_at_start)
        check_live_reconfigure(daemon, port, user, pw)
        R.check("the daemon survived every check so far", daemon.running(),
                f"exit {daemon.proc.poll()}; log: {short(daemon.log_text(max(0, daemon.mark() - 20)), 1500)}")
        if daemon.running():
            check_sigterm(daemon, port, user, pw)
        daemon.stop()
        daemons.append(check_mjpeg(binary, work))
    finally:
        kill_children()
        for d in daemons:
            d.stop()
        shutil.rmtree(work, ignore_errors=True)
        print(f"# runtime {time.monotonic() - t_start:.1f} s", flush=True)
        print(f"{R.passed} passed, {R.failed} failed", flush=True)
    return 1 if R.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
