#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of the digital PTZ and the imaging settings, through ONVIF and the RTSP picture.

Starts freeholdd --demo on loopback (plain HTTP on, small streams), speaks raw SOAP 1.2 with HTTP Digest to
/onvif/ptz_service and /onvif/imaging_service, and decodes frames of rtsp://.../main with ffmpeg to see what a viewer
sees: AbsoluteMove to zoom 1 magnifies the synthetic pattern four times (its luma ramp gets four times flatter, and
at the top left corner the burned-in counter's blocks fill the view), GetStatus reports the position, SetPreset and
GotoPreset round trip and the preset survives a restart, ContinuousMove then Stop moves and halts, and
SetImagingSettings brightness 100 makes the picture clearly brighter than at 50. When tests/e2e/onvif_validate.py
(the ONVIF XSD validator, needs python3-lxml) is present, every answer is validated against the ONVIF schemas too.
Prints one line per check and "N passed, M failed". Needs ffmpeg.

    /usr/bin/python3 tests/e2e/onvif_ptz_test.py --bin build/bin/freeholdd
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

from common import Report, die_with_parent, short

HOST = "127.0.0.1"
WIDTH, HEIGHT = 640, 360
NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "tt": "http://www.onvif.org/ver10/schema",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "timg": "http://www.onvif.org/ver20/imaging/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tr2": "http://www.onvif.org/ver20/media/wsdl",
}
PT = "<tptz:ProfileToken>Profile_main</tptz:ProfileToken>"
SRC = "<timg:VideoSourceToken>VideoSource_1</timg:VideoSourceToken>"
FOV = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationSpaceFov"

try:
    import onvif_validate  # the ONVIF XSD validator of the e2e.onvif test, when it is there
except ImportError:
    onvif_validate = None


R = Report()
INVALID = []  # answers that did not validate: (operation, problem)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Daemon:
    """freeholdd --demo with its stdout (the banner) collected."""

    def __init__(self, binary, state_dir, config):
        self.cmd = [binary, "--demo", "--state-dir", state_dir, "--config", config]
        self.proc = None
        self.out = []
        self.err = []
        self.lock = threading.Lock()

    def start(self):
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=die_with_parent, env=env)
        for pipe, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._drain, args=(pipe, lines), daemon=True).start()

    def _drain(self, pipe, lines):
        for raw in iter(pipe.readline, b""):
            with self.lock:
                lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def wait_banner(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            with self.lock:
                text = "\n".join(self.out)
            if "Press Ctrl-C" in text:
                return text
            time.sleep(0.1)
        return None

    def log(self):
        with self.lock:
            return "\n".join(self.err[-30:])

    def stop(self):
        """SIGTERM; the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                return None
        return self.proc.returncode


class Onvif:
    def __init__(self, port, user, password):
        self.base = f"http://{HOST}:{port}/onvif/"
        pm = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        pm.add_password(None, self.base, user, password)
        self.opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(pm))

    def call(self, service, prefix, op, body=""):
        """(HTTP status, parsed Body child or None, raw text)."""
        envelope = (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{NS["env"]}" '
                    f'xmlns:tt="{NS["tt"]}" xmlns:{prefix}="{NS[prefix]}"><env:Body>'
                    f"<{prefix}:{op}>{body}</{prefix}:{op}></env:Body></env:Envelope>").encode()
        req = urllib.request.Request(self.base + service, data=envelope, method="POST",
                                     headers={"Content-Type": "application/soap+xml; charset=utf-8"})
        try:
            with self.opener.open(req, timeout=10) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        if onvif_validate is not None and raw:
            try:
                problems = onvif_validate.validate_body(raw)
            except Exception as e:  # the validator's own failure is a failure too
                problems = [f"validator error: {e}"]
            if problems:
                INVALID.append((op, short(str(problems), 400)))
        try:
            body = ET.fromstring(raw).find("env:Body", NS)
            return status, (body[0] if body is not None and len(body) else None), raw.decode("utf-8", "replace")
        except ET.ParseError:
            return status, None, raw.decode("utf-8", "replace")

    def ptz(self, op, body=""):
        return self.call("ptz_service", "tptz", op, body)

    def imaging(self, op, body=""):
        return self.call("imaging_service", "timg", op, body)


def position(onvif):
    """(pan, tilt, zoom, pan/tilt MoveStatus, zoom MoveStatus) from GetStatus, or None."""
    status, el, _ = onvif.ptz("GetStatus", PT)
    if status != 200 or el is None:
        return None
    pt = el.find("tptz:PTZStatus/tt:Position/tt:PanTilt", NS)
    z = el.find("tptz:PTZStatus/tt:Position/tt:Zoom", NS)
    ms = el.find("tptz:PTZStatus/tt:MoveStatus", NS)
    if pt is None or z is None or ms is None:
        return None
    return (float(pt.get("x")), float(pt.get("y")), float(z.get("x")), ms.findtext("tt:PanTilt", "", NS),
            ms.findtext("tt:Zoom", "", NS))


def wait_idle(onvif, timeout=6):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = position(onvif)
        if p and p[3] == "IDLE" and p[4] == "IDLE":
            return p
        time.sleep(0.1)
    return position(onvif)


def near(p, want, tol=0.02):
    return p is not None and all(abs(a - b) <= tol for a, b in zip(p[:3], want))


def frame(rtsp_port, user, password, skip=12):
    """The luma plane of a decoded picture of /main, `skip` pictures after the reader's first (which may be the
    cached keyframe from before the change under test); None if ffmpeg failed."""
    url = f"rtsp://{user}:{password}@{HOST}:{rtsp_port}/main"
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url, "-frames:v",
           str(skip + 1), "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=30, preexec_fn=die_with_parent).stdout
    except subprocess.TimeoutExpired:
        return None
    size = WIDTH * HEIGHT
    if len(out) < size:
        return None
    return out[len(out) - size:]


def ramp_steepness(y):
    """Mean |horizontal luma step| below the burned-in rows, ignoring edges (ramp wraps, the box): about 1 on the
    synthetic pattern's diagonal ramp, a quarter of that when magnified four times."""
    total, n = 0, 0
    for row in range(HEIGHT // 5, HEIGHT, 4):
        line = y[row * WIDTH:(row + 1) * WIDTH]
        for x in range(0, WIDTH - 1):
            d = abs(line[x + 1] - line[x])
            if d <= 8:
                total += d
                n += 1
    return total / max(n, 1)


def dark_fraction(y, x0, x1, y0, y1):
    n = dark = 0
    for row in range(y0, y1):
        for x in range(x0, x1):
            n += 1
            dark += y[row * WIDTH + x] < 60
    return dark / max(n, 1)


def mean_luma(y):
    return sum(y) / len(y)


def start(binary, state_dir, config):
    d = Daemon(binary, state_dir, config)
    d.start()
    return d, d.wait_banner()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    binary = os.path.abspath(ap.parse_args().bin)
    if shutil.which("ffmpeg") is None:
        print("FAIL  ffmpeg is installed (scripts/deps.sh test)\n0 passed, 1 failed")
        return 1
    work = tempfile.mkdtemp(prefix="freehold-ptz-")
    plain, https, rtsp = free_port(), free_port(), free_port()
    config = os.path.join(work, "freehold.toml")
    with open(config, "w") as f:
        f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {https}\nplain_enabled = true\nplain_port = {plain}\n'
                f"[rtsp]\nport = {rtsp}\ntls_enabled = false\nudp_port_first = 42000\nudp_port_last = 42099\n"
                f"[stream.main]\nwidth = {WIDTH}\nheight = {HEIGHT}\nfps = 10\ngop = 5\n"
                "[stream.sub]\nwidth = 320\nheight = 180\nfps = 5\ngop = 5\n")
    state = os.path.join(work, "state")
    t0 = time.monotonic()
    daemon, banner = start(binary, state, config)
    try:
        m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", banner or "")
        if not R.check("the demo starts and prints the admin credentials", m, short(daemon.log(), 1500)):
            return 1
        user, pw = m.group(1), m.group(2)
        o = Onvif(plain, user, pw)

        status, el, raw = o.ptz("GetServiceCapabilities")
        caps = el.find("tptz:Capabilities", NS) if el is not None else None
        R.check("PTZ GetServiceCapabilities says MoveStatus and StatusPosition",
                status == 200 and caps is not None and caps.get("MoveStatus") == "true"
                and caps.get("StatusPosition") == "true", short(raw))
        status, el, raw = o.ptz("GetConfigurationOptions", "<tptz:ConfigurationToken>PTZConfig_1</tptz:ConfigurationToken>")
        spaces = [u.text for u in el.iter(f"{{{NS['tt']}}}URI")] if el is not None else []
        R.check("GetConfigurationOptions offers the FOV translation space", FOV in spaces, short(raw))
        status, el, raw = o.call("media_service", "trt", "GetProfiles")
        R.check("the media profiles carry the PTZ configuration",
                status == 200 and el is not None and len(el.findall(".//tt:PTZConfiguration", NS)) == 2, short(raw))

        for op, body in (("GetNodes", ""), ("GetNode", "<tptz:NodeToken>PTZNode_1</tptz:NodeToken>"),
                         ("GetConfigurations", ""), ("GetConfiguration",
                          "<tptz:PTZConfigurationToken>PTZConfig_1</tptz:PTZConfigurationToken>")):
            status, _, raw = o.ptz(op, body)
            R.check(f"PTZ {op} answers", status == 200 and "PTZNode_1" in raw, short(raw))
        status, el, raw = o.call("media2_service", "tr2", "GetProfiles", "<tr2:Type>All</tr2:Type>")
        R.check("Media2 profiles carry the PTZ configuration",
                status == 200 and el is not None and len(el.findall(".//tr2:PTZ", NS)) == 2, short(raw))

        whole = frame(rtsp, user, pw)
        R.check("a picture decodes before any move", whole is not None)
        status, _, raw = o.ptz("AbsoluteMove", PT + '<tptz:Position><tt:PanTilt x="0" y="0"/><tt:Zoom x="1"/>'
                               "</tptz:Position>")
        R.check("AbsoluteMove to zoom 1 is accepted", status == 200, short(raw))
        p = wait_idle(o)
        R.check("GetStatus reports the position (0, 0, zoom 1) and IDLE once there", near(p, (0, 0, 1)), str(p))
        zoomed = frame(rtsp, user, pw)
        if whole and zoomed:
            a, b = ramp_steepness(whole), ramp_steepness(zoomed)
            R.check("at zoom 1 the picture is magnified: the luma ramp is about 4x flatter", b < a / 2.5,
                    f"steepness whole {a:.2f}, zoomed {b:.2f}")

        # Top left corner, zoom 1: the burned-in frame counter's leading zero bits (dark blocks) fill the top band.
        o.ptz("AbsoluteMove", PT + '<tptz:Position><tt:PanTilt x="-1" y="1"/><tt:Zoom x="1"/></tptz:Position>')
        p = wait_idle(o)
        R.check("GetStatus reports the top left corner (-1, 1, 1)", near(p, (-1, 1, 1)), str(p))
        corner = frame(rtsp, user, pw)
        if whole and corner:
            before, after = dark_fraction(whole, 0, 360, 4, 28), dark_fraction(corner, 0, 360, 4, 28)
            R.check("the burned-in counter blocks are magnified 4x at the top left", after > 0.9 and before < 0.8,
                    f"dark fraction of the top band: whole {before:.2f}, zoomed {after:.2f}")

        status, el, raw = o.ptz("SetPreset", PT + "<tptz:PresetName>corner</tptz:PresetName>")
        token = el.findtext("tptz:PresetToken", "", NS) if el is not None else ""
        R.check("SetPreset answers a preset token", status == 200 and token, short(raw))
        o.ptz("GotoHomePosition", PT)
        p = wait_idle(o)
        R.check("GotoHomePosition returns to (0, 0, 0)", near(p, (0, 0, 0)), str(p))
        status, _, raw = o.ptz("GotoPreset", PT + f"<tptz:PresetToken>{token}</tptz:PresetToken>")
        p = wait_idle(o)
        R.check("GotoPreset goes back to the saved corner", status == 200 and near(p, (-1, 1, 1)), f"{p} {short(raw)}")
        status, _, raw = o.ptz("GotoPreset", PT + "<tptz:PresetToken>nope</tptz:PresetToken>")
        R.check("GotoPreset of an unknown token is a ter:NoToken fault", status == 400 and "NoToken" in raw, short(raw))

        # Continuous move from the centre at zoom 1: pans right until stopped.
        o.ptz("AbsoluteMove", PT + '<tptz:Position><tt:PanTilt x="0" y="0"/><tt:Zoom x="1"/></tptz:Position>')
        wait_idle(o)
        status, _, raw = o.ptz("ContinuousMove", PT + '<tptz:Velocity><tt:PanTilt x="0.5" y="0"/></tptz:Velocity>'
                               "<tptz:Timeout>PT10S</tptz:Timeout>")
        time.sleep(0.3)
        moving = position(o)
        time.sleep(0.5)
        o.ptz("Stop", PT + "<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom>")
        stopped = position(o)
        time.sleep(0.6)
        later = position(o)
        R.check("ContinuousMove pans (MOVING, pan grows)", status == 200 and moving and moving[3] == "MOVING"
                and moving[0] > 0.05, f"{moving} {short(raw)}")
        R.check("Stop halts it: IDLE and the position stays", stopped and later and stopped[3] == "IDLE"
                and stopped[0] > moving[0] and abs(later[0] - stopped[0]) < 1e-3, f"{stopped} then {later}")
        status, _, raw = o.ptz("RelativeMove", PT + f'<tptz:Translation><tt:PanTilt x="-0.5" y="0" space="{FOV}"/>'
                               "</tptz:Translation>")
        p = wait_idle(o)
        # At zoom 1 the view is a quarter of the width: half of it to the left is 1/6 of the pan range's units.
        R.check("RelativeMove in the FOV space moves by the view's geometry", status == 200 and p
                and abs((stopped[0] - p[0]) - 1 / 6) < 0.02, f"{stopped} -> {p} {short(raw)}")
        o.ptz("GotoHomePosition", PT)
        wait_idle(o)

        # Imaging: brightness 100 makes the decoded picture clearly brighter than 50.
        status, el, raw = o.imaging("GetImagingSettings", SRC)
        R.check("GetImagingSettings reports brightness 50 and the IR cut filter AUTO",
                status == 200 and el is not None and el.findtext(".//tt:Brightness", "", NS) == "50"
                and el.findtext(".//tt:IrCutFilter", "", NS) == "AUTO", short(raw))
        normal = frame(rtsp, user, pw)
        status, _, raw = o.imaging("SetImagingSettings", SRC + "<timg:ImagingSettings><tt:Brightness>100</tt:Brightness>"
                                   "<tt:IrCutFilter>ON</tt:IrCutFilter></timg:ImagingSettings>")
        R.check("SetImagingSettings brightness 100, IR cut filter ON is accepted", status == 200, short(raw))
        bright = frame(rtsp, user, pw)
        if normal and bright:
            R.check("brightness 100 makes the picture clearly brighter", mean_luma(bright) > mean_luma(normal) + 40,
                    f"mean luma {mean_luma(normal):.1f} -> {mean_luma(bright):.1f}")
        status, el, raw = o.imaging("GetImagingSettings", SRC)
        R.check("GetImagingSettings reads back 100 and ON", el is not None
                and el.findtext(".//tt:Brightness", "", NS) == "100" and el.findtext(".//tt:IrCutFilter", "", NS) == "ON",
                short(raw))
        status, _, raw = o.imaging("SetImagingSettings", SRC + "<timg:ImagingSettings><tt:Contrast>101</tt:Contrast>"
                                   "</timg:ImagingSettings>")
        R.check("Contrast 101 is refused with ter:InvalidArgVal", status == 400 and "InvalidArgVal" in raw, short(raw))
        o.imaging("SetImagingSettings", SRC + "<timg:ImagingSettings><tt:Brightness>50</tt:Brightness>"
                  "</timg:ImagingSettings>")
        for op in ("GetOptions", "GetMoveOptions", "GetStatus"):
            status, _, raw = o.imaging(op, SRC)
            R.check(f"imaging {op} answers", status == 200, short(raw))

        # Presets survive a restart (they are the ptz.presets setting); the position does not need to.
        code = daemon.stop()
        R.check("the daemon exits cleanly on SIGTERM (no sanitizer report)", code == 0, f"exit {code}: {daemon.log()}")
        daemon, banner = start(binary, state, config)
        R.check("the daemon restarts on the same state", banner is not None, short(daemon.log(), 1000))
        status, el, raw = o.ptz("GetPresets", PT)
        names = [p.findtext("tt:Name", "", NS) for p in el.findall("tptz:Preset", NS)] if el is not None else []
        R.check("the preset survived the restart", "corner" in names, short(raw))
        status, _, raw = o.ptz("RemovePreset", PT + f"<tptz:PresetToken>{token}</tptz:PresetToken>")
        status2, el, raw2 = o.ptz("GetPresets", PT)
        R.check("RemovePreset removes it", status == 200 and el is not None and not el.findall("tptz:Preset", NS),
                short(raw + raw2))

        if onvif_validate is None:
            print("skip  XSD validation of the answers (tests/e2e/onvif_validate.py is not there)")
        else:
            R.check("every answer validates against the ONVIF schemas", not INVALID, short(str(INVALID), 2000))
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
        print(f"# runtime {time.monotonic() - t0:.1f} s")
        print(f"{R.passed} passed, {R.failed} failed", flush=True)
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
