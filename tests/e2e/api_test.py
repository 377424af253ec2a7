#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of freeholdd's REST API, TLS, signals and --check-config.

Starts the real daemon on loopback with a fresh state directory and a config file of its own, drives it like a
user would (claim, login, users, config, CSRF, lockout, events, audit, TLS, limits, SIGHUP, SIGTERM) and prints
one line per check. Standard library only; needs the `openssl` command for the TLS checks.

    /usr/bin/python3 tests/e2e/api_test.py --bin build/bin/freeholdd
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import tomllib

from common import Abort, Report, die_with_parent, short

HOST = "127.0.0.1"
IO_TIMEOUT = 5.0  # every socket operation
READY_TIMEOUT = 10.0
LOCKOUT_SECONDS = 5
REQUEST_TIMEOUT_S = 2
MAX_BODY_BYTES = 4096  # small, so an over-limit request fits in one TLS record

ADMIN = "owner"
ADMIN_PW = "Correct-Horse-Battery-7"
VIEWER = "viewer1"
VIEWER_PW = "Quiet-Lantern-Meadow-3"
OPERATOR = "operator1"
OPERATOR_PW = "Brisk-Copper-Harbour-9"
WRONG_PW = "Not-The-Password-42"

# A TLS client for the API: the device certificate is self-signed, and is checked separately (section 10).
CLIENT_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CLIENT_TLS.check_hostname = False
CLIENT_TLS.verify_mode = ssl.CERT_NONE


# ---------------------------------------------------------------------------------------------------------------
# Reporting


R = Report()


# ---------------------------------------------------------------------------------------------------------------
# The daemon under test




def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, binary, state_dir, config):
        self.binary = binary
        self.state_dir = state_dir
        self.config = config
        self.proc = None
        self.lines = []  # stderr, line by line
        self.cond = threading.Condition()
        self.stderr_closed = False
        self.threads = []

    def start(self):
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)  # keep the plain "ts=... level=... event=..." log format
        self.proc = subprocess.Popen(
            [self.binary, "--state-dir", self.state_dir, "--config", self.config],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            preexec_fn=die_with_parent)
        for pipe, keep in ((self.proc.stderr, True), (self.proc.stdout, False)):
            t = threading.Thread(target=self._drain, args=(pipe, keep), daemon=True)
            t.start()
            self.threads.append(t)

    def _drain(self, pipe, keep):
        for raw in iter(pipe.readline, b""):
            if keep:
                with self.cond:
                    self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self.cond.notify_all()
        pipe.close()
        if keep:
            with self.cond:
                self.stderr_closed = True
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_for(self, pattern, since=0, timeout=READY_TIMEOUT):
        """Waits for a stderr line at index >= since matching `pattern`; returns (index, match) or (None, None)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.stderr_closed:
                    return None, None
                self.cond.wait(min(left, 0.1))

    def log_text(self, since=0):
        with self.cond:
            return "\n".join(self.lines[since:])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for t in self.threads:
            t.join(timeout=2)


# ---------------------------------------------------------------------------------------------------------------
# HTTP helpers


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def message(self):
        return (self.json or {}).get("message", "") if isinstance(self.json, dict) else ""

    def __repr__(self):
        return f"HTTP {self.status} {short(self.body.decode('utf-8', 'replace'))}"


class Api:
    def __init__(self, https_port, plain_port):
        self.https_port = https_port
        self.plain_port = plain_port

    def call(self, method, path, body=None, token=None, cookie=None, csrf=None, headers=None, tls=True):
        if tls:
            conn = http.client.HTTPSConnection(HOST, self.https_port, timeout=IO_TIMEOUT, context=CLIENT_TLS)
        else:
            conn = http.client.HTTPConnection(HOST, self.plain_port, timeout=IO_TIMEOUT)
        h = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token:
            h["Authorization"] = "Bearer " + token
        if cookie:
            h["Cookie"] = "fh_session=" + cookie
        if csrf:
            h["X-CSRF-Token"] = csrf
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def login(self, username, password):
        return self.call("POST", "/api/v1/session", {"username": username, "password": password})

    def config(self, token):
        r = self.call("GET", "/api/v1/config", token=token)
        if r.status != 200:
            raise Abort(f"GET /api/v1/config: {r!r}")
        return r.json["values"]


def tls_socket(port):
    raw = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
    try:
        return CLIENT_TLS.wrap_socket(raw, server_hostname=HOST)
    except Exception:
        raw.close()
        raise


def raw_exchange(port, data, timeout=IO_TIMEOUT):
    """Sends `data` in one write over TLS and reads until the server closes; returns Resp."""
    s = tls_socket(port)
    try:
        s.settimeout(timeout)
        s.sendall(data)
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m and len(rest) >= int(m.group(1)):
                    break
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    status = int(m.group(1)) if m else 0
    headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ":" in ln]
    return Resp(status, headers, body)


class EventClient:
    """A server-sent events client on its own TLS connection."""

    def __init__(self, port, token, last_event_id=None):
        self.sock = tls_socket(port)
        resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        self.sock.sendall((f"GET /api/v1/events HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n"
                           f"{resume}Authorization: Bearer {token}\r\n\r\n").encode())
        self.buf = b""
        self.status = 0
        self.headers = {}

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except (TimeoutError, socket.timeout):
            return False
        if not chunk:
            raise ConnectionError("event stream closed by the server")
        self.buf += chunk
        return True

    def read_head(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise TimeoutError("no response head on the event stream")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}

    def next_event(self, deadline):
        """Returns (event, data) or None at the deadline; comments (keep-alives) are skipped."""
        while True:
            self.buf = self.buf.replace(b"\r\n", b"\n")
            while b"\n\n" in self.buf:
                block, _, self.buf = self.buf.partition(b"\n\n")
                event, data = "message", []
                for line in block.decode("utf-8", "replace").split("\n"):
                    if line.startswith(":"):
                        continue
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
                if data or event != "message":
                    return event, "\n".join(data)
            if not self._fill(deadline):
                return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def openssl(args, stdin=b"", timeout=10):
    return subprocess.run(["openssl"] + args, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


# ---------------------------------------------------------------------------------------------------------------
# The test


class Ctx:
    pass


def write_config(path, https_port, plain_port, extra=""):
    with open(path, "w") as f:
        f.write(base_config(https_port, plain_port) + extra)


def base_config(https_port, plain_port):
    return (
        "# freeholdd e2e test configuration\n"  # line 1
        "[http]\n"  # 2
        f'bind = "{HOST}"\n'  # 3
        f"https_port = {https_port}\n"  # 4
        "plain_enabled = true\n"  # 5
        f"plain_port = {plain_port}\n"  # 6
        f"request_timeout_s = {REQUEST_TIMEOUT_S}\n"  # 7
        f"max_body_bytes = {MAX_BODY_BYTES}\n"  # 8
        "[security]\n"  # 9
        f"lockout_seconds = {LOCKOUT_SECONDS}\n"  # 10
        "[rtsp]\n"  # 11
        "enabled = false\n"  # 12: streaming has its own test (rtsp_test.py)
    )


BASE_CONFIG_LINES = 12

PROTECTED = [
    ("GET", "/api/v1/session"), ("DELETE", "/api/v1/session"),
    ("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/x"), ("DELETE", "/api/v1/users/x"),
    ("GET", "/api/v1/config"), ("PATCH", "/api/v1/config"), ("GET", "/api/v1/config/schema"),
    ("GET", "/api/v1/device"), ("GET", "/api/v1/entities"), ("GET", "/api/v1/events"), ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/streams"), ("GET", "/api/v1/events/1/snapshot"), ("GET", "/api/v1/events?limit=1"),
    ("POST", "/api/v1/entities/take_snapshot/press"), ("GET", "/api/v1/live/main"),
]


def says_when(r, retry):
    """A 429 whose message names the wait in seconds, matching Retry-After and retry_after_s."""
    return (re.search(rf"\b{retry}\s*s(econds?)?\b", r.message()) is not None
            and (r.json or {}).get("retry_after_s") == int(retry))


def s01_fresh_start(c):
    for method, path in PROTECTED:
        body = {} if method in ("POST", "PATCH") else None
        r = c.api.call(method, path, body=body)
        R.check(f"1 fresh: {method} {path} without auth -> 401", r.status == 401, repr(r))
    r = c.api.call("GET", "/api/v1/config", token="not-a-real-token")
    R.check("1 fresh: GET /api/v1/config with a made-up bearer token -> 401", r.status == 401, repr(r))
    r = c.api.call("GET", "/api/v1/health")
    R.check("1 fresh: GET /api/v1/health over HTTPS without auth -> 200, status ok, not claimed",
            r.status == 200 and r.json == {"status": "ok", "claimed": False}, repr(r))
    r = c.api.call("GET", "/api/v1/health", tls=False)
    R.check("1 fresh: plain HTTP port answers GET /api/v1/health -> 200, status ok",
            r.status == 200 and (r.json or {}).get("status") == "ok", repr(r))
    for method, path in (("GET", "/api/v1/config"), ("GET", "/api/v1/device"), ("POST", "/api/v1/claim")):
        body = {"code": c.claim_code, "username": ADMIN, "password": ADMIN_PW} if method == "POST" else None
        r = c.api.call(method, path, body=body, tls=False)
        R.check(f"1 fresh: plain HTTP port refuses {method} {path} (not 200)", r.status not in (200, 201), repr(r))


def s03a_weak_claim(c):
    for what, pw in (("shorter than 10", "Ab1-short"), ("containing the user name", f"my-{ADMIN.upper()}-is-long")):
        r = c.api.call("POST", "/api/v1/claim", {"code": c.claim_code, "username": ADMIN, "password": pw})
        R.check(f"3 claim with a weak password ({what}) -> 400 weak_password with a message",
                r.status == 400 and (r.json or {}).get("error") == "weak_password" and r.message(), repr(r))


def s02_claim(c):
    wrong = "00000-00000" if c.claim_code.replace("-", "") != "0000000000" else "11111-11111"
    claim_wrong = {"code": wrong, "username": ADMIN, "password": ADMIN_PW}
    statuses = [c.api.call("POST", "/api/v1/claim", claim_wrong).status for _ in range(5)]
    R.check("2 claim with a wrong code -> 403 (5 times)", statuses == [403] * 5, str(statuses))
    r = c.api.call("POST", "/api/v1/claim", claim_wrong)
    retry = r.header("Retry-After")
    R.require("2 6th wrong claim code -> 429 with Retry-After", r.status == 429 and retry and retry.isdigit(), repr(r))
    R.check("2 the 429 message says when to retry (the Retry-After seconds)",
            says_when(r, retry), repr(r))
    r = c.api.call("POST", "/api/v1/claim", {"code": c.claim_code, "username": ADMIN, "password": ADMIN_PW})
    R.check("2 the right code during the lockout is refused too (429)", r.status == 429, repr(r))
    time.sleep(int(r.header("Retry-After") or retry) + 0.3)
    r = c.api.call("POST", "/api/v1/claim", {"code": c.claim_code, "username": ADMIN, "password": ADMIN_PW})
    R.require("2 claim with the right code after the lockout -> 201", r.status == 201, repr(r))
    c.admin_token = r.json["token"]
    c.secrets += [r.json["token"], r.json["csrf_token"]]
    cookies = r.header_all("Set-Cookie")
    sc = next((x for x in cookies if x.startswith("fh_session=")), "")
    attrs = {a.strip().split("=")[0].lower(): (a.strip().split("=", 1) + [""])[1] for a in sc.split(";")[1:]}
    R.check("2 claim sets a session cookie that is HttpOnly, Secure, SameSite=Strict",
            sc.startswith("fh_session=" + r.json["token"]) and "httponly" in attrs and "secure" in attrs
            and attrs.get("samesite", "").lower() == "strict", short(cookies))
    r = c.api.call("POST", "/api/v1/claim", {"code": c.claim_code, "username": "second", "password": ADMIN_PW})
    R.check("2 the same claim code again without auth -> 401", r.status == 401, repr(r))
    r = c.api.call("POST", "/api/v1/claim", {"code": c.claim_code, "username": "second", "password": ADMIN_PW},
                   token=c.admin_token)
    R.check("2 the same claim code again with auth -> 409", r.status == 409, repr(r))


def s04_users_and_config(c):
    r = c.api.login(ADMIN, ADMIN_PW)
    R.require("4 login as admin -> 200 with a token", r.status == 200 and r.json.get("token"), repr(r))
    c.admin_token = r.json["token"]
    c.admin_csrf = r.json["csrf_token"]
    c.secrets += [c.admin_token, c.admin_csrf]

    r = c.api.call("POST", "/api/v1/session", {"username": ADMIN, "password": ADMIN_PW}, tls=False)
    R.check("4 plain HTTP port refuses POST /api/v1/session (no login, no token over cleartext)",
            r.status != 200 and not (r.json or {}).get("token"), repr(r))
    if isinstance(r.json, dict) and r.json.get("token"):
        c.secrets += [r.json["token"], r.json.get("csrf_token", "")]

    # A client that asks before sending its body (Expect: 100-continue, as curl does above 1 KiB) must be refused
    # from the headers alone on plain HTTP: no "100 Continue" that would make it send the password in clear.
    body = json.dumps({"username": ADMIN, "password": ADMIN_PW}).encode()
    with socket.create_connection((HOST, c.plain_port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-Continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        first = sock.recv(4096).split(b"\r\n", 1)[0]
    R.check("4 plain HTTP with Expect: 100-continue is refused without inviting the body",
            first.startswith(b"HTTP/1.1 4"), repr(first))

    for what, pw in (("shorter than 10", "Ab1-short"), ("containing the user name", "xx-WeakLing-long-enough")):
        r = c.api.call("POST", "/api/v1/users", {"username": "weakling", "password": pw, "role": "viewer"},
                       token=c.admin_token)
        R.check(f"3 create a user with a weak password ({what}) -> 400 weak_password with a message",
                r.status == 400 and (r.json or {}).get("error") == "weak_password" and r.message(), repr(r))
    r = c.api.call("GET", "/api/v1/users", token=c.admin_token)
    R.check("3 the refused user was not created",
            r.status == 200 and "weakling" not in [u.get("username") for u in r.json.get("users", [])], repr(r))

    for user, pw, role in ((VIEWER, VIEWER_PW, "viewer"), (OPERATOR, OPERATOR_PW, "operator")):
        r = c.api.call("POST", "/api/v1/users", {"username": user, "password": pw, "role": role}, token=c.admin_token)
        R.require(f"4 create {role} '{user}' -> 201", r.status == 201 and r.json.get("role") == role, repr(r))
    r = c.api.call("GET", "/api/v1/users", token=c.admin_token)
    names = sorted(u["username"] for u in (r.json or {}).get("users", []))
    R.check("4 GET /api/v1/users lists the admin, the viewer and the operator",
            r.status == 200 and names == sorted([ADMIN, VIEWER, OPERATOR]), repr(r))

    r = c.api.login(VIEWER, VIEWER_PW)
    R.require("4 login as viewer -> 200", r.status == 200 and r.json.get("role") == "viewer", repr(r))
    c.viewer_token = r.json["token"]
    c.secrets += [c.viewer_token, r.json["csrf_token"]]
    r = c.api.login(OPERATOR, OPERATOR_PW)
    R.require("4 login as operator -> 200", r.status == 200 and r.json.get("role") == "operator", repr(r))
    c.operator_token = r.json["token"]
    c.secrets += [c.operator_token, r.json["csrf_token"]]

    r = c.api.call("GET", "/api/v1/config", token=c.viewer_token)
    R.check("4 viewer: GET /api/v1/config -> 200", r.status == 200 and "values" in (r.json or {}), repr(r))
    r = c.api.call("PATCH", "/api/v1/config", {"stream.main.fps": 12}, token=c.viewer_token)
    R.check("4 viewer: PATCH /api/v1/config -> 403", r.status == 403, repr(r))
    r = c.api.call("POST", "/api/v1/users", {"username": "sneaky", "password": "Sneaky-Pass-1234", "role": "admin"},
                   token=c.viewer_token)
    R.check("4 viewer: POST /api/v1/users -> 403", r.status == 403, repr(r))

    r = c.api.call("POST", "/api/v1/entities/take_snapshot/press", token=c.viewer_token)
    R.check("4 viewer: pressing a button -> 403", r.status == 403, repr(r))
    r = c.api.call("POST", "/api/v1/entities/take_snapshot/press", token=c.operator_token)
    R.check("4 operator: POST /api/v1/entities/take_snapshot/press -> 202",
            r.status == 202 and (r.json or {}).get("pressed") == "take_snapshot", repr(r))
    r = c.api.call("POST", "/api/v1/entities/privacy_mode/press", token=c.operator_token)
    R.check("4 pressing a switch -> 400 not_a_button", r.status == 400 and (r.json or {}).get("error") == "not_a_button",
            repr(r))
    r = c.api.call("POST", "/api/v1/entities/nope/press", token=c.operator_token)
    R.check("4 pressing an unknown entity -> 404", r.status == 404, repr(r))
    r = c.api.call("GET", "/api/v1/config/schema", token=c.viewer_token)
    secret = {e["key"]: e.get("secret") for e in (r.json or {}).get("settings", r.json or [])
              if isinstance(e, dict) and "key" in e}
    R.check("4 the schema marks secret settings (mqtt.password) and only those",
            secret.get("mqtt.password") is True and secret.get("device.name") is False, short(secret))

    r = c.api.call("PATCH", "/api/v1/config", {"stream": {"main": {"fps": 15}}}, token=c.operator_token)
    R.check("4 operator: PATCH stream.main.fps = 15 -> 200",
            r.status == 200 and "stream.main.fps" in r.json.get("changed", []), repr(r))
    r = c.api.call("PATCH", "/api/v1/config", {"http.https_port": 9443}, token=c.operator_token)
    R.check("4 operator: PATCH http.https_port -> 403", r.status == 403, repr(r))
    r = c.api.call("PATCH", "/api/v1/config", {"stream.main.fps": 500}, token=c.operator_token)
    errs = (r.json or {}).get("errors", [])
    R.check("4 PATCH stream.main.fps = 500 -> 400 naming the key and the range 1..60",
            r.status == 400 and any(e.get("key") == "stream.main.fps" and "stream.main.fps" in e.get("message", "")
                                    and "1..60" in e.get("message", "") for e in errs), repr(r))
    r = c.api.call("PATCH", "/api/v1/config", {"stream.main.fsp": 10}, token=c.operator_token)
    errs = (r.json or {}).get("errors", [])
    R.check("4 PATCH an unknown key -> 400 with a \"did you mean\" suggestion",
            r.status == 400 and any("did you mean" in e.get("message", "") and "stream.main.fps" in e.get("message", "")
                                    for e in errs), repr(r))
    values = c.api.config(c.viewer_token)
    R.check("4 the valid PATCH is visible in GET /api/v1/config (fps 15; the rejected ones changed nothing)",
            values.get("stream.main.fps") == 15 and values.get("http.https_port") == c.https_port, short(values))

    deadline = time.monotonic() + 3
    on_disk = None
    while time.monotonic() < deadline:
        try:
            with open(c.config, "rb") as f:
                on_disk = tomllib.load(f)
            if on_disk.get("stream", {}).get("main", {}).get("fps") == 15:
                break
        except (OSError, tomllib.TOMLDecodeError):
            pass
        time.sleep(0.05)
    R.check("4 the change persists in the config file on disk (and the file keeps the test's settings)",
            on_disk is not None and on_disk.get("stream", {}).get("main", {}).get("fps") == 15
            and on_disk.get("http", {}).get("bind") == HOST
            and on_disk.get("http", {}).get("https_port") == c.https_port, short(on_disk))
    mode = stat.S_IMODE(os.stat(c.config).st_mode)
    R.check("4 the config file has mode 0600", mode == 0o600, oct(mode))


def s05_csrf(c):
    r = c.api.login(ADMIN, ADMIN_PW)
    R.require("5 login for a browser-style session -> 200 with a cookie", r.status == 200 and any(
        x.startswith("fh_session=") for x in r.header_all("Set-Cookie")), repr(r))
    cookie, csrf = r.json["token"], r.json["csrf_token"]
    c.secrets += [cookie, csrf]
    r = c.api.call("PATCH", "/api/v1/config", {"image.brightness": 55}, cookie=cookie)
    R.check("5 cookie-authenticated PATCH without X-CSRF-Token -> 403", r.status == 403, repr(r))
    r = c.api.call("PATCH", "/api/v1/config", {"image.brightness": 55}, cookie=cookie, csrf="wrong" + csrf)
    R.check("5 cookie-authenticated PATCH with a wrong X-CSRF-Token -> 403", r.status == 403, repr(r))
    r = c.api.call("PATCH", "/api/v1/config", {"image.brightness": 55}, cookie=cookie, csrf=csrf)
    R.check("5 cookie-authenticated PATCH with the login's csrf_token -> 200", r.status == 200, repr(r))
    r = c.api.call("PATCH", "/api/v1/config", {"image.brightness": 56}, token=c.admin_token)
    R.check("5 bearer-token PATCH needs no CSRF token -> 200", r.status == 200, repr(r))
    values = c.api.config(c.admin_token)
    R.check("5 GET /api/v1/config shows the last PATCH", values.get("image.brightness") == 56, short(values))


def s08_events(c):
    ev = EventClient(c.https_port, c.viewer_token)
    try:
        ev.read_head()
        R.require("8 GET /api/v1/events -> 200 text/event-stream",
                  ev.status == 200 and ev.headers.get("content-type", "").startswith("text/event-stream"),
                  f"{ev.status} {ev.headers}")
        first = ev.next_event(time.monotonic() + 3)
        R.check("8 the stream starts with a 'ready' event", first is not None and first[0] == "ready", str(first))
        r = c.api.call("PATCH", "/api/v1/config", {"motion.sensitivity": 73}, token=c.operator_token)
        R.require("8 PATCH motion.sensitivity from another connection -> 200", r.status == 200, repr(r))
        deadline = time.monotonic() + 3
        seen = []
        found = False
        while not found:
            e = ev.next_event(deadline)
            if e is None:
                break
            seen.append(e)
            if e[0] == "setting":
                try:
                    d = json.loads(e[1])
                except ValueError:
                    continue
                found = d.get("key") == "motion.sensitivity" and d.get("value") == 73
        R.check("8 'event: setting' for motion.sensitivity arrives within 3 s", found, short(seen))
    finally:
        ev.close()


def s08b_event_history(c):
    r = c.api.call("GET", "/api/v1/events", token=c.viewer_token)
    R.check("8b GET /api/v1/events without Accept: text/event-stream -> 200 JSON history",
            r.status == 200 and (r.header("content-type") or "").startswith("application/json"), repr(r))
    R.check("8b a device without a camera has an empty history: {\"events\": [], \"next_before\": null}",
            r.json == {"events": [], "next_before": None}, repr(r))
    for query in ("since=2026-11-24T10:00:00Z&type=person,motion_end&limit=500&before=10",
                  "since=2026-11-24T10:00:00.250Z", "since=1795514400000", "type=motion_start,motion_end,person,tamper"):
        r = c.api.call("GET", "/api/v1/events?" + query, token=c.viewer_token)
        R.check(f"8b GET /api/v1/events?{query} -> 200", r.status == 200 and r.json.get("events") == [], repr(r))
    for query, names in (("type=person,dog", "dog"), ("limit=0", "limit"), ("limit=501", "limit"),
                         ("since=yesterday", "since"), ("since=2026-11-24T10:00:00", "since"),
                         ("before=abc", "before")):
        r = c.api.call("GET", "/api/v1/events?" + query, token=c.viewer_token)
        R.check(f"8b GET /api/v1/events?{query} -> 400 naming '{names}'",
                r.status == 400 and names in r.message(), repr(r))
    r = c.api.call("GET", "/api/v1/events/1/snapshot", token=c.viewer_token)
    R.check("8b GET /api/v1/events/1/snapshot of an unknown event -> 404 no_snapshot",
            r.status == 404 and (r.json or {}).get("error") == "no_snapshot", repr(r))
    r = c.api.call("GET", "/api/v1/events/abc/snapshot", token=c.viewer_token)
    R.check("8b GET /api/v1/events/abc/snapshot -> 400", r.status == 400 and "id" in r.message(), repr(r))
    mode = stat.S_IMODE(os.stat(os.path.join(c.state_dir, "snapshots")).st_mode)
    R.check("8b the snapshot directory is private (0700)", mode == 0o700, oct(mode))
    R.check("8b the history is its own database, events.db", os.path.exists(os.path.join(c.state_dir, "events.db")))
    # A reconnecting EventSource sends the last id it saw: the stream still starts, with nothing to replay.
    ev = EventClient(c.https_port, c.viewer_token, last_event_id=5)
    try:
        ev.read_head()
        first = ev.next_event(time.monotonic() + 3)
        R.check("8b a stream resumed with Last-Event-ID: 5 -> 200 and 'ready'",
                ev.status == 200 and first is not None and first[0] == "ready", f"{ev.status} {first}")
    finally:
        ev.close()


def s07_logout(c):
    r = c.api.login(OPERATOR, OPERATOR_PW)
    R.require("7 login for a session to end -> 200", r.status == 200, repr(r))
    token = r.json["token"]
    c.secrets += [token, r.json["csrf_token"]]
    r = c.api.call("GET", "/api/v1/session", token=token)
    R.check("7 the new token works (GET /api/v1/session -> 200)",
            r.status == 200 and r.json.get("username") == OPERATOR, repr(r))
    r = c.api.call("DELETE", "/api/v1/session", token=token)
    R.check("7 DELETE /api/v1/session -> 204", r.status == 204, repr(r))
    for method, path in (("GET", "/api/v1/session"), ("GET", "/api/v1/config")):
        r = c.api.call(method, path, token=token)
        R.check(f"7 after logout the token is refused ({method} {path} -> 401)", r.status == 401, repr(r))
    r = c.api.call("GET", "/api/v1/session", token=c.operator_token)
    R.check("7 the user's other session still works", r.status == 200, repr(r))


def s06_lockout(c):
    statuses = [c.api.login(VIEWER, WRONG_PW).status for _ in range(5)]
    R.check("6 5 wrong passwords -> 401 each", statuses == [401] * 5, str(statuses))
    r = c.api.login(VIEWER, VIEWER_PW)
    retry = r.header("Retry-After")
    R.require("6 6th attempt with the right password -> 429 with Retry-After",
              r.status == 429 and retry and retry.isdigit(), repr(r))
    R.check("6 the 429 message says when to retry (the Retry-After seconds)", says_when(r, retry), repr(r))
    time.sleep(int(retry) + 0.3)
    r = c.api.login(VIEWER, VIEWER_PW)
    R.check("6 after the lockout expires the right password works -> 200", r.status == 200, repr(r))
    if r.status == 200:
        c.secrets += [r.json["token"], r.json["csrf_token"]]


def s09_audit_and_secrets(c):
    r = c.api.call("GET", "/api/v1/audit?limit=1000", token=c.admin_token)
    R.require("9 GET /api/v1/audit as admin -> 200", r.status == 200 and "entries" in (r.json or {}), repr(r))
    actions = {e.get("action") for e in r.json["entries"]}
    for a in ("login", "login_failed", "setting_changed"):
        R.check(f"9 the audit lists '{a}' entries", a in actions, str(sorted(actions)))
    settings = [e.get("detail", "") for e in r.json["entries"] if e.get("action") == "setting_changed"]
    R.check("9 a setting_changed entry names the key and value", "stream.main.fps=15" in settings, short(settings))
    sources = {e.get("source") for e in r.json["entries"]
               if e.get("action") == "setting_changed" and e.get("detail") == "stream.main.fps=15"}
    R.check("9 the setting_changed entry records the requester's address", sources == {"127.0.0.1"}, str(sources))
    r2 = c.api.call("GET", "/api/v1/audit", token=c.viewer_token)
    R.check("9 GET /api/v1/audit as viewer -> 403", r2.status == 403, repr(r2))
    audit_text = r.body.decode("utf-8", "replace")
    leaked = [s for s in secret_list(c) if s in audit_text]
    R.check("9 no secret (password, claim code, token) appears in the audit", not leaked, short(leaked))
    check_log_secrets(c, "9")


def secret_list(c):
    code = c.claim_code
    out = [ADMIN_PW, VIEWER_PW, OPERATOR_PW, WRONG_PW, code, code.replace("-", "")] + c.secrets
    return [s for s in out if s]


def check_log_secrets(c, label):
    # The claim code is announced once, on purpose: the claim.open log line and the console banner right after it.
    i, _ = c.daemon.wait_for(r"Claim code: ", 0, timeout=0)
    after = c.daemon.log_text((i + 1) if i is not None else 0)
    leaked = [s for s in secret_list(c) if s in after]
    R.check(f"{label} no secret (password, claim code, token) appears in the daemon's stderr after the claim "
            f"announcement", i is not None and not leaked, short(leaked))


def s10_tls(c):
    r = c.api.call("GET", "/api/v1/device", token=c.viewer_token)
    R.require("10 GET /api/v1/device -> 200 with tls_fingerprint_sha256",
              r.status == 200 and r.json.get("tls_fingerprint_sha256"), repr(r))
    fp = r.json["tls_fingerprint_sha256"]
    target = f"{HOST}:{c.https_port}"
    p12 = openssl(["s_client", "-connect", target, "-servername", "localhost", "-tls1_2"])
    R.check("10 openssl s_client -tls1_2 succeeds", p12.returncode == 0 and b"BEGIN CERTIFICATE" in p12.stdout,
            short(p12.stderr.decode(errors="replace")))
    pdef = openssl(["s_client", "-connect", target])
    R.check("10 openssl s_client (default protocol) succeeds", pdef.returncode == 0 and b"BEGIN CERTIFICATE"
            in pdef.stdout, short(pdef.stderr.decode(errors="replace")))
    # Lower the client's own security level so the refusal, if any, comes from the daemon.
    p11 = openssl(["s_client", "-connect", target, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
    R.check("10 openssl s_client -tls1_1 fails", p11.returncode != 0 and b"BEGIN CERTIFICATE" not in p11.stdout,
            short(p11.stdout.decode(errors="replace")))
    m = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pdef.stdout, re.S)
    R.require("10 s_client shows the server certificate", m is not None, "")
    served_pem = m.group(0) + b"\n"
    x = openssl(["x509", "-noout", "-subject", "-issuer", "-fingerprint", "-sha256"], stdin=served_pem)
    out = x.stdout.decode()
    subj = re.search(r"(?m)^subject=\s*(.*)$", out)
    iss = re.search(r"(?m)^issuer=\s*(.*)$", out)
    fpm = re.search(r"(?mi)^sha256 Fingerprint=(\S+)$", out)
    R.check("10 the certificate is self-signed (subject with a CN equals its issuer)",
            subj and iss and "CN" in subj.group(1) and subj.group(1) == iss.group(1), out)
    R.check("10 openssl x509 -fingerprint -sha256 equals tls_fingerprint_sha256 from GET /api/v1/device",
            fpm is not None and fpm.group(1).upper() == fp.upper(), f"openssl {fpm and fpm.group(1)} device {fp}")
    tls_dir = os.path.join(c.state_dir, "tls")
    cert, key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
    R.check("10 STATE_DIR/tls/cert.pem and key.pem exist", os.path.isfile(cert) and os.path.isfile(key),
            str(os.listdir(tls_dir) if os.path.isdir(tls_dir) else "no tls dir"))
    if os.path.isfile(key):
        mode = stat.S_IMODE(os.stat(key).st_mode)
        R.check("10 STATE_DIR/tls/key.pem has mode 0600", mode == 0o600, oct(mode))
    if os.path.isfile(cert):
        xf = openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", cert])
        R.check("10 STATE_DIR/tls/cert.pem is the certificate served",
                fp.upper() in xf.stdout.decode().upper(), xf.stdout.decode())


def s11_limits(c):
    limit = c.api.config(c.admin_token)["http.max_body_bytes"]
    R.require("11 http.max_body_bytes comes from the config file", limit == MAX_BODY_BYTES, str(limit))

    def patch_with_body_size(size):
        payload = b'{"device.name": "Freehold camera"}'
        body = payload[:-1] + b" " * (size - len(payload)) + b"}"
        assert len(body) == size
        head = (f"PATCH /api/v1/config HTTP/1.1\r\nHost: {HOST}:{c.https_port}\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {c.admin_token}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n")
        return raw_exchange(c.https_port, head.encode() + body)

    r = patch_with_body_size(limit)
    R.check(f"11 a body of exactly http.max_body_bytes ({limit}) is accepted", r.status == 200, repr(r))
    r = patch_with_body_size(limit + 1)
    R.check(f"11 a body of http.max_body_bytes + 1 -> 413", r.status == 413, repr(r))

    s = tls_socket(c.https_port)
    try:
        s.sendall(f"GET /api/v1/health HTTP/1.1\r\nHost: {HOST}:{c.https_port}\r\nX-Half: ".encode())
        t0 = time.monotonic()
        deadline = t0 + REQUEST_TIMEOUT_S + 4
        closed, got = False, b""
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(4096)
            except (TimeoutError, socket.timeout):
                break
            except (ConnectionResetError, ssl.SSLError, OSError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    R.check(f"11 a client that sends half a request and stalls is disconnected within request_timeout_s "
            f"({REQUEST_TIMEOUT_S}) + 2 s",
            closed and elapsed <= REQUEST_TIMEOUT_S + 2, f"closed={closed} after {elapsed:.2f} s, got {short(got)}")
    r = c.api.call("GET", "/api/v1/health")
    R.check("11 the daemon still answers after the stalled client", r.status == 200, repr(r))


def s12_sighup(c):
    before = c.api.config(c.admin_token)
    bad_lines = {BASE_CONFIG_LINES + 2: "stream.main.fps", BASE_CONFIG_LINES + 3: "unknown"}
    write_config(c.config, c.https_port, c.plain_port,
                 "[stream.main]\n"  # BASE+1
                 "fps = 500\n"  # BASE+2
                 "bogus_key = 1\n")  # BASE+3
    mark = c.daemon.mark()
    c.daemon.proc.send_signal(signal.SIGHUP)
    for line in bad_lines:
        where = re.escape(f"{c.config}:{line}:")
        i, _ = c.daemon.wait_for(r"level=error .*config\.reload_rejected.*" + where, mark, timeout=5)
        R.check(f"12 SIGHUP with a broken file logs config.reload_rejected with {os.path.basename(c.config)}:{line}",
                i is not None, short(c.daemon.log_text(mark), 1000))
    c.daemon.wait_for(r"config\.reload_kept_running_config", mark, timeout=5)
    time.sleep(0.2)
    R.check("12 the daemon keeps running after the rejected reload", c.daemon.running(), "daemon exited")
    r = c.api.call("GET", "/api/v1/health")
    R.check("12 health OK after the rejected reload", r.status == 200, repr(r))
    after = c.api.config(c.admin_token)
    R.check("12 GET /api/v1/config unchanged after the rejected reload", after == before,
            short({k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}))

    write_config(c.config, c.https_port, c.plain_port, "[image]\ncontrast = 77\n")
    mark = c.daemon.mark()
    c.daemon.proc.send_signal(signal.SIGHUP)
    i, _ = c.daemon.wait_for(r"event=config\.reloaded", mark, timeout=5)
    R.check("12 SIGHUP with a valid file logs config.reloaded", i is not None, short(c.daemon.log_text(mark), 1000))
    values = c.api.config(c.admin_token)
    R.check("12 the reloaded change is visible in GET /api/v1/config (image.contrast = 77)",
            values.get("image.contrast") == 77, short(values))


def s13_check_config(c):
    d = c.workdir
    with open(os.path.join(d, "BAD.toml"), "w") as f:
        f.write("# two problems, on lines 3 and 5\n"  # 1
                "[http]\n"  # 2
                "https_porr = 8443\n"  # 3
                "[stream.main]\n"  # 4
                "fps = 500\n")  # 5
    with open(os.path.join(d, "GOOD.toml"), "w") as f:
        f.write("[http]\nhttps_port = 8443\n[stream.main]\nfps = 30\n")
    p = subprocess.run([c.binary, "--check-config", "BAD.toml"], cwd=d, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    out = (p.stdout + p.stderr).decode(errors="replace")
    R.check("13 --check-config BAD.toml exits 2", p.returncode == 2, f"exit {p.returncode}: {short(out)}")
    R.check("13 it prints 'BAD.toml:3: message' for the unknown key",
            re.search(r"(?m)^BAD\.toml:3: .*https_porr", out) is not None, short(out))
    R.check("13 it prints 'BAD.toml:5: message' for fps = 500",
            re.search(r"(?m)^BAD\.toml:5: .*fps.*1\.\.60", out) is not None, short(out))
    p = subprocess.run([c.binary, "--check-config", "GOOD.toml"], cwd=d, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    R.check("13 --check-config GOOD.toml exits 0", p.returncode == 0,
            f"exit {p.returncode}: {short((p.stdout + p.stderr).decode(errors='replace'))}")


def s14_sigterm(c):
    ev = EventClient(c.https_port, c.viewer_token)
    try:
        ev.read_head()
        first = ev.next_event(time.monotonic() + 3)
        R.require("14 an SSE client is connected", ev.status == 200 and first is not None and first[0] == "ready",
                  str(first))
        t0 = time.monotonic()
        c.daemon.proc.send_signal(signal.SIGTERM)
        try:
            code = c.daemon.proc.wait(timeout=4)
        except subprocess.TimeoutExpired:
            code = None
        elapsed = time.monotonic() - t0
        R.check("14 SIGTERM with an SSE client connected -> exit code 0 within 2 s",
                code == 0 and elapsed <= 2.0, f"{describe_exit(code)} after {elapsed:.2f} s")
    finally:
        ev.close()
    for t in c.daemon.threads:
        t.join(timeout=2)
    check_log_secrets(c, "14")


SECTIONS = [
    ("1 fresh start", s01_fresh_start),
    ("3 weak passwords (claim)", s03a_weak_claim),
    ("2 claim", s02_claim),
    ("4 users and config", s04_users_and_config),
    ("5 CSRF", s05_csrf),
    ("8 events", s08_events),
    ("8b event history", s08b_event_history),
    ("7 logout", s07_logout),
    ("6 lockout", s06_lockout),
    ("9 audit and secrets", s09_audit_and_secrets),
    ("10 TLS", s10_tls),
    ("11 limits", s11_limits),
    ("12 SIGHUP", s12_sighup),
    ("13 --check-config", s13_check_config),
    ("14 SIGTERM", s14_sigterm),
]


def describe_exit(code):
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/bin/freeholdd", help="the freeholdd binary (default: %(default)s)")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        print(f"api_test: {binary} is not an executable (build it first)", file=sys.stderr)
        return 2

    # A runner's SIGTERM (e.g. a CI timeout) unwinds through the finally clause below, which kills the daemon.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.monotonic()
    c = Ctx()
    c.binary = binary
    c.workdir = tempfile.mkdtemp(prefix="freehold-e2e-")
    c.state_dir = os.path.join(c.workdir, "state")
    c.config = os.path.join(c.workdir, "freeholdd.toml")
    c.https_port, c.plain_port = free_port(), free_port()
    while c.plain_port == c.https_port:
        c.plain_port = free_port()
    c.secrets = []
    c.admin_token = c.viewer_token = c.operator_token = None
    c.claim_code = None
    c.api = Api(c.https_port, c.plain_port)
    c.daemon = Daemon(binary, c.state_dir, c.config)
    try:
        write_config(c.config, c.https_port, c.plain_port)
        c.daemon.start()
        try:
            _, m = c.daemon.wait_for(r"claim_code=([0-9A-Z]{5}-[0-9A-Z]{5})", 0, READY_TIMEOUT)
            R.require("0 the daemon logs a one-time claim code", m is not None, short(c.daemon.log_text(), 2000))
            c.claim_code = m.group(1)
            i, _ = c.daemon.wait_for(r"event=http\.ready", 0, READY_TIMEOUT)
            R.require(f"0 the daemon logs event=http.ready within {READY_TIMEOUT:.0f} s", i is not None,
                      short(c.daemon.log_text(), 2000))
        except Abort:
            print("cannot continue without a running daemon", flush=True)
        else:
            for name, fn in SECTIONS:
                needs_daemon = fn is not s13_check_config
                if needs_daemon and not c.daemon.running():
                    R.check(f"{name}: not run", False, "the daemon is not running")
                    continue
                try:
                    fn(c)
                except Abort:
                    print(f"      (rest of section '{name}' skipped)", flush=True)
                except Exception as e:  # a crash in a section is a failure, not the end of the run
                    R.check(f"{name}: section ran without an exception", False, f"{type(e).__name__}: {e}")
                    try:  # a dropped connection may mean the daemon is dying: give it a moment to be seen
                        c.daemon.proc.wait(timeout=0.5)
                    except subprocess.TimeoutExpired:
                        pass
                if needs_daemon and fn is not s14_sigterm and not c.daemon.running():
                    R.check(f"{name}: the daemon is still running afterwards", False,
                            f"it exited with {describe_exit(c.daemon.proc.returncode)}; stderr ends with: "
                            + short(c.daemon.log_text(max(0, c.daemon.mark() - 3)), 600))
    finally:
        c.daemon.kill()
        shutil.rmtree(c.workdir, ignore_errors=True)
    if R.failed and c.daemon.lines:
        print("---- daemon stderr (last 40 lines) ----")
        print("\n".join(c.daemon.lines[-40:]))
        print("----")
    print(f"runtime {time.monotonic() - t_start:.1f} s")
    print(f"{R.passed} passed, {R.failed} failed")
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
