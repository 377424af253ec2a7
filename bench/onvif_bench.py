#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""ONVIF benchmark: GetProfiles latency (p50/p99) and requests/s over keep-alive plain HTTP, on one connection and
on four, each request with its own WS-Security digest token (as NVRs send); and the latency from a motion state
change (the synthetic scene's box starting or stopping) to the PullMessages answer carrying it. "req/CPU-s" is
requests per CPU-second of freeholdd's I/O thread: what one core serves. The issue's goals are printed beside the
figures; ../shared/PERFORMANCE.md has no peer figure for ONVIF. The client is Python: its own CPU time is part of
the latencies.

    python3 bench/onvif_bench.py --bin build/bin/freeholdd [--seconds 5]
"""

import argparse
import datetime
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from common import kill_children  # noqa: E402
from onvif_test import Conn, envelope, first_text, start_daemon, wsse_header  # noqa: E402

GOAL_P99_MS = 2.0
GOAL_EVENT_MS = 50.0


def get_profiles_loop(port, user, pw, seconds, out):
    c = Conn(port)
    lat = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = envelope("<trt:GetProfiles/>", wsse_header(user, pw)[0]).encode()
        t = time.perf_counter()
        status, _, _ = c.post("/onvif/media_service", data)
        lat.append(time.perf_counter() - t)
        if status != 200:
            out.append(("error", status))
            break
    c.close()
    out.append(("lat", lat))


def cpu_seconds(pid):
    """User + system CPU time of freeholdd's I/O thread (its main thread, which serves every request; capture
    and encoding run on other threads), from /proc."""
    with open(f"/proc/{pid}/task/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(port, user, pw, conns, seconds, pid):
    outs = [[] for _ in range(conns)]
    threads = [threading.Thread(target=get_profiles_loop, args=(port, user, pw, seconds, outs[i]))
               for i in range(conns)]
    t0 = time.monotonic()
    cpu0 = cpu_seconds(pid)
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    took = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0
    lat = [x for o in outs for k, v in o if k == "lat" for x in v]
    errors = [v for o in outs for k, v in o if k == "error"]
    if not lat:
        return None
    q = statistics.quantiles(lat, n=100)
    return {"n": len(lat), "p50": q[49] * 1000, "p99": q[98] * 1000, "rps": len(lat) / took,
            "per_cpu_s": len(lat) / cpu if cpu > 0 else float("nan"), "errors": errors}


def event_latency(port, user, pw, changes=6):
    """The synthetic scene's box starts and stops every 4 s; each change is stamped (UtcTime, in ms) when the
    device's motion state changes. A PullMessages is always waiting; latency = its answer's arrival - UtcTime
    (same host clock)."""
    c = Conn(port)
    data = envelope("<tev:CreatePullPointSubscription/>", wsse_header(user, pw)[0]).encode()
    status, _, body = c.post("/onvif/events_service", data)
    address = first_text(body, ".//tev:SubscriptionReference/wsa:Address") or ""
    m = re.match(r"https?://[^/]+(/.*)$", address)
    if status != 200 or not m:
        return None, f"CreatePullPointSubscription: HTTP {status}"
    path, to = m.group(1), f"<wsa:To>{address}</wsa:To>"
    lat = []
    deadline = time.monotonic() + changes * 4 + 10
    while len(lat) < changes and time.monotonic() < deadline:
        s, _, b = c.post(path, envelope("<tev:PullMessages><tev:Timeout>PT10S</tev:Timeout><tev:MessageLimit>10"
                                        "</tev:MessageLimit></tev:PullMessages>",
                                        wsse_header(user, pw)[0] + to).encode())
        arrived = time.time()
        if s != 200:
            return None, f"PullMessages: HTTP {s}"
        for stamp in re.findall(rb'UtcTime="([^"]+)" PropertyOperation="Changed"', b):
            when = datetime.datetime.strptime(stamp.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            lat.append(arrived - when)
            break  # both topics carry the same change
    c.close()
    return lat, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="freehold-onvif-bench-")
    daemon = None
    try:
        daemon, ports, (user, pw) = start_daemon(os.path.abspath(a.bin), work)
        if user is None:
            return 1
        print(f"{'GetProfiles over keep-alive HTTP':40} {'n':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} "
              f"{'req/CPU-s':>10}  goal")
        for conns in (1, 4):
            r = run_load(ports["plain"], user, pw, conns, a.seconds, daemon.proc.pid)
            if r is None:
                print(f"{conns} connection(s): no answers")
                continue
            print(f"{f'{conns} connection(s)':40} {r['n']:7d} {r['p50']:8.2f} {r['p99']:8.2f} {r['rps']:8.0f} "
                  f"{r['per_cpu_s']:10.0f}  "
                  f"p99 <= {GOAL_P99_MS} ms" + (f"  errors {r['errors']}" if r["errors"] else ""))
        lat, err = event_latency(ports["plain"], user, pw)
        if err or not lat:
            print(f"motion change -> PullMessages answer: failed ({err or 'no motion messages'})")
        else:
            lat_ms = sorted(x * 1000 for x in lat)
            print(f"motion state change -> PullMessages answer received: median {statistics.median(lat_ms):.1f} ms, "
                  f"max {lat_ms[-1]:.1f} ms over {len(lat_ms)} changes (goal <= {GOAL_EVENT_MS} ms)")
    finally:
        kill_children()
        if daemon:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
