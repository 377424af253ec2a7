# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the end-to-end scripts (standard library only): the report, child processes that die with
the test, and the daemon under test with its stdout (the demo banner) and log collected."""
import ctypes
import os
import re
import signal
import socket
import subprocess
import threading
import time

try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def die_with_parent():
    """In a child before exec: SIGKILL it if the test process dies without cleaning up."""
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG (Linux)


def short(value, limit=300):
    """A value cut to `limit` characters, for failure details."""
    s = value if isinstance(value, str) else repr(value)
    return s if len(s) <= limit else s[:limit] + "..."


HOST = "127.0.0.1"
READY_TIMEOUT = 10.0


class Abort(Exception):
    """A check a section depends on failed; the rest of the section is skipped."""


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok    {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""), flush=True)
        return bool(cond)

    def require(self, name, cond, detail=""):
        if not self.check(name, cond, detail):
            raise Abort(name)

    def summary(self):
        """Prints the totals; the exit status for CTest."""
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0



# Processes: the daemon and the clients. Every child dies with this process and is killed in the end.
CHILDREN = []


def spawn(cmd, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(cmd, preexec_fn=die_with_parent, **kw)
    CHILDREN.append(p)
    return p


def reap(p, timeout=3.0):
    """Kills `p` unless it has exited; returns its exit status (None if it would not die)."""
    if p.poll() is None:
        p.kill()
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def kill_children():
    for p in CHILDREN:
        reap(p)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


class Daemon:
    def __init__(self, binary, state_dir, config, args=()):
        self.binary = binary
        self.state_dir = state_dir
        self.config = config
        self.args = list(args)
        self.proc = None
        self.out = []  # stdout lines (the demo banner)
        self.err = []  # stderr lines (the log)
        self.cond = threading.Condition()
        self.threads = []

    def start(self):
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)  # keep the plain "ts=... level=... event=..." log format
        self.proc = spawn([self.binary, "--demo", "--state-dir", self.state_dir, "--config", self.config] + self.args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for pipe, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            t = threading.Thread(target=self._drain, args=(pipe, lines), daemon=True)
            t.start()
            self.threads.append(t)

    def _drain(self, pipe, lines):
        for raw in iter(pipe.readline, b""):
            with self.cond:
                lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        pipe.close()

    def wait_for(self, lines, pattern, since=0, timeout=READY_TIMEOUT):
        """Waits for a line at index >= since of `lines` (self.out or self.err) matching `pattern`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(lines):
                    m = rx.search(lines[i])
                    if m:
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or not self.running():
                    return None
                self.cond.wait(min(left, 0.1))

    def mark(self):
        with self.cond:
            return len(self.err)

    def log_text(self, since=0):
        with self.cond:
            return "\n".join(self.err[since:])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def fds(self):
        """Open file descriptors of the daemon (None once it is gone)."""
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return None

    def settled_fds(self, timeout=5.0):
        """The descriptor count once it has not changed for a second (or after `timeout`)."""
        deadline = time.monotonic() + timeout
        last, since = self.fds(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            n = self.fds()
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 1.0:
                break
        return last

    def wait_idle(self, fds_at_start, timeout=5.0):
        """Waits until the daemon has closed every client connection (its descriptors are back to `fds_at_start`)."""
        return wait_until(lambda: (n := self.fds()) is not None and n <= fds_at_start, timeout)

    def socket_inodes(self):
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{self.proc.pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(int(link[8:-1]))
        except OSError:
            pass
        return inodes

    def stop(self):
        if self.proc is not None:
            reap(self.proc, timeout=5)
        for t in self.threads:
            t.join(timeout=2)

