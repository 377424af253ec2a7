#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""RTSP fan-out benchmark: freeholdd against gst-rtsp-server in the same run (docs/performance.md, "RTSP fan-out").

Generates a 720p H.264 clip once (ffmpeg, libx264, 25 fps, 4 Mbit/s, GOP 50, Annex-B, 20 s) into the cache
directory. For each reader count N, and each round, it starts each server in turn (the gst-rtsp-server peer, then
freeholdd serving the same clip in passthrough, or its synthetic source where the file source is not built in),
runs rtsp_load against it, and stops it. rtsp_load samples the server's CPU time (per thread), its memory
(/proc/PID/smaps_rollup) and the machine's busy time at the edges of the steady window, so every figure covers the
same interval. Prints a table of medians over the rounds and the freeholdd/peer ratio per N.
Standard library only.

    python3 bench/fanout.py --readers 10,100,500,1000 --rounds 3
    python3 bench/fanout.py --smoke     # N=10, 3 s window, 1 round; fails if a reader got no media
"""

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from common import die_with_parent  # noqa: E402

HOST = "127.0.0.1"
CLIP_NAME = "clip-720p25-4M-gop50-20s.h264"
START_TIMEOUT = 20.0


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def child_setup():
    """In a child before exec: die with this script, and as many descriptors as the hard limit allows."""
    die_with_parent()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def make_clip(cache_dir):
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, CLIP_NAME)
    if os.path.exists(path):
        return path
    log(f"generating {path} (once)")
    tmp = path + ".tmp"
    # Noise keeps the encoder at its rate limit, so the stream really is ~4 Mbit/s; no B-frames (live cameras send
    # none); SPS/PPS before every IDR (repeat-headers) so that a reader can start at any keyframe.
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
           "-i", "testsrc2=size=1280x720:rate=25,noise=alls=12:allf=t", "-t", "20",
           "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0", "-g", "50",
           "-keyint_min", "50", "-sc_threshold", "0", "-b:v", "4M", "-minrate", "4M", "-maxrate", "4M",
           "-bufsize", "2M", "-x264-params", "repeat-headers=1", "-f", "h264", tmp]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, timeout=300)
    os.replace(tmp, path)
    return path


class Server:
    """A server process under test: started, measured by rtsp_load, stopped."""

    def __init__(self, name, work):
        self.name = name
        self.work = work
        self.proc = None
        self.port = None
        self.user = None
        self.password = None
        self.stdout_lines = []
        self.cond = threading.Condition()

    def _spawn(self, cmd, env=None):
        self.err_path = os.path.join(self.work, f"{self.name}.log")
        err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                     preexec_fn=child_setup, env=env)
        err.close()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self.cond:
                self.stdout_lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def wait_stdout(self, pattern, timeout=START_TIMEOUT):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                text = "\n".join(self.stdout_lines)
                m = rx.search(text)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.1))

    def log_tail(self, n=2000):
        try:
            with open(self.err_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


class Peer(Server):
    def __init__(self, binary, clip, work):
        super().__init__("peer", work)
        self.binary = binary
        self.clip = clip

    def start(self, readers):
        self._spawn([self.binary, "--clip", self.clip, "--port", "0", "--address", HOST])
        m = self.wait_stdout(r"listening on \S+:(\d+)")
        if not m:
            raise RuntimeError(f"the peer did not start: {self.log_tail()}")
        self.port = int(m.group(1))


class Freeholdd(Server):
    def __init__(self, binary, clip, work, source, synthetic_kbps):
        super().__init__("freeholdd", work)
        self.binary = binary
        self.clip = clip
        self.source = source
        self.synthetic_kbps = synthetic_kbps

    def stream_config(self):
        """The [source]/[stream.*] part of the configuration."""
        if self.source == "file":
            return f'[source]\nkind = "file"\nfile = "{self.clip}"\nloop = true\n'
        # the synthetic pattern, encoded at the clip's size and rate
        return ("[stream.main]\nwidth = 1280\nheight = 720\nfps = 25\n"
                f'bitrate_kbps = {self.synthetic_kbps}\nrate_control = "cbr"\n')

    def start(self, readers):
        self.port, self.https_port = free_port(), free_port()
        config = os.path.join(self.work, "freeholdd.toml")
        with open(config, "w") as f:
            f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {self.https_port}\n'
                    f"[rtsp]\nport = {self.port}\ntls_enabled = false\nmax_sessions = {min(readers + 10, 4096)}\n")
            f.write(self.stream_config())
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        state = tempfile.mkdtemp(prefix="state-", dir=self.work)  # unclaimed: a fresh demo admin every start
        self._spawn([self.binary, "--demo", "--state-dir", state, "--config", config], env=env)
        if not self.wait_stdout(r"Press Ctrl-C"):
            raise RuntimeError(f"freeholdd did not start: {self.log_tail()}")
        m = self.wait_stdout(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", timeout=1)
        if not m:
            raise RuntimeError("freeholdd printed no demo credentials:\n" + "\n".join(self.stdout_lines))
        self.user, self.password = m.group(1), m.group(2)


def freeholdd_has_file_source(binary):
    out = subprocess.run([binary, "--help-config"], capture_output=True, text=True, timeout=20).stdout
    return re.search(r"(?m)^source\.kind\b", out) is not None


def smaps_kib(pid):
    rss = pss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def run_one(args, server, readers):
    server.start(readers)
    try:
        time.sleep(0.5)  # let it settle before the idle memory figure
        pid = server.proc.pid
        idle_rss, idle_pss = smaps_kib(pid)
        cmd = [args.load, "--host", HOST, "--port", str(server.port), "--path", "/main",
               "--readers", str(readers), "--connect-rate", str(args.connect_rate),
               "--warmup", str(args.warmup), "--window", str(args.window),
               "--setup-timeout", str(args.setup_timeout), "--server-pid", str(pid)]
        if server.user:
            cmd += ["--user", server.user, "--password", server.password]
        limit = readers / args.connect_rate + args.setup_timeout + args.warmup + args.window + 30
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, preexec_fn=child_setup,
                           stdin=subprocess.DEVNULL)
        for line in p.stderr.splitlines():
            log(f"  {server.name}: {line}")
        if p.returncode != 0 or not p.stdout.strip():
            raise RuntimeError(f"rtsp_load failed ({p.returncode}): {p.stderr[-1000:]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        r["server"] = server.name
        r["server_alive"] = server.proc.poll() is None
        r["idle_rss_kib"], r["idle_pss_kib"] = idle_rss, idle_pss
        main = [t["cpu_s"] for t in r.get("server_threads", []) if t["thread"].startswith("main:")]
        r["main_thread_cpu_s"] = main[0] if main else 0.0
        # The CPU the streaming costs. freeholdd's synthetic source encodes on its own thread, which a camera's
        # encoder (or the file source) does not cost: then only the I/O thread (main) counts.
        net = r["main_thread_cpu_s"] if server.name == "freeholdd" and server.source == "synthetic" \
            else r["server_cpu_s"]
        r["net_cpu_s_per_gbit"] = net / r["gbit"] if r["gbit"] > 0 else 0.0
        return r
    finally:
        server.stop()


def med(results, key):
    vals = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


def table(all_results, ns, servers):
    lines = ["| N | server | streaming CPU-s/Gbit | all threads CPU-s/Gbit | Gbit/s | ok | gaps | slow | failed | media rate "
             "median (min) | RSS MiB | PSS MiB | PSS per added reader KiB | loader CPU % | other load (cores) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ratios = []
    prev = {}  # server -> (N, PSS KiB) of the previous reader count: memory per reader is the slope
    for n in ns:
        cpg = {}
        for s in servers:
            rs = [r for r in all_results if r["readers"] == n and r["server"] == s]
            if not rs:
                continue
            cpg[s] = med(rs, "net_cpu_s_per_gbit")
            pss = med(rs, "server_pss_kib")
            per_reader = (pss - prev[s][1]) / (n - prev[s][0]) if s in prev and n > prev[s][0] else float("nan")
            prev[s] = (n, pss)
            loader = statistics.median([100 * r["loader_cpu_s"] / r["window_s"] for r in rs])
            lines.append(
                f"| {n} | {s} | {cpg[s]:.3f} | {med(rs, 'server_cpu_s_per_gbit'):.3f} | {med(rs, 'gbit_per_s'):.3f} | "
                f"{med(rs, 'ok'):.0f} | {med(rs, 'with_gaps'):.0f} | {med(rs, 'slow'):.0f} | "
                f"{med(rs, 'failed') + med(rs, 'no_media'):.0f} | "
                f"{med(rs, 'media_rate_median'):.3f} ({min(r['media_rate_min'] for r in rs):.3f}) | "
                f"{med(rs, 'server_rss_kib') / 1024:.1f} | {med(rs, 'server_pss_kib') / 1024:.1f} | "
                f"{per_reader:.1f} | {loader:.0f} | {med(rs, 'other_load_cores'):.2f} |")
        if "peer" in cpg and "freeholdd" in cpg and cpg["peer"] > 0:
            ratios.append(f"N={n}: freeholdd/peer streaming CPU per Gbit = {cpg['freeholdd'] / cpg['peer']:.2f}")
    return "\n".join(lines), ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--freeholdd", default=os.path.join(ROOT, "build", "bin", "freeholdd"))
    ap.add_argument("--load", default=os.path.join(ROOT, "build", "bin", "rtsp_load"))
    ap.add_argument("--peer", default=os.path.join(ROOT, "build", "bin", "gst_rtsp_peer"))
    ap.add_argument("--readers", default="10,100,500,1000", help="comma-separated reader counts")
    ap.add_argument("--servers", default="peer,freeholdd")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=10.0, help="seconds measured once every reader plays")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--connect-rate", type=float, default=200.0, help="new readers per second")
    ap.add_argument("--setup-timeout", type=float, default=20.0)
    ap.add_argument("--cache-dir", default=os.path.join(os.path.expanduser("~"), ".cache", "freehold-bench"))
    ap.add_argument("--freehold-source", choices=("auto", "file", "synthetic"), default="auto")
    ap.add_argument("--synthetic-kbps", type=int, default=4096,
                    help="freeholdd's synthetic source: the encoder's target (the test pattern falls short of it)")
    ap.add_argument("--json", help="also write every round's raw result here")
    ap.add_argument("--smoke", action="store_true", help="N=10, 3 s window, 1 round; exit 1 if a reader got no media")
    args = ap.parse_args()
    if args.smoke:
        args.readers, args.rounds, args.window, args.warmup = "10", 1, 3.0, 1.0
    ns = [int(x) for x in args.readers.split(",") if x]
    servers = [s for s in args.servers.split(",") if s]
    for what, path in (("--load", args.load), ("--peer", args.peer), ("--freeholdd", args.freeholdd)):
        if not os.access(path, os.X_OK):
            print(f"fanout: {what} {path} is not an executable (build the release preset first)", file=sys.stderr)
            return 2
    if shutil.which("ffmpeg") is None:
        print("fanout: ffmpeg is needed to make the clip (scripts/deps.sh test)", file=sys.stderr)
        return 2
    clip = make_clip(args.cache_dir)
    source = args.freehold_source
    if source == "auto":
        source = "file" if freeholdd_has_file_source(args.freeholdd) else "synthetic"
    log(f"freeholdd source: {source}; clip {clip} ({os.path.getsize(clip) * 8 / 20 / 1e6:.2f} Mbit/s)")

    work = tempfile.mkdtemp(prefix="freehold-fanout-")
    load_before = open("/proc/loadavg").read().split()[:3]
    results = []
    failures = []
    t0 = time.monotonic()
    try:
        for n in ns:
            for rnd in range(args.rounds):
                for name in servers:
                    server = (Peer(args.peer, clip, work) if name == "peer"
                              else Freeholdd(args.freeholdd, clip, work, source, args.synthetic_kbps))
                    log(f"N={n} round {rnd + 1}/{args.rounds}: {name}")
                    try:
                        r = run_one(args, server, n)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                        failures.append(f"N={n} {name} round {rnd + 1}: {e}")
                        continue
                    r["round"] = rnd
                    results.append(r)
                    bad = r["failed"] + r["no_media"]
                    if bad or not r["server_alive"]:
                        failures.append(f"N={n} {name} round {rnd + 1}: {r['failed']} failed, {r['no_media']} "
                                        f"without media, reasons {r['failure_reasons']}, "
                                        f"server {'alive' if r['server_alive'] else 'DIED'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = open("/proc/loadavg").read().split()[:3]
    tab, ratios = table(results, ns, servers)
    print(tab)
    print()
    for line in ratios:
        print(line)
    print(f"freeholdd source: {source}; rounds: {args.rounds}; window {args.window} s; "
          f"loadavg before {' '.join(load_before)}, after {' '.join(load_after)}; "
          f"run took {time.monotonic() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"source": source, "rounds": args.rounds, "results": results}, f, indent=1)
    for f in failures:
        print(f"FAIL  {f}")
    if args.smoke:
        print("smoke: " + ("FAIL" if failures else "ok, every reader of both servers got media"))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
