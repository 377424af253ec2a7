# SPDX-License-Identifier: GPL-3.0-or-later
"""Latency, start-up and footprint of freeholdd's video path (docs/performance.md, "Latency and start-up").

1. Glass to decoded picture: freeholdd's synthetic source at 1280x720, 30 fps, x264, read by GStreamer over
   RTSP/TCP (no jitter buffer, one decoder thread) and decoded to grey frames; each frame's burned-in UTC clock (the
   instant it was captured) is compared with the wall clock when the decoded frame reaches us. Includes encode,
   packetize, send, depacketize, decode, and the pipe to this script.
2. A frame leaving the encoder to its last byte in a reader's socket, as freeholdd itself measures it
   (`send_latency_us` in GET /api/v1/streams): the 4 Mbit/s clip passed through, 1 and 100 rtsp_load readers.
3. Start-up: process start to the first RTP packet at a client that was waiting for the port (claimed state, so
   no key generation), 5 runs.
4. Memory with 4 readers: the file source passed through, and x264 at 720p.

    python3 bench/latency.py [--seconds 10]

Standard library only; loopback only; every loop is bounded in time.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)
from fanout import HOST, Freeholdd, child_setup, free_port, log, make_clip, smaps_kib  # noqa: E402
from rtsp_test import RtspClient, burned_value, https  # noqa: E402


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


class Synthetic720p30(Freeholdd):
    """freeholdd with its synthetic source at 720p30 (the latency run), or the clip in passthrough."""

    def __init__(self, binary, work, clip=None):
        super().__init__(binary, clip, work, "file" if clip else "synthetic", 4000)

    def stream_config(self):
        if self.source == "file":
            return super().stream_config()
        return "[stream.main]\nwidth = 1280\nheight = 720\nfps = 30\ngop = 60\nbitrate_kbps = 4000\n"

    def api(self, method, path, body=None, token=None):
        status, _, data = https(self.https_port, method, path, body, token)
        return status, json.loads(data or b"{}")

    def send_latency(self):
        _, s = self.api("POST", "/api/v1/session", {"username": self.user, "password": self.password})
        _, streams = self.api("GET", "/api/v1/streams", token=s.get("token"))
        return (streams.get("rtsp") or {}).get("send_latency_us")


def glass_to_decoder(server, seconds):
    """Decoded frames' burned-in capture time against the wall clock on arrival: latencies in ms. The client is
    GStreamer with its jitter buffer at 0 and one decoder thread (the ffmpeg CLI adds ~60 ms of buffering of its own
    here, whatever its low-delay flags)."""
    w, h = 1280, 720
    cmd = ["gst-launch-1.0", "-q", "rtspsrc", f"location=rtsp://{HOST}:{server.port}/main", f"user-id={server.user}",
           f"user-pw={server.password}", "latency=0", "protocols=tcp", "!", "rtph264depay", "!", "avdec_h264",
           "max-threads=1", "!", "videoconvert", "!", "video/x-raw,format=GRAY8", "!", "fdsink", "fd=1", "sync=false"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                         preexec_fn=child_setup, bufsize=0)
    size = w * h
    lat, frames = [], 0
    deadline = time.monotonic() + seconds + 15
    buf = bytearray()
    try:
        while time.monotonic() < deadline and len(lat) < seconds * 30:
            chunk = p.stdout.read(size - len(buf))
            if not chunk:
                break
            buf += chunk
            if len(buf) < size:
                continue
            now_ms = time.time() * 1000
            frames += 1
            clock = burned_value(buf, w, h, 1, 48)
            # The first second is the cached GOP, sent at once: not live frames.
            if clock is not None and frames > 30:
                lat.append(now_ms - clock)
            buf = bytearray()
    finally:
        p.kill()
        p.wait(timeout=5)
    return lat


def startup(binary, work, runs):
    """Process start to the first RTP packet at a waiting client, in ms, over `runs` starts of a claimed device."""
    s = Synthetic720p30(binary, work)
    s.start(4)  # claims the state directory (demo admin) and writes the config
    config, state = os.path.join(work, "freeholdd.toml"), None
    for arg_i, arg in enumerate(s.proc.args):
        if arg == "--state-dir":
            state = s.proc.args[arg_i + 1]
    user, pw, port = s.user, s.password, s.port
    s.stop()
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        p = subprocess.Popen([binary, "--demo", "--state-dir", state, "--config", config], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=child_setup)
        try:
            first = None
            while time.monotonic() - t0 < 10 and first is None:
                try:
                    socket.create_connection((HOST, port), timeout=0.2).close()
                except OSError:
                    time.sleep(0.002)
                    continue
                c = RtspClient(port, user, pw)
                try:
                    if [x for _, x in c.play("main", "tcp")] == [200] * 4 and c.first_frame(timeout=5):
                        first = time.monotonic()
                finally:
                    c.close()
            if first is not None:
                times.append((first - t0) * 1000)
        finally:
            p.terminate()
            p.wait(timeout=10)
    return times


def memory_with_readers(binary, load, work, clip, seconds):
    """RSS and PSS (KiB) of freeholdd with 4 rtsp_load readers: passthrough of the clip, and x264 at 720p30."""
    out = {}
    for label, c in (("file passthrough", clip), ("x264 720p30", None)):
        s = Synthetic720p30(binary, work, c)
        s.start(4)
        try:
            subprocess.run([load, "--host", HOST, "--port", str(s.port), "--path", "/main", "--readers", "4",
                            "--user", s.user, "--password", s.password, "--warmup", "2", "--window", str(seconds),
                            "--server-pid", str(s.proc.pid)], capture_output=True, timeout=seconds + 60,
                           preexec_fn=child_setup)
            out[label] = smaps_kib(s.proc.pid)
        finally:
            s.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--freeholdd", default=os.path.join(ROOT, "build", "bin", "freeholdd"))
    ap.add_argument("--load", default=os.path.join(ROOT, "build", "bin", "rtsp_load"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/freehold-bench"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="freehold-latency-")
    rows = []
    try:
        clip = make_clip(args.cache_dir)
        s = Synthetic720p30(args.freeholdd, work)
        s.start(10)
        try:
            lat = glass_to_decoder(s, args.seconds)
        finally:
            s.stop()
        rows.append(("capture → decoded picture at a GStreamer client, 720p30 x264, 1 reader (ms)",
                     f"p50 {pct(lat, 50):.1f}, p99 {pct(lat, 99):.1f}, max {max(lat) if lat else float('nan'):.1f} "
                     f"over {len(lat)} frames", "p99 ≤ 40"))
        # The send path alone: the clip passed through (no encoder competing for the CPU), rtsp_load as readers.
        for n in (1, 100):
            s = Synthetic720p30(args.freeholdd, work, clip)
            s.start(n)
            try:
                load = subprocess.run([args.load, "--host", HOST, "--port", str(s.port), "--path", "/main",
                                       "--readers", str(n), "--user", s.user, "--password", s.password,
                                       "--warmup", "2", "--window", str(args.seconds)],
                                      capture_output=True, timeout=args.seconds + 120, preexec_fn=child_setup)
                if load.returncode != 0:
                    log(f"rtsp_load: {load.stderr.decode(errors='replace')[-500:]}")
                st = s.send_latency()
            finally:
                s.stop()
            if st:
                rows.append((f"frame out of the source's encoder → last byte in the socket, {n} reader(s), 4 Mbit/s "
                             "(µs)", f"p50 {st['p50']}, p99 {st['p99']}, max {st['max']} over {st['count']} sends",
                             "p99 ≤ 1000"))
        times = startup(args.freeholdd, tempfile.mkdtemp(dir=work), 5)
        rows.append(("process start → first RTP packet at a waiting client (ms)",
                     f"median {statistics.median(times):.0f} (runs: {' '.join(f'{t:.0f}' for t in times)})"
                     if times else "no run reached the first packet", "≤ 500"))
        for label, (rss, pss) in memory_with_readers(args.freeholdd, args.load, work, clip, 3).items():
            rows.append((f"memory with 4 readers, {label}", f"RSS {rss / 1024:.1f} MiB, PSS {pss / 1024:.1f} MiB",
                         ""))
    finally:
        subprocess.run(["rm", "-rf", work])
    print("| what | measured | goal |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
