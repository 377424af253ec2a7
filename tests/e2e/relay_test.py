#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of remote access through the owner's relay (docs/relay-protocol.md): the real freehold-relay,
freeholdd's relay link and `freehold connect`, all on loopback, used as an owner would, plus
tests/e2e/relay_fake.py, an independent relay that tampers with sessions on purpose.

  1. set-up: the relay starts and prints its fingerprint; a device not on its allow-list is refused with a message
     naming its ID; `freehold-relay allow` lets it link up within its backoff; /metrics counts it;
  2. through `freehold connect`: REST health (curl), the RTSP stream (ffprobe: h264 1280x720), ONVIF GetProfiles
     (SOAP with a WS-Security UsernameToken), 20 requests in a row, 2 MB+ of pipelined responses byte-identical to
     the same requests sent to the device directly; every session on direct data connections (the relay's default),
     the download in the relay's direct byte counter and not in its forwarded (data frame) one;
  3. authorisation: a client the relay admits but the device does not know (not_paired), a client the relay does
     not admit, a device nobody registered (unknown_device, then rate_limited after 6 tries);
  4. a wrong relay pin: refused before anything is sent, naming the certificate seen;
  5. tampering (relay_fake.py), once with data frames on the links and once (--direct) on direct data connections: a
     flipped bit or a dropped frame or message ends the session with a reset and no altered byte reaches the
     application (decrypt_failed; ffprobe fails too); an accept the relay made up is a key mismatch;
  6. blindness: a marker and the admin password sent through the tunnel are in no byte of the relay's memory (gcore),
     while the marker is in the client's (the control);
  7. kill -9 of the relay mid-download: the download and an idle RTSP connection through the tunnel are reset (not
     ended as if complete), `freehold connect` says the link ended, the relay restarts on its port and the device
     links up again within its backoff, a new connect works;
  8. 1000 short sessions, 25 at a time: the relay's session gauge, and the relay's,
     device's and client's descriptors and the relay's and device's memory return to where they were;
  9. a second relay with `direct_data = false`: a 2 MB+ download in data frames arrives intact, nothing goes direct;
 10. the WebSocket transport (wss://): tests/e2e/relay_ws_client.mjs (the npm `ws` client) against the relay's
     upgrade, framing, ping and refusals; `freehold connect` with a wss:// relay URL (curl, a 2 MB+ download intact),
     then the device's relay.url set to wss:// too; the relay counts the WebSocket links and nothing goes direct.

Sections run in the order 1 2 3 4 10 6 8 7 (one relay and device), then 5 twice and 9 (each its own device); each
may fail on its own.

Standard library only (plus curl, ffprobe, openssl, Node.js with tests/e2e's npm packages for section 10, and gdb's
gcore for section 6, which is skipped without it).

    /usr/bin/python3 tests/e2e/relay_test.py --bin-dir build/bin
"""

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import Abort, Daemon, Report, die_with_parent, free_port, kill_children, short, spawn, wait_until  # noqa: E402
from onvif_test import envelope, wsse_header  # noqa: E402

HOST = "127.0.0.1"
R = Report()
SKIPPED = []
LINK_UP_S = 35.0  # the device's backoff: 3 s doubling to 30 s, each wait 50-100 % of the step
CONNECT_S = 10.0  # `freehold connect` up or failed
SESSIONS, CONCURRENT, WARMUP_SESSIONS = 1000, 25, 200
NODE = shutil.which("node") or "/usr/bin/node"
WS_LINKS = "freehold_relay_websocket_links_total"

TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the device's own certificate is self-signed: not what is tested
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


def skip(name, why):
    """A check that could not run here: reported as such, neither passed nor failed."""
    SKIPPED.append(name)
    print(f"SKIP  {name}: {why}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Processes


class Proc(Daemon):
    """Any child with its stdout and stderr kept line by line: common.Daemon's machinery for another command."""

    def __init__(self, cmd, env=None, stdin=None):
        super().__init__(cmd[0], None, None)
        self.cmd, self.env, self.stdin = cmd, env, stdin
        self.ports = {}

    def start(self):
        self.proc = spawn(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                          stdin=self.stdin or subprocess.DEVNULL)
        for pipe, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            t = threading.Thread(target=self._drain, args=(pipe, lines), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def finish(self, timeout):
        """Waits for the process to exit and its output to be read; its exit status, or None if still running."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self.threads:
            t.join(timeout=2)
        return rc

    def out_text(self, since=0):
        with self.cond:
            return "\n".join(self.out[since:])

    def mark_out(self):
        with self.cond:
            return len(self.out)

    def say(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()


def tool_env(home):
    env = dict(os.environ, HOME=home)
    env.pop("JOURNAL_STREAM", None)  # the plain "ts=... level=... event=..." log format
    env.pop("XDG_CONFIG_HOME", None)
    return env


class Relay(Proc):
    def __init__(self, binary, work, env, port=0, name="relay", direct_data=True):
        """`name` names its config file and certificate directory in `work`; every relay of the test shares
        access.toml. `direct_data` as in the config (the default, true, is left out)."""
        # The per-address open rate raised (it is 10 a second by default), so that section 8 can open a thousand
        # sessions 25 at a time; the unknown-ID limit of section 3 stays as shipped.
        config = os.path.join(work, f"{name}.toml")
        with open(config, "w") as f:
            f.write(f'[relay]\nlisten = "127.0.0.1:0"\nself_signed = "{name}-tls"\nopens_per_second = 2000\n'
                    'open_burst = 2000\n' + ("" if direct_data else "direct_data = false\n"))
        super().__init__([binary, "serve", "--config", config, "--listen", f"{HOST}:{port}", "--self-signed",
                          os.path.join(work, f"{name}-tls"), "--access", os.path.join(work, "access.toml"),
                          "--metrics", f"{HOST}:0"], env)
        self.port = self.fingerprint = self.metrics_port = None

    def start(self):
        super().start()
        m = self.wait_for(self.err, r"event=relay\.ready .*\bport=(\d+) fingerprint=(\S+) metrics_port=(\d+)")
        if m:
            self.port, self.fingerprint, self.metrics_port = int(m.group(1)), m.group(2), int(m.group(3))
        return self

    @property
    def url(self):
        return f"relay://{HOST}:{self.port}"

    def metrics(self):
        """/metrics as {name{labels}: value}; {} when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.metrics_port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def wait_metrics(self, pred, timeout):
        """(whether pred(metrics) came true within `timeout`, the last metrics read)."""
        last = {}

        def check():
            last.clear()
            last.update(self.metrics())
            return pred(last)
        return bool(wait_until(check, timeout)), last


class Client:
    """One owner's `freehold`: its key file and its devices file."""

    def __init__(self, cli, work, env, name):
        self.cli, self.env, self.name = cli, env, name
        self.key = os.path.join(work, f"{name}.key")
        self.devices = os.path.join(work, f"{name}-devices.toml")
        self.id = self.public = None

    def run(self, *args, devices=None, timeout=10):
        return subprocess.run([self.cli, "--key", self.key, "--devices", devices or self.devices, *args],
                              capture_output=True, text=True, env=self.env, timeout=timeout,
                              preexec_fn=die_with_parent)

    def keygen(self):
        r = self.run("keygen")
        ident = re.search(r"client ID: +([a-z2-7]{32})\npublic key: +([A-Za-z0-9_-]{43})", r.stdout)
        R.require(f"`freehold keygen` makes {self.name}'s key pair and prints its ID and public key",
                  r.returncode == 0 and ident, f"exit {r.returncode}: {short(r.stdout + r.stderr)}")
        self.id, self.public = ident.group(1), ident.group(2)
        r = self.run("id")
        R.check(f"`freehold id` prints {self.name}'s ID and public key again",
                f"client ID:  {self.id}" in r.stdout and f"public key: {self.public}" in r.stdout, short(r.stdout))
        return self

    def add(self, name, device_id, key, relay_url, fingerprint, devices=None):
        r = self.run("add", name, "--id", device_id, "--key", key, "--relay", relay_url, "--relay-fingerprint",
                     fingerprint, devices=devices)
        R.require(f"`freehold add {name}` remembers the device", r.returncode == 0 and f"added {name}" in r.stdout,
                  f"exit {r.returncode}: {short(r.stdout + r.stderr)}")

    def connect(self, device, services=("rtsp", "https"), devices=None):
        """`freehold connect` with a free local port per service; returns the Proc with .ports once it says
        "connected" (or once it has exited: the caller checks)."""
        cmd = [self.cli, "--key", self.key, "--devices", devices or self.devices, "connect", device]
        for s in services:
            cmd += [f"--{s}", "0"]
        return start_connect(cmd, self.env)


def start_connect(cmd, env):
    """Starts a `freehold connect` command line; the Proc gets .ports (service -> local port) from the lines it
    prints, once it says "connected" (or once it has exited: the caller checks)."""
    c = Proc(cmd, env).start()
    c.wait_for(c.out, r"^connected to ", timeout=CONNECT_S)
    with c.cond:
        for line in c.out:
            m = re.match(r"^(\w+) +(?:\w+://)?127\.0\.0\.1:(\d+)/", line)
            if m:
                c.ports[m.group(1)] = int(m.group(2))
    return c


def connected(c):
    return c.running() and "connected to " in c.out_text() and c.ports


def gone_detail(c):
    return f"exit {c.proc.poll()}; stdout: {short(c.out_text())}; stderr: {short(c.log_text(), 800)}"


# ---------------------------------------------------------------------------------------------------------------
# What goes through the tunnel


def curl(url, *extra, timeout=10):
    """(exit status, body bytes, stderr) of one curl request; the device's certificate is self-signed."""
    try:
        p = subprocess.run(["curl", "-sS", "-k", "--max-time", str(timeout), *extra, url], capture_output=True,
                           timeout=timeout + 5, preexec_fn=die_with_parent)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace").strip()
    except subprocess.TimeoutExpired:
        return None, b"", "curl did not end"


def health_ok(body):
    try:
        j = json.loads(body)
    except ValueError:
        return False
    return j.get("status") == "ok" and j.get("claimed") is True


def ffprobe(url, timeout=20, prefix=()):
    """(codec, width, height) of the first video stream of an RTSP URL, or (None, error text). `prefix` runs ffprobe
    through another command (`ip netns exec NS`)."""
    try:
        p = subprocess.run([*prefix, "ffprobe", "-hide_banner", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "5000000",
                            "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height", "-of", "json",
                            url], capture_output=True, timeout=timeout, preexec_fn=die_with_parent)
    except subprocess.TimeoutExpired:
        return None, "ffprobe did not end"
    try:
        s = json.loads(p.stdout)["streams"][0]
        return (s["codec_name"], s["width"], s["height"]), ""
    except (ValueError, KeyError, IndexError):
        return None, f"exit {p.returncode}: {short(p.stderr.decode('utf-8', 'replace'), 400)}"


def pipelined(port, path, count, tls=False, headers=(), timeout=20):
    """Sends `count` GET requests for `path` on one connection at once (the last one asks to close) and reads to the
    end: one continuous download. Returns (bytes, None) after a clean end, else (the bytes read, the error)."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    one = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{extra}"
    data = ((one + "\r\n") * (count - 1) + one + "Connection: close\r\n\r\n").encode()
    buf, error = bytearray(), None
    try:
        raw = socket.create_connection((HOST, port), timeout=timeout)
    except OSError as e:
        return b"", f"connect: {e}"
    # A TLS connection is used by one thread only: small request batches are sent first, then the answers read.
    # Plain TCP sends from a thread, so that a big batch cannot deadlock against unread answers.
    s = TLS.wrap_socket(raw, suppress_ragged_eofs=False) if tls else raw
    deadline = time.monotonic() + timeout
    try:
        if tls:
            s.sendall(data)
        else:
            threading.Thread(target=lambda: _send_quietly(s, data), daemon=True).start()
        while time.monotonic() < deadline:
            d = s.recv(1 << 16)
            if not d:
                break
            buf += d
        else:
            error = "timed out"
    except (OSError, ssl.SSLError) as e:
        error = f"{type(e).__name__}: {e}"
    finally:
        s.close()
    return bytes(buf), error


def _send_quietly(s, data):
    try:
        s.sendall(data)
    except OSError:
        pass


def big_download(port, token):
    """120 pipelined GET /api/v1/config/schema over HTTPS on one connection, 2 MB+: (bytes, error) as pipelined()."""
    return pipelined(port, "/api/v1/config/schema", 120, tls=True, headers=[("Authorization", f"Bearer {token}")])


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def grew(before, after, name):
    """How much a counter of /metrics grew between two reads (a counter missing from both: 0)."""
    return after.get(name, 0) - before.get(name, 0)


def anon_kb(pid):
    """Resident anonymous memory of a process in KB (RssAnon in /proc/PID/status: its heap and stacks), or None.
    Not PSS: PSS divides shared library pages among the processes mapping them, so it moves whenever another
    freeholdd (a parallel test) starts or ends."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def login(port, user, password):
    """A REST session token, asked of a device directly."""
    status, j = https_json(port, "POST", "/api/v1/session", {"username": user, "password": password})
    R.require("log in on the device (POST /api/v1/session)", status == 200 and isinstance(j, dict),
              f"{status} {short(j)}")
    return j["token"]


def https_json(port, method, path, body=None, token=None, timeout=10):
    """(status, parsed JSON or None) of one HTTPS request; (None, error) when it fails."""
    c = http.client.HTTPSConnection(HOST, port, context=TLS, timeout=timeout)
    headers = {"Connection": "close"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, None
    except (OSError, http.client.HTTPException, ssl.SSLError) as e:
        return None, f"{type(e).__name__}: {e}"
    finally:
        c.close()


def onvif_profiles(port, user, password):
    """Profile tokens from ONVIF GetProfiles (media service, WS-Security UsernameToken digest) over HTTPS."""
    c = http.client.HTTPSConnection(HOST, port, context=TLS, timeout=10)
    try:
        c.request("POST", "/onvif/media_service", body=envelope("<trt:GetProfiles/>", wsse_header(user, password)[0]).encode(),
                  headers={"Content-Type": "application/soap+xml; charset=utf-8"})
        r = c.getresponse()
        body = r.read()
        return r.status, re.findall(rb'<(?:\w+:)?Profiles[^>]*\btoken="([^"]+)"', body), body
    except (OSError, http.client.HTTPException, ssl.SSLError) as e:
        return None, [], f"{type(e).__name__}: {e}".encode()
    finally:
        c.close()


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def settled(count, timeout=5.0):
    """A count (of descriptors) once it has not changed for a second, or after `timeout`."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        n = count()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= 1.0:
            break
    return last


def file_contains(path, needle, chunk=8 << 20):
    """Whether `needle` (bytes) occurs in the file, read in chunks that overlap by its length."""
    tail = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                return False
            if needle in tail + block:
                return True
            tail = block[-(len(needle) - 1):]


def vm_size_kb(pid):
    """The address space a process maps (VmSize), in KB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def gcore(pid, prefix):
    """Dumps the memory of `pid` with gdb's gcore; (core file, None) or (None, why not)."""
    if shutil.which("gcore") is None:
        return None, "gcore (gdb) is not installed"
    # A sanitizer build maps terabytes of shadow memory, and gcore would write all of it: a core of a process that
    # maps more than 4 GB is not attempted, nor one the disk could not hold twice over.
    size = vm_size_kb(pid)
    free = shutil.disk_usage(os.path.dirname(prefix)).free // 1024
    if size is None or size > 4 * 1024 * 1024 or 2 * size > free:
        return None, (f"process {pid} maps {size} KB (a sanitizer build's shadow memory?) and {free} KB are free on "
                      "disk: no core")
    try:
        p = subprocess.run(["gcore", "-o", prefix, str(pid)], capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        return None, "gcore did not finish within 90 s"
    core = f"{prefix}.{pid}"
    if p.returncode != 0 or not os.path.exists(core):
        why = (p.stderr or p.stdout).strip().splitlines()
        ptrace = any("not permitted" in line for line in why)  # ptrace_scope, a container without CAP_SYS_PTRACE
        return None, ("ptrace is not allowed here: " if ptrace else f"gcore failed (exit {p.returncode}): ") + \
            short(" / ".join(why[-3:]), 300)
    return core, None


# ---------------------------------------------------------------------------------------------------------------
# The device


def device_config(path, ports, relay_url, fingerprint, owners):
    with open(path, "w") as f:
        f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {ports["https"]}\nplain_enabled = true\n'
                f'plain_port = {ports["http"]}\n[rtsp]\nport = {ports["rtsp"]}\ntls_port = {ports["rtsps"]}\n'
                f'[stream.sub]\nenabled = false\n'
                f'[relay]\nurl = "{relay_url}"\nfingerprint = "{fingerprint}"\nowners = "{owners}"\n')


def start_device(binary, work, name, relay_url, fingerprint, owners):
    """A demo freeholdd linked to `relay_url`; returns (daemon, its ports, admin (user, password), relay ID, key)."""
    ports = {k: free_port() for k in ("https", "http", "rtsp", "rtsps")}
    config = os.path.join(work, f"{name}.toml")
    device_config(config, ports, relay_url, fingerprint, owners)
    daemon = Daemon(binary, os.path.join(work, f"{name}-state"), config)
    daemon.start()
    daemon.wait_for(daemon.out, r"Press Ctrl-C")
    m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", "\n".join(daemon.out))
    R.require(f"{name}: the demo device starts and prints its admin credentials", m,
              f"stdout: {short(chr(10).join(daemon.out))}\nlog: {short(daemon.log_text(), 800)}")
    ident = daemon.wait_for(daemon.err, r"event=relay\.identity device_id=([a-z2-7]{32}) key=([A-Za-z0-9_-]{43}) "
                                        r"relay=(\S+)")
    R.require(f"{name}: the device logs its relay identity (relay.identity: device ID, public key, relay)",
              ident and ident.group(3) == relay_url, short(daemon.log_text(), 800))
    return daemon, ports, (m.group(1), m.group(2)), ident.group(1), ident.group(2)


# ---------------------------------------------------------------------------------------------------------------
# Sections


class Run:
    """What the sections share."""

    def __init__(self, args, work):
        self.args, self.work = args, work
        self.env = tool_env(os.path.join(work, "home"))
        os.makedirs(os.path.join(work, "home"), exist_ok=True)
        self.relay = self.device = self.conn = None
        self.ports = self.user = self.password = self.device_id = self.device_key = None
        self.owner = self.other = None
        self.token = None

    def relay_cli(self, *args):
        return subprocess.run([self.args.relay, *args, "--access", os.path.join(self.work, "access.toml")],
                              capture_output=True, text=True, timeout=10, env=self.env, preexec_fn=die_with_parent)

    def login(self):
        """A REST session token, asked of the device directly."""
        if self.token is None:
            self.token = login(self.ports["https"], self.user, self.password)
        return self.token


def section_setup(run):
    a = run.args
    run.owner = Client(a.cli, run.work, run.env, "owner").keygen()
    run.other = Client(a.cli, run.work, run.env, "other").keygen()
    for c in (run.owner, run.other):
        r = run.relay_cli("allow-client", c.id)
        R.require(f"`freehold-relay allow-client` lists the {c.name}'s client", r.returncode == 0,
                  f"exit {r.returncode}: {short(r.stdout + r.stderr)}")
    run.relay = Relay(a.relay, run.work, run.env).start()
    banner = run.relay.wait_for(run.relay.out, r"certificate fingerprint \(pin it\): ([0-9A-F:]{95})$")
    R.require("the relay starts on loopback and prints its certificate fingerprint to pin",
              run.relay.port and banner and banner.group(1) == run.relay.fingerprint,
              f"stdout: {short(run.relay.out_text())}; log: {short(run.relay.log_text(), 600)}")
    m = run.relay.metrics()
    R.check("the relay's /metrics answers (Prometheus text: no devices yet)", m.get("freehold_relay_devices") == 0,
            short(m))

    run.device, run.ports, (run.user, run.password), run.device_id, run.device_key = start_device(
        a.bin, run.work, "device", run.relay.url, run.relay.fingerprint, run.owner.public)
    refused = run.device.wait_for(run.device.err, r"event=relay\.connect_failed .*error=\"([^\"]*)\" retry_in_ms=(\d+)")
    R.require("a device not on the relay's allow-list is refused, with a message naming its ID and the allow-list",
              refused and run.device_id in refused.group(1) and "allow-list" in refused.group(1)
              and refused.group(1).startswith("the relay refused"), short(run.device.log_text(), 1000))
    R.check("the device says when it tries again (retry_in_ms, within its first backoff step of 3 s)",
            1500 <= int(refused.group(2)) <= 3000, refused.group(0))
    mark = run.device.mark()
    r = run.relay_cli("allow", run.device_id)
    R.require("`freehold-relay allow DEVICE-ID` lists the device", r.returncode == 0 and run.device_id in r.stdout,
              f"exit {r.returncode}: {short(r.stdout + r.stderr)}")
    t0 = time.monotonic()
    up = run.device.wait_for(run.device.err, r"event=relay\.link_up ", since=mark, timeout=LINK_UP_S)
    R.require(f"once allowed, the device links up within its backoff (<= {LINK_UP_S:.0f} s)", up,
              f"after {time.monotonic() - t0:.1f} s; log: {short(run.device.log_text(mark), 1200)}")
    print(f"      (linked up {time.monotonic() - t0:.1f} s after `allow`)", flush=True)
    ok, m = run.relay.wait_metrics(lambda m: m.get("freehold_relay_devices") == 1, 3)
    R.check("the relay's metrics show freehold_relay_devices 1", ok, short(m))
    R.check("the relay logs the device's link (relay.link_up role=device with its ID)",
            run.relay.wait_for(run.relay.err, rf"event=relay\.link_up role=device id={run.device_id}", timeout=3),
            short(run.relay.log_text(), 800))
    run.owner.add("cam", run.device_id, run.device_key, run.relay.url, run.relay.fingerprint)


def section_through(run):
    m0 = run.relay.metrics()
    sessions = 0  # one per TCP connection through the tunnel, counted as they are made
    run.conn = run.owner.connect("cam", ("rtsp", "https", "http"))
    c = run.conn
    R.require("`freehold connect cam` opens local ports for rtsp, https and http and says it is connected",
              connected(c) and set(c.ports) == {"rtsp", "https", "http"}, gone_detail(c))
    R.check("... and prints the URLs to use (rtsp://127.0.0.1:PORT/main, https://127.0.0.1:PORT/)",
            re.search(rf"(?m)^rtsp +rtsp://127\.0\.0\.1:{c.ports['rtsp']}/main$", c.out_text())
            and re.search(rf"(?m)^https +https://127\.0\.0\.1:{c.ports['https']}/$", c.out_text()), c.out_text())
    https = f"https://{HOST}:{c.ports['https']}"
    rc, body, err = curl(https + "/api/v1/health")
    sessions += 1
    R.check("curl through the tunnel: GET /api/v1/health answers {\"claimed\":true,\"status\":\"ok\"}",
            rc == 0 and health_ok(body), f"curl exit {rc}: {short(body)} {err}; connect: {short(c.log_text())}")
    probe, err = ffprobe(f"rtsp://{run.user}:{run.password}@{HOST}:{c.ports['rtsp']}/main")
    R.check("ffprobe through the tunnel reads the RTSP stream: h264 1280x720", probe == ("h264", 1280, 720),
            f"{probe} {err}; connect: {short(c.log_text())}")
    sessions += 1  # ffprobe: RTSP interleaved on one TCP connection
    status, tokens, body = onvif_profiles(c.ports["https"], run.user, run.password)
    sessions += 1
    R.check("ONVIF GetProfiles through the tunnel (WS-Security UsernameToken) returns at least one profile",
            status == 200 and len(tokens) >= 1, f"HTTP {status}: {short(body.decode('utf-8', 'replace'), 600)}")
    fails = []
    for i in range(20):
        rc, body, err = curl(https + "/api/v1/health")
        sessions += 1
        if rc != 0 or not health_ok(body):
            fails.append(f"#{i}: exit {rc} {short(body, 80)} {err}")
    R.check("20 curl requests in a row through the tunnel all succeed", not fails, short(fails, 600))

    expected = check_big_download(c, run.ports["https"], run.login())
    sessions += 1
    # Direct data connections are the relay's default: every session above was joined on two of them, and the
    # download's bytes were spliced there, not forwarded in data frames on the links.
    _, m = run.relay.wait_metrics(
        lambda m: grew(m0, m, "freehold_relay_direct_sessions_total") >= sessions
        and grew(m0, m, "freehold_relay_direct_bytes_total") >= len(expected), 3)
    counters = {k: grew(m0, m, k) for k in (
        "freehold_relay_sessions_total", "freehold_relay_direct_sessions_total", "freehold_relay_direct_bytes_total",
        "freehold_relay_forwarded_bytes_total")}
    R.check(f"the sessions went direct: freehold_relay_direct_sessions_total grew by at least the {sessions} sessions "
            "of this section", counters["freehold_relay_direct_sessions_total"] >= sessions, f"grew by {counters}")
    R.check(f"the relay counted the download in freehold_relay_direct_bytes_total (grew by at least its "
            f"{len(expected)} bytes)", counters["freehold_relay_direct_bytes_total"] >= len(expected),
            f"grew by {counters}")
    R.check("... and not in freehold_relay_forwarded_bytes_total (data frames on the links: grew by less than the "
            "download)", counters["freehold_relay_forwarded_bytes_total"] < len(expected), f"grew by {counters}")


def check_big_download(c, device_port, token):
    """The 2 MB+ download directly from the device (required), then through `freehold connect` c: checked to be the
    same bytes. Returns the bytes."""
    expected, err = big_download(device_port, token)
    R.require("the control download directly from the device: 120 pipelined GET /api/v1/config/schema, 2 MB+",
              len(expected) > 2_000_000 and expected.count(b"HTTP/1.1 200 ") == 120, f"{len(expected)} bytes, {err}")
    t0 = time.monotonic()
    got, err = big_download(c.ports["https"], token)
    dt = time.monotonic() - t0
    R.check(f"the same 2 MB+ download through the tunnel arrives intact: the same {len(expected)} bytes "
            f"({len(expected) / max(dt, 1e-3) / 1e6:.0f} MB/s)", got == expected,
            f"{len(got)} bytes (from the device {len(expected)}), {err}; first difference at "
            f"{first_difference(got, expected)}")
    return expected


def section_authorisation(run):
    a = run.args
    # A client the relay admits, whose key is not in the device's relay.owners.
    run.other.add("cam", run.device_id, run.device_key, run.relay.url, run.relay.fingerprint)
    mark = run.device.mark()
    c = run.other.connect("cam", ("https",))
    try:
        R.require("a client on the relay's list but not paired with the device: the relay admits its link",
                  connected(c), gone_detail(c))
        rc, body, err = curl(f"https://{HOST}:{c.ports['https']}/api/v1/health", timeout=5)
        R.check("... but its request through the tunnel fails", rc != 0 and not health_ok(body),
                f"curl exit {rc}: {short(body)}")
        said = c.wait_for(c.err, r"^freehold: the device refused the session: not_paired: ")
        R.check("... and `freehold connect` says \"freehold: the device refused the session: not_paired: ...\"",
                said and run.other.id in said.string, short(c.log_text()))
        R.check("... and the device logs the refusal (relay.session_refused error=not_paired)",
                run.device.wait_for(run.device.err, r"event=relay\.session_refused error=not_paired", since=mark),
                short(run.device.log_text(mark), 800))
    finally:
        c.stop()

    # A client the relay does not admit.
    stranger = Client(a.cli, run.work, run.env, "stranger").keygen()
    stranger.add("cam", run.device_id, run.device_key, run.relay.url, run.relay.fingerprint)
    c = stranger.connect("cam", ("https",))
    rc = c.finish(CONNECT_S)
    R.check("a client not on the relay's client list: `freehold connect` exits non-zero, \"the relay refused: "
            "client ... is not allowed on this relay\"",
            rc not in (0, None) and re.search(rf"the relay refused: client {stranger.id} is not allowed on this relay",
                                              c.log_text()), gone_detail(c))
    c.stop()

    # A device nobody registered: a valid key pair that never ran as a device.
    ghost = Client(a.cli, run.work, run.env, "ghost").keygen()
    run.owner.add("ghost", ghost.id, ghost.public, run.relay.url, run.relay.fingerprint)
    c = run.owner.connect("ghost", ("https",))
    try:
        R.require("`freehold connect` to an unregistered device: the link is up", connected(c), gone_detail(c))
        url = f"https://{HOST}:{c.ports['https']}/api/v1/health"
        rc, body, err = curl(url, timeout=5)
        R.check("... a request for it fails", rc != 0 and not body, f"curl exit {rc}: {short(body)}")
        said = c.wait_for(c.err, r"session refused by the relay \(unknown_device\): no device (\S+) is known to this relay")
        R.check("... with \"no device ... is known to this relay\" (unknown_device), naming the ID",
                said and said.group(1) == ghost.id, short(c.log_text()))
        for _ in range(7):  # 8 in all, within seconds: the relay allows 6 a minute per client link
            curl(url, timeout=5)
        limited = c.wait_for(c.err, r"session refused by the relay \(rate_limited\): ")
        R.check("... and more than 6 tries within a minute are rate_limited",
                limited and c.log_text().count("(unknown_device)") >= 6, short(c.log_text(), 1200))
        m = run.relay.metrics()
        R.check("the relay's metrics count both refusals (freehold_relay_refused_total{reason=...})",
                m.get('freehold_relay_refused_total{reason="unknown_device"}', 0) >= 6
                and m.get('freehold_relay_refused_total{reason="rate_limited"}', 0) >= 1, short(m, 800))
    finally:
        c.stop()


def section_pin(run):
    wrong = run.relay.fingerprint[:-2] + ("00" if not run.relay.fingerprint.endswith("00") else "11")
    devices = os.path.join(run.work, "wrong-pin-devices.toml")
    run.owner.add("cam", run.device_id, run.device_key, run.relay.url, wrong, devices=devices)
    before = run.relay.metrics().get("freehold_relay_links_total")
    c = run.owner.connect("cam", ("https",), devices=devices)
    rc = c.finish(CONNECT_S)
    R.check("a wrong relay pin: `freehold connect` exits non-zero, the TLS handshake refused",
            rc not in (0, None) and "TLS handshake with " in c.log_text(), gone_detail(c))
    R.check("... saying \"its certificate <seen> is not the pinned one (possible interception)\", with the "
            "fingerprint it saw", f"its certificate {run.relay.fingerprint} is not the pinned one (possible interception)"
            in c.log_text(), short(c.log_text()))
    R.check("... before its key was offered: the relay admitted no link",
            run.relay.metrics().get("freehold_relay_links_total") == before, short(run.relay.metrics()))
    R.check("... and no local port was opened", not c.ports, c.out_text())
    c.stop()


def section_blind(run):
    c = run.conn
    R.require("(the connection of section 2 is still up)", connected(c), gone_detail(c))
    marker = f"FREEHOLD-MARKER-{secrets.token_hex(8)}"
    plain = f"http://{HOST}:{c.ports['http']}"
    before = run.relay.metrics().get("freehold_relay_direct_bytes_total", 0)
    # In the clear inside the tunnel (the plain-HTTP service): the marker and the password in a request, and the
    # marker back in the answer (the plain listener redirects a web UI path to HTTPS, naming the path).
    for _ in range(3):
        curl(plain + "/api/v1/session", "-H", f"X-Marker: {marker}", "-H", "Content-Type: application/json",
             "--data", json.dumps({"username": run.user, "password": run.password, "note": marker}), timeout=5)
    status, j = https_json(c.ports["https"], "POST", "/api/v1/session", {"username": run.user, "password": run.password})
    R.check("logging in through the tunnel works (the password crosses the relay)", status == 200, f"{status} {short(j)}")
    probe, err = ffprobe(f"rtsp://{run.user}:{run.password}@{HOST}:{c.ports['rtsp']}/main")
    R.check("ffprobe with the admin's credentials through the tunnel", probe == ("h264", 1280, 720), err)
    for _ in range(3):  # last, so that the client's copies of the answer are fresh when its memory is read
        rc, body, err = curl(plain + "/" + marker, "-i", "-H", f"X-Marker: {marker}", timeout=5)
    R.check("the marker went through the tunnel both ways (a redirect naming it came back)",
            rc == 0 and marker.encode() in body, f"exit {rc}: {short(body)} {err}")
    spliced = run.relay.metrics().get("freehold_relay_direct_bytes_total", 0) - before
    R.check("... through the relay (its direct connections' byte counter grew)", spliced > 1000, f"{spliced} bytes")
    R.check("neither the marker nor the password is in the relay's log",
            marker not in run.relay.log_text() and run.password not in run.relay.log_text())
    # The memories are read while a session whose last answer named the marker is still open: `freehold connect`
    # drops a session's buffers when it ends (large enough to be unmapped), so a finished one leaves nothing to find.
    held = socket.create_connection((HOST, c.ports["http"]), timeout=5)
    try:
        answer, err = b"", ""
        try:
            held.sendall(f"GET /{marker} HTTP/1.1\r\nHost: {HOST}\r\nX-Marker: {marker}\r\n\r\n".encode())
            while marker.encode() not in answer and (d := held.recv(1 << 16)):
                answer += d
        except OSError as e:
            err = f"{type(e).__name__}: {e}"
        R.check("a connection through the tunnel kept open, its answer naming the marker", marker.encode() in answer,
                f"{short(answer)} {err}")
        blind_cores(run, c, marker)
    finally:
        held.close()


def blind_cores(run, c, marker):
    name = "blindness: the relay's memory (gcore) holds neither the marker nor the admin password"
    core, why = gcore(c.proc.pid, os.path.join(run.work, "client"))
    if core is None:
        return skip(name, why)
    try:
        seen = file_contains(core, marker.encode())
    finally:
        os.unlink(core)
    R.check("control: the marker is in the memory of `freehold connect` (gcore), which had it in the clear", seen,
            "without this, the relay check below could not fail")
    core, why = gcore(run.relay.proc.pid, os.path.join(run.work, "relay"))
    if core is None:
        return skip(name, why)
    try:
        raw_id = base64.b32decode(run.device_id.upper())
        R.check("control: the relay's core holds what it does know (the device's raw 20-byte ID)",
                file_contains(core, raw_id))
        R.check(name, not file_contains(core, marker.encode()) and not file_contains(core, run.password.encode()),
                f"marker {file_contains(core, marker.encode())}, password {file_contains(core, run.password.encode())}")
    finally:
        os.unlink(core)


def run_sessions(c, count, seconds):
    """`count` HTTPS health requests through the tunnel, CONCURRENT at a time, each its own TCP connection; stops
    after `seconds` or 5 failures. Returns (how many started, the failures)."""
    deadline = time.monotonic() + seconds
    fails, done, lock = [], [0], threading.Lock()

    def worker():
        while time.monotonic() < deadline:
            with lock:
                if done[0] >= count or len(fails) >= 5:
                    return
                done[0] += 1
                n = done[0]
            status, j = https_json(c.ports["https"], "GET", "/api/v1/health", timeout=10)
            if not (status == 200 and isinstance(j, dict) and j.get("status") == "ok"):
                with lock:
                    fails.append(f"#{n}: {status} {short(j)}")

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(CONCURRENT)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(max(0.0, deadline + 5 - time.monotonic()))
    return done[0], fails


def section_sessions(run):
    c = run.conn
    R.require("(the connection of section 2 is still up)", connected(c), gone_detail(c))
    relay_pid = run.relay.proc.pid
    relay_fds = settled(lambda: fd_count(relay_pid))
    device_fds = run.device.settled_fds()
    client_fds = settled(lambda: fd_count(c.proc.pid))
    # A first, unmeasured round brings the allocators to their working size at this concurrency (per-thread arenas,
    # TLS session caches, the pools of the device's first connections), so that what is measured afterwards is
    # what the sessions leave behind, not the process warming up.
    cold_anon = anon_kb(run.device.proc.pid)
    run_sessions(c, WARMUP_SESSIONS, 60)
    total0 = run.relay.metrics().get("freehold_relay_sessions_total", 0)
    relay_anon0, device_anon0 = anon_kb(relay_pid), anon_kb(run.device.proc.pid)
    t0 = time.monotonic()
    done, fails = run_sessions(c, SESSIONS, 100)
    dt = time.monotonic() - t0
    R.check(f"{SESSIONS} short sessions, {CONCURRENT} at a time (HTTPS health, each its own TCP connection and "
            f"session), all succeed ({dt:.1f} s)", done >= SESSIONS and not fails,
            f"{done} started; {short(fails, 800)}")
    ok, m = run.relay.wait_metrics(lambda m: m.get("freehold_relay_sessions") == 0, 5)
    R.check("the relay's freehold_relay_sessions returns to 0, sessions_total grew by them",
            ok and m.get("freehold_relay_sessions_total", 0) - total0 >= SESSIONS, short(m))
    now = settled(lambda: fd_count(relay_pid))
    R.check(f"the relay's open descriptors return to where they were ({relay_fds}, +-2)",
            now is not None and abs(now - relay_fds) <= 2, f"now {now}")
    now = run.device.settled_fds()
    R.check(f"the device's open descriptors return to where they were ({device_fds}, +-2)",
            now is not None and abs(now - device_fds) <= 2, f"now {now}")
    now = settled(lambda: fd_count(c.proc.pid))
    R.check(f"`freehold connect`'s open descriptors return to where they were ({client_fds}, +-2)",
            now is not None and abs(now - client_fds) <= 2, f"now {now}")
    # Memory: what the sessions used is given back (the allocator may keep a little for reuse). Not under a
    # sanitizer, whose quarantine holds freed memory on purpose.
    if (vm_size_kb(relay_pid) or 0) > 4 * 1024 * 1024:
        return skip("anonymous memory of the relay and the device back where it was",
                    "a sanitizer build: its quarantine "
                    "keeps freed memory")
    relay_anon, device_anon = anon_kb(relay_pid), anon_kb(run.device.proc.pid)
    R.check(f"the relay's anonymous memory is back within 2 MB of before the sessions ({relay_anon0} KB)",
            relay_anon is not None and relay_anon0 is not None and relay_anon - relay_anon0 < 2048,
            f"now {relay_anon} KB")
    R.check(f"the device's anonymous memory is back within 8 MB of before the sessions ({device_anon0} KB; "
            f"{cold_anon} KB before the {WARMUP_SESSIONS} warm-up sessions)",
            device_anon is not None and device_anon0 is not None and device_anon - device_anon0 < 8192,
            f"now {device_anon} KB")


class Reader:
    """A connection through the tunnel read in a thread until it ends; `.end` says how: "FIN" (a clean end of the
    TCP stream), "RST" (reset), "TLS-EOF" (TCP ended without close_notify) or another error."""

    def __init__(self, sock):
        self.sock, self.bytes, self.end = sock, 0, None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                d = self.sock.recv(1 << 16)
                if not d:
                    self.end = "FIN"
                    return
                self.bytes += len(d)
        except ConnectionResetError:
            self.end = "RST"
        except ssl.SSLEOFError:
            # The TCP stream ended without TLS's close_notify. Python's ssl reports a reset this way too, so over TLS
            # it cannot tell RST from FIN; either way the application sees a cut, not a complete stream.
            self.end = "TLS-EOF"
        except (OSError, ssl.SSLError) as e:
            self.end = f"{type(e).__name__}: {e}"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def section_faults(run):
    c = run.conn
    R.require("(the connection of section 2 is still up)", connected(c), gone_detail(c))
    token = run.login()
    readers = []
    try:
        # A download (the MJPEG live view, TLS end to end) and an RTSP control connection, both through the tunnel.
        raw = socket.create_connection((HOST, c.ports["https"]), timeout=10)
        mjpeg = TLS.wrap_socket(raw, suppress_ragged_eofs=False)
        mjpeg.sendall(f"GET /api/v1/live/main.mjpeg HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n\r\n"
                      .encode())
        mjpeg.settimeout(30)
        rtsp = socket.create_connection((HOST, c.ports["rtsp"]), timeout=10)
        rtsp.sendall(f"OPTIONS rtsp://{HOST}:{c.ports['rtsp']}/main RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
        answer = rtsp.recv(4096)
        R.require("an RTSP connection through the tunnel answers OPTIONS", answer.startswith(b"RTSP/1.0 200"),
                  short(answer))
        rtsp.settimeout(30)
        readers = [Reader(mjpeg), Reader(rtsp)]
        R.require("a long download runs through the tunnel (the MJPEG live view)",
                  wait_until(lambda: readers[0].bytes > 50_000, 15), f"{readers[0].bytes} bytes, {readers[0].end}")
        mark = run.device.mark()
        port, fingerprint = run.relay.port, run.relay.fingerprint
        os.kill(run.relay.proc.pid, signal.SIGKILL)
        run.relay.finish(5)
        t_kill = time.monotonic()
        ended = wait_until(lambda: all(r.end for r in readers), 10)
        R.check("kill -9 of the relay mid-download: the download and the RTSP connection end at once",
                ended, f"download: {readers[0].end}, RTSP: {readers[1].end}")
        R.check("... with a reset (RST), so that the application sees the cut, not a clean end of stream (FIN)",
                readers[0].end in ("RST", "TLS-EOF") and readers[1].end == "RST",
                f"download (MJPEG, {readers[0].bytes} bytes): {readers[0].end}; RTSP connection: {readers[1].end}")
    finally:
        for r in readers:
            r.close()
    rc = c.finish(10)
    R.check("... and `freehold connect` exits non-zero saying \"the link to the relay ended\"",
            rc not in (0, None) and "freehold: the link to the relay ended" in c.log_text(), gone_detail(c))
    R.check("... and the device notices (relay.link_down)",
            run.device.wait_for(run.device.err, r"event=relay\.link_down ", since=mark, timeout=10),
            short(run.device.log_text(mark), 800))
    run.relay = Relay(run.args.relay, run.work, run.env, port=port).start()
    R.require("the relay restarts on the same port with the same certificate (same --self-signed dir)",
              run.relay.port == port and run.relay.fingerprint == fingerprint,
              f"port {run.relay.port} fingerprint {run.relay.fingerprint}; {short(run.relay.log_text(), 600)}")
    up = run.device.wait_for(run.device.err, r"event=relay\.link_up ", since=mark, timeout=LINK_UP_S)
    R.check(f"the device links up again within its backoff (<= {LINK_UP_S:.0f} s)", up,
            short(run.device.log_text(mark), 1200))
    print(f"      (linked up again {time.monotonic() - t_kill:.1f} s after the kill)", flush=True)
    run.conn = c = run.owner.connect("cam", ("rtsp", "https", "http"))
    R.require("a new `freehold connect` works", connected(c), gone_detail(c))
    rc, body, err = curl(f"https://{HOST}:{c.ports['https']}/api/v1/health")
    R.check("... and so does curl through it", rc == 0 and health_ok(body), f"curl exit {rc}: {short(body)} {err}")


def section_tampering(args, work, env, direct):
    """relay_fake.py tampering with what the device sends: in data frames on the links, or (direct) in the transport
    messages on the session's direct data connections. Check names start with the path: "data frames" or "direct
    connection"."""
    path = "direct connection" if direct else "data frames"
    fake = Proc([sys.executable, os.path.join(HERE, "relay_fake.py"), "--dir", os.path.join(work, "fake-tls")]
                + (["--direct"] if direct else []), env, stdin=subprocess.PIPE).start()
    daemon = c = None
    try:
        m = fake.wait_for(fake.out, r"^listening (\d+) ([0-9A-F:]{95})$", timeout=30)
        R.require(f"{path}: relay_fake.py (an independent relay that tampers on purpose) listens", m,
                  short(fake.log_text()))
        url, fingerprint = f"relay://{HOST}:{m.group(1)}", m.group(2)
        owner = Client(args.cli, work, env, "tamper-owner" + ("-direct" if direct else "")).keygen()
        daemon, ports, (user, password), device_id, device_key = start_device(
            args.bin, work, "device3" if direct else "device2", url, fingerprint, owner.public)
        R.require(f"{path}: a device pinned to the fake relay links up to it",
                  daemon.wait_for(daemon.err, r"event=relay\.link_up ", timeout=15)
                  and fake.wait_for(fake.out, r"^link device$"), short(daemon.log_text(), 800))
        owner.add("cam", device_id, device_key, url, fingerprint)
        c = owner.connect("cam", ("rtsp", "https", "http"))
        R.require(f"{path}: `freehold connect` through the fake relay", connected(c), gone_detail(c))

        def command(line):
            mark = fake.mark_out()
            fake.say(line)
            R.require(f"{path}: relay_fake.py takes \"{line}\"", fake.wait_for(fake.out, rf"^ok {line}$", since=mark),
                      fake.out_text(mark))

        n = 1000  # ~330 KB of health answers: at least six data frames or transport messages
        expected, err = pipelined(ports["http"], "/api/v1/health", n)
        R.require(f"{path}: the control download directly from the device: {n} pipelined GET /api/v1/health "
                  "(plain HTTP)", expected.count(b"HTTP/1.1 200 ") == n, f"{len(expected)} bytes, {err}")
        fmark = fake.mark_out()
        got, err = pipelined(c.ports["http"], "/api/v1/health", n)
        R.require(f"{path}: control: through the fake relay, forwarding faithfully, the same download arrives intact",
                  got == expected, f"{len(got)} of {len(expected)} bytes, {err}")
        if direct:
            R.require(f"{path}: ... on the session's two direct connections, which relay_fake.py joined "
                      "(\"direct csid=C dsid=D\")", fake.wait_for(fake.out, r"^direct csid=\d+ dsid=\d+$", since=fmark),
                      fake.out_text(fmark))
        rtsp = f"rtsp://{user}:{password}@{HOST}:{c.ports['rtsp']}/main"
        probe, err = ffprobe(rtsp)
        R.require(f"{path}: control: ffprobe through the fake relay reads h264 1280x720", probe == ("h264", 1280, 720),
                  err)

        def tampered_with(mode, since):
            """relay_fake.py's line saying it tampered (on a joined direct connection when `direct`), or None."""
            m = fake.wait_for(fake.out, rf"^tampered {mode} dsid=(\d+) ", since=since)
            if m and direct and not re.search(rf"(?m)^direct csid=\d+ dsid={m.group(1)}$", fake.out_text(since)):
                return None
            return m

        def cut(what, mode):
            """The download with the relay tampering: it must fail with a reset, having delivered a strict prefix of
            the true bytes (nothing altered, nothing missing before the cut), and the client must say why."""
            what = f"{path}: {what}"
            command(mode)
            mark, fmark = c.mark(), fake.mark_out()
            got, err = pipelined(c.ports["http"], "/api/v1/health", n)
            tampered = tampered_with(mode.split()[0], fmark)
            R.check(f"{what}: the download fails with a reset (RST), not a clean end",
                    tampered and err is not None and err.startswith("ConnectionResetError") and len(got) < len(expected),
                    f"tampered: {bool(tampered)}; {len(got)} of {len(expected)} bytes; {err}; relay_fake.py: "
                    f"{short(fake.out_text(fmark))}")
            R.check(f"{what}: no altered byte reached the application (what arrived is the start of the true bytes)",
                    expected.startswith(got),
                    f"{len(got)} bytes, first difference at {first_difference(got, expected)}")
            said = c.wait_for(c.err, r"freehold: session ended \(decrypt_failed\): a frame failed authentication",
                              since=mark, timeout=5)
            R.check(f"{what}: `freehold connect` says \"session ended (decrypt_failed): a frame failed "
                    "authentication\"", said, short(c.log_text(mark), 600))

        unit = "transport message on the direct connection" if direct else "data frame"
        cut(f"a bit flipped in the 3rd {unit} device -> client", "flip 3")
        fmark = fake.mark_out()
        probe, err = ffprobe(rtsp)
        R.check(f"{path}: a bit flipped in the 3rd {unit}: ffprobe fails too",
                probe is None and tampered_with("flip", fmark), f"{probe} {err}")
        cut(f"the 3rd {unit} device -> client dropped", "drop 3")

        command("impersonate")
        mark, fmark = c.mark(), fake.mark_out()
        rc, body, err = curl(f"https://{HOST}:{c.ports['https']}/api/v1/health", timeout=5)
        R.check(f"{path}: an accept made up by the relay: the request fails",
                rc != 0 and not body and fake.wait_for(fake.out, r"^impersonated ", since=fmark),
                f"curl exit {rc}: {short(body)} {err}")
        said = c.wait_for(c.err, r"freehold: key mismatch: .*\(possible interception\)", since=mark, timeout=5)
        R.check("... and `freehold connect` says \"key mismatch\" and \"possible interception\"", said,
                short(c.log_text(mark), 600))

        command("pass")
        rc, body, err = curl(f"https://{HOST}:{c.ports['https']}/api/v1/health")
        R.check(f"{path}: the client's link survives those sessions: with the relay faithful again, curl works",
                rc == 0 and health_ok(body), f"curl exit {rc}: {short(body)} {err}; {short(c.log_text())}")
    finally:
        if c:
            c.stop()
        if daemon:
            if R.failed:
                print(f"--- {path}: device log (tail):\n" + daemon.log_text()[-2000:])
            daemon.stop()
        if R.failed:
            print(f"--- {path}: relay_fake.py:\n" + short(fake.out_text() + "\n" + fake.log_text(), 2000))
        fake.stop()


def section_framed(run):
    """A relay with direct_data = false (for networks where only TLS passes) carries sessions in data frames on the
    links, as every relay did before direct data connections. Its own device; the owner's client."""
    relay = Relay(run.args.relay, run.work, run.env, name="relay-framed", direct_data=False).start()
    daemon = c = None
    try:
        R.require("a second relay, with direct_data = false in its config, starts", relay.port,
                  short(relay.log_text(), 600))
        daemon, ports, (user, password), device_id, device_key = start_device(
            run.args.bin, run.work, "device4", relay.url, relay.fingerprint, run.owner.public)
        mark = daemon.mark()
        r = run.relay_cli("allow", device_id)  # the relays share their access file
        R.require("`freehold-relay allow` lists its device", r.returncode == 0,
                  f"exit {r.returncode}: {short(r.stdout + r.stderr)}")
        R.require(f"the device links up to it within its backoff (<= {LINK_UP_S:.0f} s)",
                  daemon.wait_for(daemon.err, r"event=relay\.link_up ", since=mark, timeout=LINK_UP_S),
                  short(daemon.log_text(mark), 800))
        run.owner.add("framed", device_id, device_key, relay.url, relay.fingerprint)
        c = run.owner.connect("framed", ("https",))
        R.require("`freehold connect` through the relay with direct_data = false", connected(c), gone_detail(c))
        m0 = relay.metrics()
        expected = check_big_download(c, ports["https"], login(ports["https"], user, password))
        ok, m = relay.wait_metrics(lambda m: grew(m0, m, "freehold_relay_forwarded_bytes_total") >= len(expected), 3)
        R.check(f"... in data frames: the relay's freehold_relay_forwarded_bytes_total grew by at least its "
                f"{len(expected)} bytes", ok, short(m))
        R.check("... and nothing went direct: freehold_relay_direct_sessions_total and direct_bytes_total are 0",
                m.get("freehold_relay_direct_sessions_total") == 0 and m.get("freehold_relay_direct_bytes_total") == 0,
                short(m))
    finally:
        if c:
            c.stop()
        if daemon:
            if R.failed:
                print("--- device4 log (tail):\n" + daemon.log_text()[-2000:])
            daemon.stop()
        if R.failed:
            print("--- relay with direct_data = false, log (tail):\n" + relay.log_text()[-2000:])
        relay.stop()


def section_websocket(run):
    """The WebSocket transport, for networks that pass only web traffic: the relay's server side against an
    independent client, then the owner's client and the device of section 1 linked over wss://. A session with a link
    over WebSocket is never offered direct connections: it stays in data frames."""
    ws_client(run.relay)
    url = f"wss://{HOST}:{run.relay.port}"
    devices = os.path.join(run.work, "wss-devices.toml")
    run.owner.add("cam", run.device_id, run.device_key, url, run.relay.fingerprint, devices=devices)
    m0 = run.relay.metrics()
    c = run.owner.connect("cam", ("https",), devices=devices)
    try:
        R.require(f"`freehold connect` with the relay given as {url}", connected(c), gone_detail(c))
        rc, body, err = curl(f"https://{HOST}:{c.ports['https']}/api/v1/health")
        R.check("... curl through it: GET /api/v1/health answers", rc == 0 and health_ok(body),
                f"curl exit {rc}: {short(body)} {err}; connect: {short(c.log_text())}")
        expected = check_big_download(c, run.ports["https"], run.login())
        _, m = run.relay.wait_metrics(lambda m: grew(m0, m, "freehold_relay_forwarded_bytes_total") >= len(expected), 3)
        counters = {k: grew(m0, m, k) for k in (WS_LINKS, "freehold_relay_direct_sessions_total",
                                                "freehold_relay_forwarded_bytes_total")}
        R.check(f"the relay counted the client's link in {WS_LINKS} (grew by at least 1)",
                counters[WS_LINKS] >= 1, f"grew by {counters}")
        R.check(f"... and its sessions went in data frames: freehold_relay_direct_sessions_total did not grow, "
                f"freehold_relay_forwarded_bytes_total grew by at least the download's {len(expected)} bytes",
                counters["freehold_relay_direct_sessions_total"] == 0
                and counters["freehold_relay_forwarded_bytes_total"] >= len(expected), f"grew by {counters}")
        device_over_websocket(run, c, url)
    finally:
        c.stop()


def ws_client(relay):
    """tests/e2e/relay_ws_client.mjs, the npm `ws` package as the relay's WebSocket client; checks what it saw."""
    why = node_package("ws")
    if not R.check("the npm ws client is installed in tests/e2e/node_modules", why is None, why or ""):
        return
    try:
        p = subprocess.run([NODE, os.path.join(HERE, "relay_ws_client.mjs"), "--port", str(relay.port),
                            "--fingerprint", relay.fingerprint], cwd=HERE, capture_output=True, text=True,
                           timeout=90, preexec_fn=die_with_parent)
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
        return R.check("relay_ws_client.mjs prints what it saw", False, f"{type(e).__name__}: {short(str(e), 600)}")
    failures = short(res.get("failures"), 600)
    ok = R.check("the npm ws client upgrades on /freehold-relay with the subprotocol freehold-relay.v1, the relay's "
                 "certificate matching the pin", res.get("fingerprint") == relay.fingerprint
                 and res.get("protocol") == "freehold-relay.v1",
                 f"certificate {res.get('fingerprint')}, subprotocol {res.get('protocol')}; {failures}")
    if ok:
        ok = R.check("... a hello in two binary messages (the second in two fragments) gets a challenge (type 0x02, "
                     "32 bytes, session 0)",
                     res.get("challenge") == {"type": 2, "reserved": 0, "length": 32, "session": 0, "bytes": 32},
                     f"challenge {res.get('challenge')}; {failures}")
        ok = R.check("... a WebSocket ping gets a pong with its payload, a close message is answered with a close "
                     "(1000) and ends the link",
                     res.get("ping") and res.get("pong") == res.get("ping")
                     and (res.get("closed") or {}).get("code") == 1000,
                     failures) and ok
    refused = res.get("refused") or {}
    ok = R.check("upgrades on another path, with another subprotocol or with none are refused (400 or 404)",
                 len(refused) == 3 and all(v in (400, 404) for v in refused.values()), short(refused)) and ok
    if ok:
        R.check("... and relay_ws_client.mjs saw nothing else wrong (exit 0)", p.returncode == 0 and res.get("ok"),
                f"exit {p.returncode}: {failures}; stderr: {short(p.stderr, 400)}")


def node_package(name):
    """None once tests/e2e's npm package `name` is installed, else why not. A missing one is installed as
    package-lock.json pins it, with `npm install` rather than `npm ci`: that leaves the installed packages alone,
    which e2e.onvif or e2e.webui may be using at this moment."""
    if os.path.isfile(os.path.join(HERE, "node_modules", name, "package.json")):
        return None
    if shutil.which("npm") is None:
        return "npm is not installed (scripts/deps.sh test)"
    p = subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                       capture_output=True, text=True, timeout=300, preexec_fn=die_with_parent)
    return None if p.returncode == 0 else f"npm install failed: {short(p.stderr, 600)}"


def device_over_websocket(run, c, url):
    """The device's relay.url set to `url` through the REST API (the link restarts at once), then set back."""
    m0, mark = run.relay.metrics(), run.device.mark()
    status, j = https_json(run.ports["https"], "PATCH", "/api/v1/config", {"relay.url": url}, token=run.login())
    changed = status == 200 and "relay.url" in j["changed"]
    try:
        R.require(f"the device's relay.url set to {url} (PATCH /api/v1/config)", changed, f"{status} {short(j)}")
        up = run.device.wait_for(run.device.err, r"event=relay\.link_up ", since=mark, timeout=10)
        ok, m = run.relay.wait_metrics(lambda m: grew(m0, m, WS_LINKS) >= 1, 3)
        R.require(f"... the device links up again at once, over WebSocket ({WS_LINKS} grew by 1)", up and ok,
                  f"grew by {grew(m0, m, WS_LINKS)}; device: {short(run.device.log_text(mark), 800)}")
        rc, body, err = curl(f"https://{HOST}:{c.ports['https']}/api/v1/health")
        m = run.relay.metrics()
        R.check("with both links over WebSocket, curl through the tunnel works, in data frames (no direct session)",
                rc == 0 and health_ok(body) and grew(m0, m, "freehold_relay_direct_sessions_total") == 0,
                f"curl exit {rc}: {short(body)} {err}; direct sessions grew by "
                f"{grew(m0, m, 'freehold_relay_direct_sessions_total')}")
    finally:
        if changed:
            mark = run.device.mark()
            status, j = https_json(run.ports["https"], "PATCH", "/api/v1/config", {"relay.url": run.relay.url},
                                   token=run.login())
            R.check(f"the device's relay.url set back to {run.relay.url}: it links up again",
                    status == 200 and run.device.wait_for(run.device.err, r"event=relay\.link_up ", since=mark,
                                                          timeout=10), f"{status} {short(j)}; "
                    f"device: {short(run.device.log_text(mark), 800)}")


def section(name, fn, *args):
    print(f"# {name}", flush=True)
    t0 = time.monotonic()
    try:
        fn(*args)
        return True
    except Abort:
        return False
    except Exception as e:  # a bug in the test or an unexpected answer: reported, and the next section runs
        R.check(f"{name}: the section ran to its end", False, f"{type(e).__name__}: {e}")
        return False
    finally:
        print(f"      ({time.monotonic() - t0:.1f} s)", flush=True)


def binaries(description):
    """The command line of the relay tests: where freeholdd, freehold-relay and freehold are (absolute paths)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--bin-dir", help="the directory with freeholdd, freehold-relay and freehold")
    ap.add_argument("--bin", help="freeholdd")
    ap.add_argument("--relay", help="freehold-relay")
    ap.add_argument("--cli", help="freehold")
    args = ap.parse_args()
    bin_dir = args.bin_dir or "build/bin"
    args.bin = os.path.abspath(args.bin or os.path.join(bin_dir, "freeholdd"))
    args.relay = os.path.abspath(args.relay or os.path.join(bin_dir, "freehold-relay"))
    args.cli = os.path.abspath(args.cli or os.path.join(bin_dir, "freehold"))
    return args


def main():
    args = binaries(__doc__.splitlines()[0])
    missing = [p for p in (args.bin, args.relay, args.cli) if not os.access(p, os.X_OK)]
    missing += [t for t in ("curl", "ffprobe", "openssl") if shutil.which(t) is None]
    if missing:
        print(f"FAIL  the relay test's programs are there: missing {', '.join(missing)}")
        print("0 passed, 1 failed")
        return 1
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="freehold-relay-")
    run = Run(args, work)
    try:
        if section("1. set-up: relay, allow-list, device link", section_setup, run):
            for name, fn in (("2. through `freehold connect`", section_through),
                             ("3. authorisation", section_authorisation),
                             ("4. a wrong relay pin", section_pin),
                             ("10. WebSocket transport", section_websocket),
                             ("6. blindness", section_blind),
                             ("8. sessions and descriptors", section_sessions),
                             ("7. faults: the relay killed and restarted", section_faults)):
                section(name, fn, run)
            R.check("the relay, the device and the client survived every check",
                    run.relay.running() and run.device.running() and run.conn is not None and run.conn.running(),
                    f"relay {run.relay.proc.poll()}, device {run.device.proc.poll()}")
        if run.device:
            if R.failed:
                print("--- device log (tail):\n" + run.device.log_text()[-3000:])
            run.device.stop()  # two demo devices at once would only slow the machine
        for direct in (False, True):
            section(f"5. tampering (relay_fake.py, {'direct connection' if direct else 'data frames'})",
                    section_tampering, args, work, run.env, direct)
        if run.owner:
            section("9. a relay with direct_data = false", section_framed, run)
    finally:
        if R.failed and run.relay:
            print("--- relay log (tail):\n" + run.relay.log_text()[-3000:])
        for p in (run.conn, run.device, run.relay):
            if p:
                p.stop()
        kill_children()
        shutil.rmtree(work, ignore_errors=True)
        print(f"# runtime {time.monotonic() - t_start:.1f} s" + (f", {len(SKIPPED)} skipped" if SKIPPED else ""),
              flush=True)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
