#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""ONVIF benchmark: GetProfiles latency (p50/p99) and requests/s over keep-alive plain HTTP, on one connection and
on four, each request with its own WS-Security digest token (as NVRs send); and the latency from a motion state
change to the PullMessages answer carrying it, when the daemon has a switch that fakes motion (see
tests/e2e/onvif_test.py's Motion). The issue's goals are printed beside the figures; ../shared/PERFORMANCE.md has
no peer figure for ONVIF. The client is Python: with four connections its own CPU time is part of the figure.

    python3 bench/onvif_bench.py --bin build/bin/freeholdd [--seconds 5]
"""

import argparse
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
from onvif_test import Conn, Motion, envelope, first_text, start_daemon, wsse_header  # noqa: E402

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


def run_load(port, user, pw, conns, seconds):
    outs = [[] for _ in range(conns)]
    threads = [threading.Thread(target=get_profiles_loop, args=(port, user, pw, seconds, outs[i]))
               for i in range(conns)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    took = time.monotonic() - t0
    lat = [x for o in outs for k, v in o if k == "lat" for x in v]
    errors = [v for o in outs for k, v in o if k == "error"]
    if not lat:
        return None
    q = statistics.quantiles(lat, n=100)
    return {"n": len(lat), "p50": q[49] * 1000, "p99": q[98] * 1000, "rps": len(lat) / took, "errors": errors}


def event_latency(port, user, pw, motion, rounds=10):
    c = Conn(port)
    data = envelope("<tev:CreatePullPointSubscription/>", wsse_header(user, pw)[0]).encode()
    status, _, body = c.post("/onvif/events_service", data)
    address = first_text(body, ".//tev:SubscriptionReference/wsa:Address") or ""
    m = re.match(r"https?://[^/]+(/.*)$", address)
    if status != 200 or not m:
        return None, f"CreatePullPointSubscription: HTTP {status}"
    path, to = m.group(1), f"<wsa:To>{address}</wsa:To>"

    def pull(timeout):
        return c.post(path, envelope(f"<tev:PullMessages><tev:Timeout>{timeout}</tev:Timeout><tev:MessageLimit>10"
                                     "</tev:MessageLimit></tev:PullMessages>", wsse_header(user, pw)[0] + to).encode())

    pull("PT1S")  # the Initialized messages
    lat = []
    state = False
    for _ in range(rounds):
        state = not state
        result = {}

        def waiter():
            t = time.perf_counter()
            s, _, b = pull("PT5S")
            result["t"] = time.perf_counter()
            result["ok"] = s == 200 and b"MotionAlarm" in b
            result["start"] = t

        w = threading.Thread(target=waiter)
        w.start()
        time.sleep(0.2)  # the pull is waiting in the daemon
        t_change = time.perf_counter()
        motion.set(state)
        w.join(10)
        if result.get("ok"):
            lat.append(result["t"] - t_change)
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
        print(f"{'GetProfiles over keep-alive HTTP':40} {'n':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}  goal")
        for conns in (1, 4):
            r = run_load(ports["plain"], user, pw, conns, a.seconds)
            if r is None:
                print(f"{conns} connection(s): no answers")
                continue
            print(f"{f'{conns} connection(s)':40} {r['n']:7d} {r['p50']:8.2f} {r['p99']:8.2f} {r['rps']:8.0f}  "
                  f"p99 <= {GOAL_P99_MS} ms" + (f"  errors {r['errors']}" if r["errors"] else ""))
        motion = Motion(os.path.abspath(a.bin), ports["https"], user, pw)
        if motion.key is None:
            print("motion change -> PullMessages answer: n/a (the daemon has no switch that fakes motion)")
        else:
            lat, err = event_latency(ports["plain"], user, pw, motion)
            if err or not lat:
                print(f"motion change -> PullMessages answer: failed ({err or 'no motion messages'})")
            else:
                lat_ms = sorted(x * 1000 for x in lat)
                print(f"motion change ({motion.key} via PATCH /api/v1/config) -> PullMessages answer: "
                      f"median {statistics.median(lat_ms):.1f} ms, max {lat_ms[-1]:.1f} ms over {len(lat_ms)} "
                      f"changes (goal <= {GOAL_EVENT_MS} ms; includes the REST call)")
    finally:
        kill_children()
        if daemon:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
