#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of on-device analytics: freeholdd with the synthetic camera, whose box moves for 4 s and rests
for 4 s, seen through what a user has: the server-sent events stream, the event history and its snapshots, an
ONVIF pull point, the entities, and the settings (zones, rates, switching motion off) changed over REST. Then
real footage nobody here made (Debian's opencv-doc vtest.avi, people walking) followed by a black picture (the
lens covered), played through the file source: people and tampering reach the SSE stream and ONVIF's
RuleEngine/ObjectDetection/Object and VideoSource/GlobalSceneChange/AnalyticsService topics.

    /usr/bin/python3 tests/e2e/analytics_test.py --bin build/bin/freeholdd
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Abort, Daemon, Report, free_port, kill_children, short  # noqa: E402
from api_test import Api, EventClient  # noqa: E402
from onvif_test import Conn, envelope, first_text, wsse_header  # noqa: E402

HOST = "127.0.0.1"
R = Report()
BOX_BAND = (0.375, 0.625)  # the synthetic box's rows, as fractions of the height
CYCLE = 8.0                # it moves 4 s and rests 4 s


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Stream:
    """The SSE stream, read on a thread so that no event is missed while the test does other things."""

    def __init__(self, port, token):
        self.client = EventClient(port, token)
        self.client.read_head()
        self.events = []  # (arrival time, type, data as dict)
        self.cond = threading.Condition()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                e = self.client.next_event(time.monotonic() + 1)
            except (ConnectionError, OSError):
                return
            if e is None:
                continue
            try:
                data = json.loads(e[1])
            except ValueError:
                data = {}
            with self.cond:
                self.events.append((time.time(), e[0], data))
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.events)

    def wait(self, kind, since, timeout):
        """The first event of `kind` at index >= since: (arrival, data), or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for arrived, k, data in self.events[since:]:
                    if k == kind:
                        return arrived, data
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def kinds(self, since):
        with self.cond:
            return [k for _, k, _ in self.events[since:]]

    def close(self):
        self.stop = True
        self.client.close()


def pull_changes(port, user, pw, out, seconds, ready=None):
    """An ONVIF pull point: collects (topic, item, value, UtcTime) of every "Changed" message for `seconds`, or
    ("error", why). Sets `ready` (a threading.Event) once the pull point exists."""
    c = Conn(port)
    status, _, body = c.post("/onvif/events_service",
                             envelope("<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT120S"
                                      "</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
                                      wsse_header(user, pw)[0]).encode())
    address = first_text(body, ".//tev:SubscriptionReference/wsa:Address") or ""
    m = re.match(r"https?://[^/]+(/.*)$", address)
    if status != 200 or not m:
        out.append(("error", f"CreatePullPointSubscription: HTTP {status} {short(body)}"))
        return
    if ready:
        ready.set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s, _, b = c.post(m.group(1), envelope(
            "<tev:PullMessages><tev:Timeout>PT5S</tev:Timeout><tev:MessageLimit>20</tev:MessageLimit>"
            "</tev:PullMessages>", wsse_header(user, pw)[0] + f"<wsa:To>{address}</wsa:To>").encode())
        if s != 200:
            out.append(("error", f"PullMessages: HTTP {s} {short(b)}"))
            return
        text = b.decode("utf-8", "replace")
        for msg in re.findall(r"<wsnt:NotificationMessage>.*?</wsnt:NotificationMessage>", text, re.S):
            if 'PropertyOperation="Changed"' not in msg:
                continue
            topic = re.search(r"<wsnt:Topic[^>]*>([^<]*)</wsnt:Topic>", msg)
            when = re.search(r'UtcTime="([^"]+)"', msg)
            item = re.search(r'<tt:Data><tt:SimpleItem Name="([^"]+)" Value="([^"]*)"', msg)
            if topic and when and item:
                out.append((topic.group(1).strip(), item.group(1), item.group(2), parse_time(when.group(1))))
    c.close()


def states_of(changes, topic):
    """[(value, time)] of one topic's changes, in order."""
    return [(x[2], x[3]) for x in changes if len(x) == 4 and x[0] == topic]


def overlaps_band(box):
    return box["y"] < BOX_BAND[1] and box["y"] + box["h"] > BOX_BAND[0]


def start(binary, work, name="synthetic", source=""):
    """freeholdd on loopback with `source` (TOML lines of a [source] table; empty: the synthetic camera)."""
    ports = {k: free_port() for k in ("https", "plain", "rtsp", "rtsps")}
    config = os.path.join(work, f"{name}.toml")
    with open(config, "w") as f:
        f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {ports["https"]}\nplain_enabled = true\n'
                f'plain_port = {ports["plain"]}\n[rtsp]\nport = {ports["rtsp"]}\ntls_port = {ports["rtsps"]}\n'
                "[stream.main]\nwidth = 640\nheight = 360\nfps = 10\n[stream.sub]\nenabled = false\n"
                "[motion]\ncooldown_ms = 1500\n" + (f"[source]\n{source}" if source else ""))
    daemon = Daemon(binary, os.path.join(work, f"{name}-state"), config)
    daemon.start()
    ok = daemon.wait_for(daemon.out, r"Press Ctrl-C")
    m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", "\n".join(daemon.out))
    R.require(f"freeholdd starts with the {name} source and prints the admin credentials", ok and m,
              short(daemon.log_text(), 1500))
    return daemon, ports, m.group(1), m.group(2)


def check_cycle(stream, api, token):
    """Motion starts and ends with the box; the events carry what a user needs."""
    mark = stream.mark()
    got = stream.wait("motion_start", mark, CYCLE + 4)
    R.require("SSE: motion_start arrives within a box cycle", got is not None, str(stream.kinds(mark)))
    arrived, start_ev = got
    during = motion_state(api, token)
    end = stream.wait("motion_end", mark, CYCLE + 4)
    R.require("SSE: motion_end follows", end is not None, str(stream.kinds(mark)))
    _, end_ev = end
    after = motion_state(api, token)
    R.check("the motion entity follows: true after motion_start, false after motion_end",
            during is True and after is False, f"{during} {after}")
    R.check("motion_start: id, UTC time within 2 s of its arrival, source camera, no zones",
            isinstance(start_ev.get("id"), int) and abs(parse_time(start_ev["time"]) - arrived) < 2
            and start_ev.get("source") == "camera" and start_ev.get("zones") == [], json.dumps(start_ev))
    objs = start_ev.get("objects", [])
    R.check("motion_start: its moving region is labelled motion and lies on the box's rows",
            objs and objs[0]["label"] == "motion" and overlaps_band(objs[0]["box"]), json.dumps(objs))
    R.check("motion_end: a later id, related = its motion_start, duration 3-8 s",
            end_ev.get("id", 0) > start_ev["id"] and end_ev.get("related") == start_ev["id"]
            and 3000 <= end_ev.get("duration_ms", 0) <= 8000, json.dumps(end_ev))
    return start_ev, end_ev


def check_history(api, token, start_ev, end_ev):
    r = api.call("GET", "/api/v1/events?type=motion_start&limit=5", token=token)
    ids = [e["id"] for e in (r.json or {}).get("events", [])] if r.status == 200 else []
    R.check("history: ?type=motion_start lists that motion_start", start_ev["id"] in ids, repr(r))
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    r = api.call("GET", f"/api/v1/events?since={future}", token=token)
    R.check("history: since an hour from now -> no events", r.status == 200 and r.json["events"] == [], repr(r))
    R.check("motion_start has a snapshot path, motion_end none",
            start_ev.get("snapshot") == f"/api/v1/events/{start_ev['id']}/snapshot" and end_ev.get("snapshot") is None,
            f"{start_ev.get('snapshot')} {end_ev.get('snapshot')}")
    r = api.call("GET", f"/api/v1/events/{start_ev['id']}/snapshot", token=token)
    jpeg = r.body if r.status == 200 else b""
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", "-"],
                           input=jpeg, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    R.check("the snapshot is a JPEG of the analysed picture that ffprobe reads (640x360)",
            r.status == 200 and r.header("content-type") == "image/jpeg" and jpeg[:2] == b"\xff\xd8"
            and probe.stdout.decode().strip() == "640,360", f"{r.status} {probe.stdout!r} {probe.stderr[-300:]!r}")
    r = api.call("GET", f"/api/v1/events/{end_ev['id']}/snapshot", token=token)
    R.check("the motion_end's snapshot -> 404", r.status == 404, repr(r))
    r = api.call("GET", f"/api/v1/events/{start_ev['id']}/snapshot")
    R.check("a snapshot without authentication -> 401", r.status == 401, repr(r))


def patch(api, token, values):
    return api.call("PATCH", "/api/v1/config", values, token=token)


def motion_state(api, token):
    r = api.call("GET", "/api/v1/entities", token=token)
    for e in (r.json or {}).get("entities", []) if r.status == 200 else []:
        if e["object_id"] == "motion":
            return e.get("state")
    return None


def check_bad_model(daemon, api, token, work):
    """A corrupt ONNX file is refused with the reason in the log when the setting is applied, and nothing breaks."""
    bad = os.path.join(work, "broken.onnx")
    with open(bad, "wb") as f:
        f.write(b"\x08\x07" + os.urandom(2000))
    mark = len(daemon.err)
    r = patch(api, token, {"person.detector": "onnx", "person.model": bad})
    R.check("PATCH person.detector = onnx with a corrupt model file -> 200 (the file is checked by the detector)",
            r.status == 200, repr(r))
    line = daemon.wait_for(daemon.err, r"event=analytics\.person_unavailable .*not a usable ONNX model", mark, 10)
    R.check("the log names the corrupt model and why it is unusable", line is not None,
            short("\n".join(daemon.err[mark:]), 1500))
    r = patch(api, token, {"person.detector": "hog", "person.model": ""})
    line = daemon.wait_for(daemon.err, r"event=analytics\.person_ready detector=hog", mark, 10)
    R.check("back to HOG: the detector is ready again", r.status == 200 and line is not None, repr(r))
    R.check("freeholdd is still running", daemon.running())


def check_settings(stream, api, token):
    band = "exclude road: 0,0.3 1,0.3 1,0.7 0,0.7"
    r = patch(api, token, {"motion.zones": band})
    R.check("PATCH motion.zones with an exclude zone over the box's rows -> 200, applied live",
            r.status == 200 and r.json.get("restart_required") == [], repr(r))
    time.sleep(3)  # a motion in progress ends first
    mark = stream.mark()
    quiet = stream.wait("motion_start", mark, CYCLE + 1)
    R.check("no motion_start for a whole box cycle while the box moves only in the excluded zone", quiet is None,
            str(stream.kinds(mark)))
    for value, words in (("include bow: 0,0 1,1 1,0 0,1", "crosses itself"),
                         ("include big: 0,0 1.5,0 1,1", "outside the picture"),
                         ("include a: 0,0 1,0", "at least 3")):
        r = patch(api, token, {"motion.zones": value})
        msgs = " ".join(e.get("message", "") for e in (r.json or {}).get("errors", []))
        R.check(f"motion.zones {value!r} -> 400 naming the problem ({words})",
                r.status == 400 and words in msgs and "motion.zones" in msgs, repr(r))
    for fps in (0, 99):
        r = patch(api, token, {"motion.fps": fps})
        R.check(f"motion.fps = {fps} -> 400", r.status == 400 and "motion.fps" in r.body.decode(), repr(r))
    r = api.call("GET", "/api/v1/config", token=token)
    R.check("the refused values changed nothing", r.status == 200 and r.json["values"].get("motion.zones") == band
            and r.json["values"].get("motion.fps") == 5, short(r.body))

    r = patch(api, token, {"motion.zones": ""})
    R.check("PATCH motion.zones = \"\" -> 200", r.status == 200, repr(r))
    mark = stream.mark()
    R.check("without the zone, motion is seen again within a cycle",
            stream.wait("motion_start", mark, CYCLE + 4) is not None, str(stream.kinds(mark)))

    r = patch(api, token, {"motion.enabled": False})
    R.check("PATCH motion.enabled = false -> 200", r.status == 200, repr(r))
    time.sleep(1)
    R.check("motion detection off: the motion entity is false", motion_state(api, token) is False,
            str(motion_state(api, token)))
    mark = stream.mark()
    quiet = stream.wait("motion_start", mark, CYCLE + 1)
    R.check("motion detection off: no motion_start for a whole cycle", quiet is None, str(stream.kinds(mark)))
    patch(api, token, {"motion.enabled": True})


VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"  # Debian opencv-doc: people walking, 768x576, 10 fps
# The clip: vtest's first picture held (long enough for the test to subscribe, also under ASan), then it plays,
# then black.
STILL_S, PEOPLE_S, COVERED_S = 12, 12, 8


def make_footage(work):
    """An MP4 of vtest.avi's first picture held STILL_S, its first PEOPLE_S seconds, then COVERED_S of black."""
    path = os.path.join(work, "still-people-covered.mp4")
    graph = (f"[0:v]trim=duration={PEOPLE_S},setpts=PTS-STARTPTS,fps=10,"
             f"tpad=start_duration={STILL_S}:start_mode=clone,format=yuv420p[a];"
             "[1:v]format=yuv420p[b];[a][b]concat=n=2:v=1[v]")
    r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", VTEST, "-f", "lavfi", "-i",
                        f"color=c=black:s=768x576:r=10:d={COVERED_S}", "-filter_complex", graph, "-map", "[v]",
                        "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-bf", "0", path],
                       capture_output=True, timeout=120)
    return (path if r.returncode == 0 else None), r.stderr.decode("utf-8", "replace")


def check_footage(binary, work):
    """People, then a covered lens, played through the file source: SSE events and ONVIF topics."""
    R.require(f"{VTEST} is installed (Debian opencv-doc)", os.path.exists(VTEST), "apt-get install opencv-doc")
    clip, err = make_footage(work)
    R.require("ffmpeg makes the clip: vtest.avi held still, playing, then black", clip, short(err))
    started = time.monotonic()
    daemon, ports, user, pw = start(binary, work, "footage",
                                    f'kind = "file"\nfile = "{clip}"\ndecode = true\nloop = false\n'
                                    "width = 768\nheight = 576\n")
    stream = None
    try:
        api = Api(ports["https"], ports["plain"])
        r = api.login(user, pw)
        R.require("log in to the footage daemon", r.status in (200, 201), repr(r))
        stream = Stream(ports["https"], r.json["token"])
        onvif, subscribed = [], threading.Event()
        seconds = STILL_S + PEOPLE_S + COVERED_S + 6
        puller = threading.Thread(target=pull_changes, args=(ports["plain"], user, pw, onvif, seconds, subscribed),
                                  daemon=True)
        puller.start()
        R.require("an ONVIF pull point exists before people appear", subscribed.wait(STILL_S - 2), short(onvif))
        time.sleep(max(0.0, started + STILL_S - 1 - time.monotonic()))
        quiet = stream.kinds(0)
        R.check(f"vtest.avi's first picture held still ({STILL_S} s): no motion, person or tamper event",
                not {"motion_start", "person", "tamper"} & set(quiet), str(quiet))
        person = stream.wait("person", 0, STILL_S + PEOPLE_S + 4)
        tamper = stream.wait("tamper", 0, seconds)
        puller.join(seconds + 10)
        R.check("real footage: a person event on the SSE stream while people walk",
                person is not None and any(o.get("label") == "person" for o in person[1].get("objects", [])),
                short(person, 400))
        R.check("the lens covered (black): a tamper event, detail \"covered\", on the SSE stream",
                tamper is not None and tamper[1].get("detail") == "covered", short(tamper, 400))
        errors = [x for x in onvif if x[0] == "error"]
        people = states_of(onvif, "tns1:RuleEngine/ObjectDetection/Object")
        R.check("ONVIF PullMessages: RuleEngine/ObjectDetection/Object changes to ClassTypes \"Person\"",
                not errors and "Person" in [v for v, _ in people], short(onvif, 600))
        covered = states_of(onvif, "tns1:VideoSource/GlobalSceneChange/AnalyticsService")
        # The event is stamped with the picture where the cover began; the state changes when the cover has lasted
        # long enough to be reported, which is when the event arrives.
        R.check("ONVIF PullMessages: VideoSource/GlobalSceneChange/AnalyticsService State true, stamped within 1 s "
                "of the tamper event's arrival",
                tamper is not None and any(v == "true" and abs(t - tamper[0]) < 1 for v, t in covered),
                f"{short(covered)}; tamper {short(tamper, 300)}")
    finally:
        if stream:
            stream.close()
        daemon.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/bin/freeholdd")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="freehold-analytics-")
    daemon, stream, t0 = None, None, time.monotonic()
    try:
        daemon, ports, user, pw = start(os.path.abspath(args.bin), work)
        api = Api(ports["https"], ports["plain"])
        r = api.login(user, pw)
        R.require("log in with the demo admin", r.status in (200, 201), repr(r))
        token = r.json["token"]
        stream = Stream(ports["https"], token)
        onvif = []
        puller = threading.Thread(target=pull_changes, args=(ports["plain"], user, pw, onvif, 2 * CYCLE + 6),
                                  daemon=True)
        puller.start()
        start_ev, end_ev = check_cycle(stream, api, token)
        puller.join(2 * CYCLE + 20)
        errors = [x for x in onvif if x[0] == "error"]
        changes = [(value == "true", t) for value, t in states_of(onvif, "tns1:VideoSource/MotionAlarm")]
        states = [state for state, _ in changes]
        R.check("ONVIF PullMessages: MotionAlarm State true, then false", not errors and True in states
                and False in states[states.index(True):], short(onvif, 600))
        times = {round(t, 1) for _, t in changes}
        R.check("ONVIF UtcTime equals the SSE events' time (the picture's)",
                any(abs(t - parse_time(start_ev["time"])) < 0.01 for _, t in changes)
                and any(abs(t - parse_time(end_ev["time"])) < 0.01 for _, t in changes), f"{times} {start_ev['time']}")
        check_history(api, token, start_ev, end_ev)
        check_settings(stream, api, token)
        check_bad_model(daemon, api, token, work)
        R.check("no tamper or person event on the synthetic scene",
                not {"tamper", "person"} & set(stream.kinds(0)), str(stream.kinds(0)))
        stream.close()
        stream = None
        daemon.stop()
        daemon = None
        check_footage(os.path.abspath(args.bin), work)
    except Abort:
        pass
    finally:
        if stream:
            stream.close()
        kill_children()
        if daemon:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"e2e.analytics took {time.monotonic() - t0:.0f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
