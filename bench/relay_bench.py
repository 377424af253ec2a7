#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Relay benchmarks (docs/performance.md, "Relay"), ours beside the peers in the same run, all on loopback.

Paths, each carrying one TCP stream from the "device" side (an iperf3 server, an echo server) to a client:

  direct      the client connects to the service itself (the ceiling)
  freehold    freehold connect -> freehold-relay -> relay_endpoint_bench device -> the service (links in TLS 1.3 to
              the relay; the session's Noise messages on two direct connections the relay splices, unread)
  freehold-wss  the same device, the client linked with a wss:// URL: its link inside a WebSocket, the session in
              frames on both links (the fallback for networks that pass only web traffic)
  ssh-aes     `ssh -R` to a local OpenSSH sshd (throwaway host and user keys), -c aes128-gcm@openssh.com; the client
              connects to the forwarded port on the "jumphost" (sshd decrypts: it is not blind)
  ssh-chacha  the same with chacha20-poly1305@openssh.com (OpenSSH's default)
  socat       `socat -b 262144` plain TCP forward (no crypto: the forwarding ceiling)

1. Throughput: iperf3 -R (the device's side sends) for --seconds, one stream, medians of --rounds interleaved
   rounds; CPU seconds per GB (10^9 bytes delivered) of the relay process (freehold-relay; every sshd process;
   socat and its children) and of the tunnel's ends (freehold connect + the device; the ssh client), from
   /proc/PID/stat before and after.
2. Latency: --rtt-count round trips of a 64-byte message through each path (p50, p99, p99.9), and what the path
   adds to the direct round trip.
3. Memory: --links device links from one process (each its own key) to a fresh relay; the relay's PSS
   (/proc/PID/smaps_rollup) before any link and once all are up and idle; (after - before) / links, and the relay's
   freehold_relay_devices gauge.

    python3 bench/relay_bench.py                 # the full run: --rounds 3 --seconds 10 --rtt-count 2000 --links 10000
    python3 bench/relay_bench.py --smoke         # 2 s per path, 1 round, 200 round trips, 200 links: the harness works

Needs iperf3, socat, ssh, ssh-keygen and sshd (scripts/deps.sh test). Standard library only.
"""

import argparse
import getpass
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from common import die_with_parent, free_port  # noqa: E402

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PATHS = ["direct", "freehold", "freehold-wss", "ssh-aes", "ssh-chacha", "socat"]
CIPHERS = {"ssh-aes": "aes128-gcm@openssh.com", "ssh-chacha": "chacha20-poly1305@openssh.com"}
START_TIMEOUT = 20.0


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def child_setup():
    """In a child before exec: die with this script, and as many descriptors as the hard limit allows."""
    die_with_parent()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tool_env():
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)  # the plain "level=... event=..." log format
    return env


class Proc:
    """A child process with its stdout and stderr lines kept (stderr also in a log file)."""

    def __init__(self, name, cmd, work, stdin=False, env=None):
        self.name, self.cmd = name, cmd
        self.out, self.err = [], []
        self.cond = threading.Condition()
        self.log_path = os.path.join(work, f"{name}.log")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=child_setup,
                                     env=env or tool_env())
        self.pid = self.proc.pid
        for pipe, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._drain, args=(pipe, lines), daemon=True).start()

    def _drain(self, pipe, lines):
        with open(self.log_path, "ab") as logf:
            for raw in iter(pipe.readline, b""):
                if lines is self.err:
                    logf.write(raw)
                    logf.flush()
                with self.cond:
                    lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self.cond.notify_all()

    def wait_line(self, pattern, stream="out", timeout=START_TIMEOUT, since=0):
        rx = re.compile(pattern)
        lines = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in lines[since:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.1))

    def say(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def tail(self, n=1500):
        with self.cond:
            text = "\n".join(self.out[-20:] + self.err[-40:])
        return text[-n:]

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def run(cmd, timeout=30, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=die_with_parent,
                          env=tool_env(), **kw)


# ------------------------------------------------------------------------------------------------- /proc readers


def listening(port):
    """Whether something listens on TCP port `port` (IPv4 or IPv6)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def wait_listening(port, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port):
            return True
        time.sleep(0.02)
    return False


def proc_stat(pid):
    """(ppid, own CPU seconds, CPU seconds of reaped children), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK, (int(fields[13]) + int(fields[14])) / CLK_TCK


def tree_cpu(root):
    """CPU seconds of `root` and all its descendants, live ones and those already reaped inside the tree (a reaped
    child's time is in its parent's cutime/cstime, so every process counts once)."""
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st:
                stats[int(d)] = st
    children = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            _, own, reaped = stats[pid]
            total += own + reaped
        todo.extend(children.get(pid, []))
    return total


def machine_busy():
    """(busy, total, busy in processes) jiffies of all CPUs from /proc/stat: busy counts interrupts, the third figure
    only user and system time, which is what processes are charged."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user_nice_system = v[0] + v[1] + v[2]
    return user_nice_system + v[5] + v[6], sum(v[:7]), user_nice_system


def pss_kib(pid):
    """{Pss, Pss_Anon, Rss, ...} in KiB from /proc/PID/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def metrics(port):
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


# --------------------------------------------------------------------------------------------------- the set-up


class Relay(Proc):
    def __init__(self, args, work, name="relay"):
        os.makedirs(work, exist_ok=True)
        self.access = os.path.join(work, "access.toml")
        super().__init__(name, [args.relay, "serve", "--listen", f"{HOST}:0", "--self-signed",
                                os.path.join(work, "relay-tls"), "--access", self.access, "--metrics", f"{HOST}:0"],
                         work)
        m = self.wait_line(r"event=relay\.ready .*\bport=(\d+) fingerprint=(\S+) metrics_port=(\d+)", "err")
        if not m:
            raise RuntimeError(f"freehold-relay did not start: {self.tail()}")
        self.port, self.fingerprint, self.metrics_port = int(m.group(1)), m.group(2), int(m.group(3))
        self.url = f"relay://{HOST}:{self.port}"


class Bench:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.procs = []
        self.ssh_dir = os.path.join(work, "ssh")

    def keep(self, p):
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                p.stop(timeout=5)
            except Exception as e:  # noqa: BLE001 -- clean-up must go on
                log(f"stopping {p.name}: {e}")

    def start(self):
        a, w = self.args, self.work
        self.iperf_port = free_port()
        self.echo = self.keep(Proc("echo", [a.tool, "echo", "--max-seconds", "7200"], w))
        m = self.echo.wait_line(r"^listening (\d+)")
        if not m:
            raise RuntimeError(f"echo server: {self.echo.tail()}")
        self.echo_port = int(m.group(1))

        # The relay with the device and the client allowed, the stand-in device, `freehold connect`.
        dev_key = os.path.join(w, "device.key")
        r = run([a.tool, "id", "--key", dev_key])
        m = re.search(r"device_id (\S+)\nkey (\S+)", r.stdout)
        if r.returncode != 0 or not m:
            raise RuntimeError(f"relay_endpoint_bench id: {r.stdout} {r.stderr}")
        self.device_id, self.device_key = m.group(1), m.group(2)
        cli = [a.cli, "--key", os.path.join(w, "client.key"), "--devices", os.path.join(w, "devices.toml")]
        r = run(cli + ["keygen"])
        m = re.search(r"client ID: +(\S+)", r.stdout)
        if r.returncode != 0 or not m:
            raise RuntimeError(f"freehold keygen: {r.stdout} {r.stderr}")
        client_id = m.group(1)
        relay_dir = os.path.join(w, "relay")
        os.makedirs(relay_dir, exist_ok=True)
        for cmd in (["allow", self.device_id], ["allow-client", client_id]):
            r = run([a.relay, *cmd, "--access", os.path.join(relay_dir, "access.toml")])
            if r.returncode != 0:
                raise RuntimeError(f"freehold-relay {cmd[0]}: {r.stdout} {r.stderr}")
        self.relay = self.keep(Relay(a, relay_dir))
        self.device = self.keep(Proc("device", [a.tool, "device", "--key", dev_key, "--relay", self.relay.url,
                                                "--fingerprint", self.relay.fingerprint,
                                                "--service", f"http={self.iperf_port}",
                                                "--service", f"rtsp={self.echo_port}", "--max-seconds", "7200"], w))
        if not self.device.wait_line(r"^linked$"):
            raise RuntimeError(f"the device did not link up: {self.device.tail()}")
        # Two clients: one linked over TLS (its sessions on direct connections), one over a WebSocket (wss://: the
        # fallback for networks that pass only web traffic, its sessions in frames inside the links).
        self.connects = {}
        for path, name, url in (("freehold", "dev", self.relay.url),
                                ("freehold-wss", "devws", self.relay.url.replace("relay://", "wss://"))):
            r = run(cli + ["add", name, "--id", self.device_id, "--key", self.device_key, "--relay", url,
                           "--relay-fingerprint", self.relay.fingerprint])
            if r.returncode != 0:
                raise RuntimeError(f"freehold add: {r.stdout} {r.stderr}")
            connect = self.keep(Proc(f"connect-{name}", cli + ["connect", name, "--http", "0", "--rtsp", "0"], w))
            if not connect.wait_line(r"^connected to "):
                raise RuntimeError(f"freehold connect: {connect.tail()}")
            ports = {}
            with connect.cond:
                for line in connect.out:
                    m = re.match(r"^(\w+) +\w+://127\.0\.0\.1:(\d+)/", line)
                    if m:
                        ports[m.group(1)] = int(m.group(2))
            self.connects[path] = (ports["http"], ports["rtsp"], connect)

        # socat: one forward to the iperf3 server, one to the echo server.
        self.socat_port, self.socat_echo_port = free_port(), free_port()
        self.socat = self.keep(Proc("socat", ["socat", "-b", "262144",
                                              f"TCP-LISTEN:{self.socat_port},bind={HOST},reuseaddr,fork",
                                              f"TCP:{HOST}:{self.iperf_port}"], w))
        self.socat_echo = self.keep(Proc("socat-echo", ["socat", "-b", "262144",
                                                        f"TCP-LISTEN:{self.socat_echo_port},bind={HOST},reuseaddr,fork",
                                                        f"TCP:{HOST}:{self.echo_port}"], w))
        for p in (self.socat_port, self.socat_echo_port):
            if not wait_listening(p):
                raise RuntimeError("socat did not listen")
        self.start_sshd()

    def start_sshd(self):
        a, d = self.args, self.ssh_dir
        os.makedirs(d, mode=0o700, exist_ok=True)
        for name in ("host_key", "user_key"):
            r = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"relay-bench-{name}", "-f",
                     os.path.join(d, name)])
            if r.returncode != 0:
                raise RuntimeError(f"ssh-keygen: {r.stderr}")
        shutil.copy(os.path.join(d, "user_key.pub"), os.path.join(d, "authorized_keys"))
        self.sshd_port = free_port()
        config = os.path.join(d, "sshd_config")
        with open(config, "w") as f:
            f.write(f"Port {self.sshd_port}\nListenAddress {HOST}\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n"
                    f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                    "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nGatewayPorts no\n"
                    "X11Forwarding no\nPrintMotd no\nLogLevel ERROR\n")
        if os.getuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)  # sshd's privilege separation directory, as its package makes it
        self.sshd = self.keep(Proc("sshd", [a.sshd, "-D", "-e", "-f", config], self.work))
        if not wait_listening(self.sshd_port):
            raise RuntimeError(f"sshd did not start: {self.sshd.tail()}")

    def start_ssh(self, path):
        """`ssh -R` of the device side: the iperf3 and echo ports forwarded from the jumphost (sshd)."""
        self.rport, self.rport_echo = free_port(), free_port()
        d = self.ssh_dir
        ssh = Proc("ssh", ["ssh", "-F", "/dev/null", "-N", "-T", "-c", CIPHERS[path], "-o", "BatchMode=yes",
                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-o", "ExitOnForwardFailure=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
                          "-i", os.path.join(d, "user_key"), "-p", str(self.sshd_port),
                          "-R", f"{self.rport}:{HOST}:{self.iperf_port}",
                          "-R", f"{self.rport_echo}:{HOST}:{self.echo_port}",
                          f"{getpass.getuser()}@{HOST}"], self.work)
        if not (wait_listening(self.rport) and wait_listening(self.rport_echo)):
            ssh.stop()
            raise RuntimeError(f"ssh -R did not set up its forwards: {ssh.tail()} / sshd: {self.sshd.tail()}")
        return ssh

    # Per path: the port the client uses, the relay's process tree, the ends' processes.
    def endpoints(self, path, ssh=None):
        if path == "direct":
            return self.iperf_port, self.echo_port, [], []
        if path in self.connects:
            http, rtsp, connect = self.connects[path]
            return http, rtsp, [self.relay.pid], [connect.pid, self.device.pid]
        if path == "socat":
            return self.socat_port, self.socat_echo_port, [self.socat.pid], []
        return self.rport, self.rport_echo, [self.sshd.pid], [ssh.pid]

    def throughput(self, path, ssh=None):
        a = self.args
        port, _, relay_pids, end_pids = self.endpoints(path, ssh)
        server = Proc("iperf3-server", ["iperf3", "-s", "-1", "-B", HOST, "-p", str(self.iperf_port)], self.work)
        try:
            if not wait_listening(self.iperf_port):
                raise RuntimeError(f"iperf3 -s did not listen: {server.tail()}")
            per_pid = {pid: tree_cpu(pid) for pid in relay_pids + end_pids}
            own0 = tree_cpu(os.getpid())
            m0 = machine_busy()
            t0 = time.monotonic()
            try:
                r = run(["iperf3", "-c", HOST, "-p", str(port), "-R", "-t", str(a.seconds), "-J",
                         "--connect-timeout", "5000"], timeout=a.seconds + 40)
                out = r.stdout
            except subprocess.TimeoutExpired:
                out = ""
            wall = time.monotonic() - t0
            m1 = machine_busy()
            own = tree_cpu(os.getpid()) - own0
            cpu = {pid: tree_cpu(pid) - v for pid, v in per_pid.items()}
        finally:
            server.stop(timeout=3)
        try:
            j = json.loads(out)
            received = j["end"]["sum_received"]
            nbytes, bps = received["bytes"], received["bits_per_second"]
        except (ValueError, KeyError):
            return {"path": path, "error": (out or "iperf3 timed out")[-400:], "gbps": 0.0}
        gb = nbytes / 1e9
        relay_cpu = sum(cpu[p] for p in relay_pids)
        ends_cpu = sum(cpu[p] for p in end_pids)
        return {"path": path, "gbps": bps / 1e9, "bytes": nbytes, "wall_s": wall,
                "relay_cpu_s": relay_cpu, "ends_cpu_s": ends_cpu,
                "relay_cpu_per_gb": relay_cpu / gb if relay_pids and gb else None,
                "ends_cpu_per_gb": ends_cpu / gb if end_pids and gb else None,
                # % of one core over the iperf3 run, per process (the bottleneck is the one near 100).
                "busy": {name: round(100 * cpu[pid] / wall) for name, pid in self.names(relay_pids + end_pids, [ssh] if ssh else [])},
                # The whole machine (all processes, both cores), % of its capacity: near 100 means CPU-bound.
                "machine_busy_pct": round(100 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])),
                # CPU used by processes that are not this benchmark's (other jobs on the machine), % of one core.
                "others_pct": max(0, round(100 * ((m1[2] - m0[2]) / CLK_TCK - own) / wall))}

    def names(self, pids, extra=()):
        known = {p.pid: p.name for p in [*self.procs, *extra]}
        return [(known.get(pid, str(pid)), pid) for pid in pids]

    def latency(self, path, ssh=None):
        _, port, _, _ = self.endpoints(path, ssh)
        own0, m0, t0 = tree_cpu(os.getpid()), machine_busy(), time.monotonic()
        r = run([self.args.tool, "rtt", "--port", str(port), "--count", str(self.args.rtt_count), "--size", "64",
                 "--warmup", "100", "--max-seconds", "60"], timeout=90)
        try:
            j = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"path": path, "error": (r.stdout + r.stderr)[-400:], "count": 0}
        j["path"] = path
        m1, wall = machine_busy(), time.monotonic() - t0
        j["others_pct"] = max(0, round(100 * ((m1[2] - m0[2]) / CLK_TCK - (tree_cpu(os.getpid()) - own0)) / wall))
        return j

    def memory(self):
        """A fresh relay; --links device links from relay_endpoint_bench; the relay's PSS before and after."""
        a = self.args
        w = os.path.join(self.work, "memory")
        relay = self.keep(Relay(a, w, name="relay-memory"))
        links = self.keep(Proc("links", [a.tool, "links", "--links", str(a.links), "--access", relay.access,
                                         "--relay", relay.url, "--fingerprint", relay.fingerprint,
                                         "--window", "64", "--max-seconds", "900"], w, stdin=True))
        if not links.wait_line(r"^access_written", timeout=120):
            raise RuntimeError(f"links: {links.tail()}")
        # The relay re-reads its access file within 2 s of a change.
        if not relay.wait_line(rf"event=relay\.access_reloaded devices={a.links}\b", "err", timeout=15):
            raise RuntimeError(f"the relay did not load the {a.links} IDs: {relay.tail()}")
        time.sleep(1.0)
        before = pss_kib(relay.pid)
        cpu0 = tree_cpu(relay.pid)
        links.say("go")
        m = links.wait_line(r"^all_linked (\d+) seconds ([\d.]+)|^linked_partial", timeout=360)
        if not m or not m.group(1):
            raise RuntimeError(f"not every link came up: {m.group(0) if m else links.tail()}")
        link_s = float(m.group(2))
        cpu_link = tree_cpu(relay.pid) - cpu0
        time.sleep(a.idle_seconds)
        after = pss_kib(relay.pid)
        gauge = metrics(relay.metrics_port).get("freehold_relay_devices")
        later = later_gauge = None
        if a.keepalive_seconds > 0:
            time.sleep(a.keepalive_seconds)  # every link has then sent at least one keep-alive ping
            later = pss_kib(relay.pid)
            later_gauge = metrics(relay.metrics_port).get("freehold_relay_devices")
        links.say("stop")
        links.proc.wait(timeout=30)
        relay.stop()
        n = a.links
        res = {"links": n, "devices_gauge": gauge, "link_up_s": link_s, "relay_cpu_link_s": cpu_link,
               "pss_before_kib": before["Pss"], "pss_after_kib": after["Pss"],
               "rss_before_kib": before["Rss"], "rss_after_kib": after["Rss"],
               "pss_per_link_bytes": (after["Pss"] - before["Pss"]) * 1024 / n,
               "rss_per_link_bytes": (after["Rss"] - before["Rss"]) * 1024 / n}
        if later:
            res.update({"pss_later_kib": later["Pss"], "devices_gauge_later": later_gauge,
                        "pss_per_link_later_bytes": (later["Pss"] - before["Pss"]) * 1024 / n})
        return res


# ---------------------------------------------------------------------------------------------------- reporting


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec=".2f", none="–"):
    return none if v is None else format(v, spec)


def report(args, tput, lat, mem):
    lines = []
    p = lines.append
    by = {path: [r for r in tput if r["path"] == path] for path in PATHS}
    summary = {}
    for path, rs in by.items():
        if not rs:
            continue
        g = [r["gbps"] for r in rs]
        summary[path] = {"gbps": med(g), "gbps_min": min(g), "gbps_max": max(g),
                         "relay": med([r.get("relay_cpu_per_gb") for r in rs]),
                         "ends": med([r.get("ends_cpu_per_gb") for r in rs]),
                         # Every process on the machine (iperf3 included), CPU-s per GB delivered.
                         "machine": med([r["machine_busy_pct"] / 100 * (os.cpu_count() or 1) * r["wall_s"]
                                         / (r["bytes"] / 1e9) for r in rs if r.get("bytes")])}
    ref = summary.get("ssh-aes", {}).get("gbps")
    socat_cpu = summary.get("socat", {}).get("relay")
    p(f"Throughput: iperf3 -R -t {args.seconds}, one TCP stream, medians of {args.rounds} interleaved rounds "
      "(min–max of the rounds)")
    p("")
    p("| path | Gbit/s | × ssh -R aes128-gcm | CPU-s per GB at the relay | × socat | CPU-s per GB at the ends | "
      "CPU-s per GB, whole machine |")
    p("|---|---|---|---|---|---|---|")
    labels = {"direct": "direct loopback", "freehold": "**freehold** (connect → relay → device)",
              "freehold-wss": "freehold, client over WebSocket (frames)",
              "ssh-aes": "`ssh -R` aes128-gcm", "ssh-chacha": "`ssh -R` chacha20-poly1305",
              "socat": "socat `-b 262144` (no crypto)"}
    for path, s in summary.items():
        p(f"| {labels[path]} | {s['gbps']:.2f} ({s['gbps_min']:.2f}–{s['gbps_max']:.2f}) | "
          f"{fmt(s['gbps'] / ref if ref else None)} | {fmt(s['relay'], '.3f')} | "
          f"{fmt(s['relay'] / socat_cpu if s['relay'] and socat_cpu else None)} | {fmt(s['ends'], '.3f')} | "
          f"{fmt(s['machine'])} |")
    p("")
    p("Busy during each iperf3 run (rounds in order): the whole machine, % of both cores (of which processes that are not "
      "the benchmark's, % of one core); each tunnel process, % of one core")
    for path, rs in by.items():
        if rs:
            p(f"- {path}: " + "; ".join(f"machine {r.get('machine_busy_pct')} (others {r.get('others_pct')})"
                                        + "".join(f", {k} {v}" for k, v in (r.get('busy') or {}).items()) for r in rs))
    p("")
    lby = {path: [r for r in lat if r["path"] == path and r.get("count")] for path in PATHS}
    direct = {k: med([r[k] for r in lby.get("direct", [])]) for k in ("p50_us", "p99_us", "p999_us")}
    p(f"Latency: {args.rtt_count} round trips of 64 bytes per path and round, medians of {args.rounds} rounds (µs)")
    p("")
    p("| path | p50 | p99 | p99.9 | max | added p50 | added p99 | added p99.9 |")
    p("|---|---|---|---|---|---|---|---|")
    lsum = {}
    for path, rs in lby.items():
        if not rs:
            continue
        s = {k: med([r[k] for r in rs]) for k in ("p50_us", "p99_us", "p999_us", "max_us")}
        lsum[path] = s
        add = {k: (s[k] - direct[k]) if path != "direct" and direct[k] is not None else None
               for k in ("p50_us", "p99_us", "p999_us")}
        p(f"| {labels[path]} | {s['p50_us']:.0f} | {s['p99_us']:.0f} | {s['p999_us']:.0f} | {s['max_us']:.0f} | "
          f"{fmt(add['p50_us'], '+.0f')} | {fmt(add['p99_us'], '+.0f')} | {fmt(add['p999_us'], '+.0f')} |")
    p("")
    p("Other jobs on the machine during each latency run, % of one core: " +
      "; ".join(f"{path} " + " ".join(str(r.get("others_pct")) for r in rs) for path, rs in lby.items() if rs))
    p("")
    if mem:
        p(f"Memory per idle device link: {mem['links']} links, relay PSS {mem['pss_before_kib']} KiB before, "
          f"{mem['pss_after_kib']} KiB after ({args.idle_seconds:g} s idle): "
          f"**{mem['pss_per_link_bytes'] / 1024:.2f} KiB ({mem['pss_per_link_bytes']:.0f} bytes) per link** "
          f"(RSS {mem['rss_per_link_bytes'] / 1024:.2f} KiB); freehold_relay_devices {mem['devices_gauge']:.0f}; "
          f"all linked in {mem['link_up_s']:.1f} s, relay CPU {mem['relay_cpu_link_s']:.1f} s "
          f"({1000 * mem['relay_cpu_link_s'] / mem['links']:.2f} ms per link)")
        if "pss_later_kib" in mem:
            p(f"  after {args.keepalive_seconds:g} s more (keep-alive pings): PSS {mem['pss_later_kib']} KiB, "
              f"{mem['pss_per_link_later_bytes'] / 1024:.2f} KiB per link; freehold_relay_devices "
              f"{mem['devices_gauge_later']:.0f}")
        p("")
    # The targets (shared/PERFORMANCE.md, "Relay").
    f, s = summary.get("freehold"), summary.get("ssh-aes")
    verdicts = []
    if f and s and s["gbps"]:
        verdicts.append(("throughput ≥ 1.5 × ssh -R aes128-gcm", f["gbps"] >= 1.5 * s["gbps"],
                         f"{f['gbps'] / s['gbps']:.2f}×"))
    if f and f["relay"] is not None and socat_cpu:
        verdicts.append(("relay CPU per GB ≤ socat -b 262144", f["relay"] <= socat_cpu,
                         f"{f['relay']:.3f} vs {socat_cpu:.3f} CPU-s/GB ({f['relay'] / socat_cpu:.2f}×)"))
    if "freehold" in lsum and direct["p50_us"] is not None:
        add50 = lsum["freehold"]["p50_us"] - direct["p50_us"]
        verdicts.append(("added latency p50 ≤ +50 µs", add50 <= 50, f"{add50:+.0f} µs"))
        verdicts.append(("round trip p99.9 < 0.5 ms", lsum["freehold"]["p999_us"] < 500,
                         f"{lsum['freehold']['p999_us']:.0f} µs"))
    if mem:
        verdicts.append(("≤ 10 KB (10 000 bytes) PSS per idle device link", mem["pss_per_link_bytes"] <= 10000,
                         f"{mem['pss_per_link_bytes']:.0f} bytes"))
    for name, ok, detail in verdicts:
        p(f"target {name}: {'met' if ok else 'NOT met'} ({detail})")
    return "\n".join(lines), summary, lsum


def machine_state():
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "src"], capture_output=True, text=True).stdout
    ci = subprocess.run(["pgrep", "-f", "ci-clone"], capture_output=True, text=True).stdout.split()
    return {"commit": rev.strip(), "src_changes": dirty.split("\n") if dirty.strip() else [],
            "loadavg": open("/proc/loadavg").read().split()[:3], "ci_running": bool(ci),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bin_dir = os.path.join(ROOT, "build", "bin")
    ap.add_argument("--relay", default=os.path.join(bin_dir, "freehold-relay"))
    ap.add_argument("--cli", default=os.path.join(bin_dir, "freehold"))
    ap.add_argument("--tool", default=os.path.join(bin_dir, "relay_endpoint_bench"))
    ap.add_argument("--sshd", default=shutil.which("sshd") or "/usr/sbin/sshd")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10, help="iperf3 -t")
    ap.add_argument("--rtt-count", type=int, default=2000)
    ap.add_argument("--links", type=int, default=10000)
    ap.add_argument("--idle-seconds", type=float, default=5.0, help="idle time before the memory is read")
    ap.add_argument("--keepalive-seconds", type=float, default=30.0,
                    help="then read it again this much later (0: not)")
    ap.add_argument("--paths", default=",".join(PATHS))
    ap.add_argument("--only", default="throughput,latency,memory")
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--note", default="", help="printed in the header (e.g. where the binaries were built from)")
    ap.add_argument("--smoke", action="store_true",
                    help="2 s per path, 1 round, 200 round trips, 200 links; fails unless every figure is > 0")
    args = ap.parse_args()
    if args.smoke:
        args.rounds, args.seconds, args.rtt_count, args.links = 1, 2, 200, 200
        args.idle_seconds, args.keepalive_seconds = 1.0, 0.0
    for name in ("relay", "cli", "tool", "sshd"):
        if not os.access(getattr(args, name), os.X_OK):
            sys.exit(f"relay_bench: {getattr(args, name)} is not an executable (--{name})")
    for tool in ("iperf3", "socat", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            sys.exit(f"relay_bench: {tool} is not installed (scripts/deps.sh test)")
    paths = [p for p in args.paths.split(",") if p]
    only = set(args.only.split(","))
    state = machine_state()
    log(f"commit {state['commit']}{' + uncommitted src changes' if state['src_changes'] else ''}, load average "
        f"{' '.join(state['loadavg'])}, CI run in progress: {'yes' if state['ci_running'] else 'no'}")

    work = tempfile.mkdtemp(prefix="relay-bench-")
    bench = Bench(args, work)
    tput, lat, mem = [], [], None
    t_start = time.monotonic()
    try:
        if only & {"throughput", "latency"}:
            bench.start()
            log(f"relay on {bench.relay.port}, device {bench.device_id}, connect http {bench.connects['freehold'][0]}, "
                f"sshd on {bench.sshd_port}")
            for rnd in range(args.rounds):
                for path in paths:
                    ssh = bench.start_ssh(path) if path in CIPHERS else None
                    try:
                        if "latency" in only:
                            lr = bench.latency(path, ssh)
                            lr["round"] = rnd
                            lat.append(lr)
                            log(f"round {rnd + 1} {path}: rtt " + (f"p50 {lr['p50_us']:.0f} p99.9 {lr['p999_us']:.0f} µs, others "
                                                                   f"{lr['others_pct']}"
                                                                   if lr.get("count") else f"FAILED {lr.get('error')}"))
                        if "throughput" in only:
                            tr = bench.throughput(path, ssh)
                            tr["round"] = rnd
                            tput.append(tr)
                            log(f"round {rnd + 1} {path}: {tr['gbps']:.2f} Gbit/s, relay "
                                f"{fmt(tr.get('relay_cpu_per_gb'), '.3f')} CPU-s/GB, ends "
                                f"{fmt(tr.get('ends_cpu_per_gb'), '.3f')}, busy {tr.get('busy')}"
                                + (f" ERROR {tr['error']}" if tr.get("error") else ""))
                    finally:
                        if ssh:
                            ssh.stop()
        if "memory" in only:
            mem = bench.memory()
            log(f"memory: {mem}")
    finally:
        bench.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"logs kept in {work}")
    text, summary, lsum = report(args, tput, lat, mem)
    print(f"relay_bench, {state['date']}, commit {state['commit']}"
          f"{' with uncommitted changes in src/: ' + ', '.join(s.strip() for s in state['src_changes']) if state['src_changes'] else ''}"
          f"; load average before {' '.join(state['loadavg'])}; CI run in progress at the start: "
          f"{'yes' if state['ci_running'] else 'no'}; took {time.monotonic() - t_start:.0f} s"
          + (f"; {args.note}" if args.note else ""))
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"state": state, "args": vars(args), "throughput": tput, "latency": lat, "memory": mem,
                       "summary": summary, "latency_summary": lsum}, f, indent=1)
    failures = [r for r in tput if not r.get("gbps")] + [r for r in lat if not r.get("count")]
    failures += [r for r in tput if r["path"] != "direct" and not (r.get("relay_cpu_per_gb") or 0) > 0]
    if mem and not (mem["devices_gauge"] == args.links and mem["pss_per_link_bytes"] > 0):
        failures.append({"memory": mem})
    if failures:
        print(f"FAILED: {json.dumps(failures)[:2000]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
