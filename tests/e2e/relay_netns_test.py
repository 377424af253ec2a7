#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of remote access through the owner's relay across network namespaces: the relay on a "public"
segment, the device behind a NAT router that lets no connection in, the owner's client behind another NAT.

    fh-dev-PID eth0 192.0.2.10 ── lan0 192.0.2.1 fh-devnat-PID wan0 203.0.113.2 ─┐
                                                                                 br0 203.0.113.1 in fh-pub-PID:
    fh-cli-PID eth0 198.51.100.10 ── lan0 198.51.100.1 fh-clinat-PID wan0 203.0.113.3 ─┘   freehold-relay :8443

    Each router masquerades what leaves by wan0 and drops new connections coming in by it.

  1. topology: the public side cannot reach the device (no route; with a route, the router drops new connections
     while the router itself reaches it), yet the device links up to the relay, which sees it as the NAT's address;
  2. through `freehold connect` in the client's namespace, no password (the tunnel carries the owner's admin role):
     ffprobe reads h264 1280x720, curl gets /api/v1/health and /api/v1/users, ONVIF GetProfiles without WS-Security
     returns a profile (the same two requests made directly on the device's LAN are refused: the control);
  3. blindness on the wire: tcpdump on the relay's segment during a transfer carrying a random marker and the admin
     password (REST over TLS in the tunnel, and plain RTSP in the tunnel): neither is in the capture, which holds TLS
     records on the relay's port from both NAT addresses only, and a marker sent in the clear (the control);
  4. 20 % loss on the device router's public link for 20 s (tc netem, or an iptables statistic rule where the kernel
     has no netem) while ffmpeg plays the tunnelled RTSP stream (h264 1280x720, 25 fps, 2 Mbit/s): at least half the
     frames keep arriving, ffmpeg sees no missed RTP packet (TCP retransmits hide the loss), the device's link and
     `freehold connect` hold, and the stream goes on once the loss is lifted;
  5. kill -9 of the relay and a restart with the same arguments: the device links up again through NAT within its
     backoff, and a new `freehold connect` works.

Needs root (network namespaces, iptables); otherwise it prints SKIP and exits 77. Also curl, ffprobe, ffmpeg,
tcpdump, iptables and iproute2 (scripts/deps.sh test).

    sudo /usr/bin/python3 tests/e2e/relay_netns_test.py --bin-dir build/bin
"""

import contextlib
import ctypes
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import Abort, die_with_parent, kill_children, short, wait_until  # noqa: E402
import relay_test as rt  # noqa: E402  (importing it runs nothing: its main() is behind __name__)
from relay_test import Client, Proc, connected, gone_detail, health_ok, tool_env  # noqa: E402
from onvif_test import envelope  # noqa: E402

R = rt.R  # one report: relay_test's Client checks land in it too
RELAYS = []  # every relay process started, for their logs
SKIP_RC = 77
LINK_UP_S = rt.LINK_UP_S  # the device's backoff: 3 s doubling to 30 s, each wait 50-100 % of the step

RELAY, DEV_WAN, CLI_WAN = "203.0.113.1", "203.0.113.2", "203.0.113.3"
DEV_GW, DEVICE = "192.0.2.1", "192.0.2.10"
CLI_GW, CLIENT = "198.51.100.1", "198.51.100.10"
RELAY_PORT = 8443
DEVICE_PORTS = {"https": 10443, "rtsp": 10554, "rtsps": 10322}  # not the defaults, which --demo moves to 8443...
LOCAL = {"rtsp": 18554, "https": 18443, "onvif": 18080}  # `freehold connect`'s, on 127.0.0.1 in the client's netns
FPS = 25  # the demo's main stream
LOSS_S = 20.0  # long enough that one deep RTO backoff (0.2 s doubling per lost retransmission) cannot eat half of it
BASELINE_S = 3.0

TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the device's own certificate is self-signed: not what is tested
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE

_LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def run(cmd, timeout=20, check=False):
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, preexec_fn=die_with_parent)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.decode('utf-8', 'replace').strip()}")
    return p


@contextlib.contextmanager
def in_netns(name):
    """Runs the block with this thread in namespace `name` (sockets made there stay there); back afterwards."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _LIBC.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
        yield
    finally:
        if _LIBC.setns(own, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(fd)
        os.close(own)


# ---------------------------------------------------------------------------------------------------------------
# The network


class Net:
    def __init__(self):
        tag = os.getpid()
        self.pub, self.devnat, self.dev = f"fh-pub-{tag}", f"fh-devnat-{tag}", f"fh-dev-{tag}"
        self.clinat, self.cli = f"fh-clinat-{tag}", f"fh-cli-{tag}"
        self.all = (self.pub, self.devnat, self.dev, self.clinat, self.cli)
        self.loss = None  # how the loss is made: "netem" or "iptables"
        self.loss_rule = None

    def x(self, ns, *cmd, timeout=20, check=False):
        return run(["ip", "netns", "exec", ns, *cmd], timeout=timeout, check=check)

    def ip(self, ns, *args):
        run(["ip", "-n", ns, *args], check=True)

    def setup(self):
        self.cleanup()  # leftovers of this exact name (a crashed run with the same pid)
        for ns in self.all:
            run(["ip", "netns", "add", ns], check=True)
            self.ip(ns, "link", "set", "lo", "up")
        # The public segment: a bridge in the relay's namespace, each NAT router's public side on it.
        self.ip(self.pub, "link", "add", "br0", "type", "bridge")
        for router, port in ((self.devnat, "p-dev"), (self.clinat, "p-cli")):
            run(["ip", "link", "add", "wan0", "netns", router, "type", "veth", "peer", "name", port, "netns", self.pub],
                check=True)
            self.ip(self.pub, "link", "set", port, "master", "br0")
            self.ip(self.pub, "link", "set", port, "up")
        for host, router in ((self.dev, self.devnat), (self.cli, self.clinat)):
            run(["ip", "link", "add", "eth0", "netns", host, "type", "veth", "peer", "name", "lan0", "netns", router],
                check=True)
        for ns, itf, addr in ((self.pub, "br0", RELAY), (self.devnat, "wan0", DEV_WAN), (self.clinat, "wan0", CLI_WAN)):
            self.ip(ns, "addr", "add", addr + "/24", "dev", itf)
            self.ip(ns, "link", "set", itf, "up")
        for ns, itf, addr in ((self.devnat, "lan0", DEV_GW), (self.dev, "eth0", DEVICE),
                              (self.clinat, "lan0", CLI_GW), (self.cli, "eth0", CLIENT)):
            self.ip(ns, "addr", "add", addr + "/24", "dev", itf)
            self.ip(ns, "link", "set", itf, "up")
        self.ip(self.dev, "route", "add", "default", "via", DEV_GW)
        self.ip(self.cli, "route", "add", "default", "via", CLI_GW)
        for router in (self.devnat, self.clinat):
            self.x(router, "sysctl", "-qw", "net.ipv4.ip_forward=1", check=True)
            self.x(router, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan0", "-j", "MASQUERADE", check=True)
            # No inbound port: nothing from the public side starts a connection into the LAN.
            self.x(router, "iptables", "-A", "FORWARD", "-i", "wan0", "-m", "conntrack", "--ctstate", "NEW",
                   "-j", "DROP", check=True)

    def pids(self):
        out = []
        for ns in self.all:
            p = run(["ip", "netns", "pids", ns], timeout=10)
            out += [int(w) for w in p.stdout.split() if w.isdigit()]
        return out

    def cleanup(self):
        # Processes first: a namespace lives on while a process is in it. Only this run's namespaces are looked at.
        if os.path.exists(f"/run/netns/{self.pub}") or any(os.path.exists(f"/run/netns/{n}") for n in self.all):
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for ns in self.all:
            if os.path.exists(f"/run/netns/{ns}"):
                run(["ip", "netns", "del", ns], timeout=20)

    def loss_on(self, percent):
        p = self.x(self.devnat, "tc", "qdisc", "add", "dev", "wan0", "root", "netem", "loss", f"{percent}%")
        if p.returncode == 0:
            self.loss = "netem"
            return f"tc netem loss {percent}% on {self.devnat}'s wan0"
        # Kernels without sch_netem (some VMs): the same drop, in the router's forwarding path to the public side.
        self.loss_rule = ["FORWARD", "-o", "wan0", "-m", "statistic", "--mode", "random", "--probability",
                          str(percent / 100), "-j", "DROP"]
        self.x(self.devnat, "iptables", "-I", *self.loss_rule, check=True)
        self.loss = "iptables"
        return (f"iptables statistic DROP {percent}% of what {self.devnat} forwards out of wan0 (no netem here: "
                f"{short(p.stderr.decode('utf-8', 'replace').strip(), 80)})")

    def loss_dropped(self):
        """Packets the loss has dropped so far."""
        if self.loss == "netem":
            out = self.x(self.devnat, "tc", "-s", "qdisc", "show", "dev", "wan0").stdout.decode()
            m = re.search(r"dropped (\d+)", out)
            return int(m.group(1)) if m else 0
        out = self.x(self.devnat, "iptables", "-L", "FORWARD", "-v", "-n", "-x").stdout.decode()
        m = re.search(r"^\s*(\d+)\s+\d+\s+DROP\s.*statistic", out, re.M)
        return int(m.group(1)) if m else 0

    def loss_off(self):
        if self.loss == "netem":
            self.x(self.devnat, "tc", "qdisc", "del", "dev", "wan0", "root", check=True)
        elif self.loss == "iptables":
            self.x(self.devnat, "iptables", "-D", *self.loss_rule, check=True)
        self.loss = None

    def link_state(self):
        """The kernel's view of the device's TCP connection to the relay (ss -ti), on one line."""
        out = self.x(self.dev, "ss", "-tin", "dst", RELAY, timeout=5).stdout.decode()
        return " ".join(out.split()[5:])

    def retransmits(self, ns):
        """TCP segments retransmitted by namespace `ns` so far."""
        lines = [line.split() for line in self.x(ns, "cat", "/proc/net/snmp").stdout.decode().splitlines()
                 if line.startswith("Tcp:")]
        return int(lines[1][lines[0].index("RetransSegs")]) if len(lines) >= 2 else None


# ---------------------------------------------------------------------------------------------------------------
# Tools in the client's namespace


def curl_in(ns, url, *extra, timeout=10):
    """(exit status, HTTP status, body) of curl run in namespace `ns`."""
    try:
        p = run(["ip", "netns", "exec", ns, "curl", "-sS", "-k", "--max-time", str(timeout), "-w", "\n%{http_code}",
                 *extra, url], timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        return None, None, b"curl did not end"
    body, _, code = p.stdout.rpartition(b"\n")
    return p.returncode, int(code) if code.isdigit() else None, body if p.returncode == 0 else p.stderr


def ffprobe_in(net, url, timeout=20):
    """(codec, width, height) of the first video stream at an RTSP URL, ffprobe run in the client's namespace."""
    return rt.ffprobe(url, timeout, ["ip", "netns", "exec", net.cli])


def https_in(ns, host, port, method, path, body=b"", headers=None, timeout=10):
    """(status, body) of one HTTPS request made from namespace `ns`; (None, error) when it fails."""
    with in_netns(ns):
        c = http.client.HTTPSConnection(host, port, context=TLS, timeout=timeout)
        try:
            c.connect()
        except OSError as e:
            c.close()
            return None, f"{type(e).__name__}: {e}".encode()
    try:
        c.request(method, path, body=body or None, headers=dict(headers or {}, Connection="close"))
        r = c.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException, ssl.SSLError) as e:
        return None, f"{type(e).__name__}: {e}".encode()
    finally:
        c.close()


def onvif_profiles(ns, host, port):
    """ONVIF GetProfiles over HTTPS with no WS-Security header: (status, profile tokens, body)."""
    status, body = https_in(ns, host, port, "POST", "/onvif/media_service",
                            envelope("<trt:GetProfiles/>").encode(),
                            {"Content-Type": "application/soap+xml; charset=utf-8"})
    return status, re.findall(rb'<(?:\w+:)?Profiles[^>]*\btoken="([^"]+)"', body or b""), body


def rtsp_exchange(ns, port, request, timeout=10):
    """Sends one RTSP request from namespace `ns` to 127.0.0.1:port; the answer's head (bytes)."""
    with in_netns(ns):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        return buf
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------------------------
# The capture


def read_pcap(path):
    """TCP segments in a pcap file (Ethernet): [(src, sport, dst, dport, seq, payload)], plus every IPv4 address
    seen."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return [], set()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    segments, addresses = [], set()
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 34 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        addresses.update((src, dst))
        if ip[9] != 6:
            continue
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            segments.append((src, sport, dst, dport, seq, payload))
    return segments, addresses


def streams(segments):
    """The TCP payload of each direction of each connection, in sequence order (retransmissions counted once)."""
    by_flow = {}
    for src, sport, dst, dport, seq, payload in segments:
        by_flow.setdefault((src, sport, dst, dport), []).append((seq, payload))
    out = {}
    for flow, segs in by_flow.items():
        base = segs[0][0]
        rel = sorted(((s - base) % (1 << 32), p) for s, p in segs)
        buf, end = bytearray(), None
        for r, p in rel:
            if r >= 1 << 31:
                continue  # before the first segment seen
            if end is None:
                end = r
            if r + len(p) <= end:
                continue
            buf += p[max(0, end - r):]
            end = r + len(p)
        out[flow] = bytes(buf)
    return out


MAX_RECORD = 5 + (1 << 14) + 256  # a TLS 1.3 record: header, 2^14 bytes of plaintext, content type and tag


DIRECT_MAGIC = b"FHD1"


def tls_coverage(stream):
    """The share of `stream` (a capture that may start mid-record) made of well-formed TLS 1.2/1.3 records, walking
    record by record from the first header (type 0x17, version 03 03) that leads to the end, and the record count.
    Bytes before that header (the end of a record the capture began in) may be up to one record long. Ciphertext can
    hold those three bytes by chance: each such start is tried in turn within the first 40 kB."""
    best = (0.0, 0)
    # A connection captured from its start begins with the ClientHello record (legacy version 03 01).
    start = 0 if stream[:3] in (b"\x16\x03\x01", b"\x16\x03\x03") else stream.find(b"\x17\x03\x03")
    while 0 <= start < 40_000:
        i, records = start, 0
        while i + 5 <= len(stream):
            ctype, version, length = stream[i], stream[i + 1:i + 3], struct.unpack(">H", stream[i + 3:i + 5])[0]
            if (ctype not in (0x14, 0x15, 0x16, 0x17) or version not in (b"\x03\x03", b"\x03\x01")
                    or length > MAX_RECORD - 5):
                break
            i += 5 + length
            records += 1
        share = (min(i, len(stream)) - start) / max(1, len(stream) - start) if start <= MAX_RECORD else 0.0
        if share > best[0]:
            best = (share, records)
        if i + 5 > len(stream):  # walked to the end
            break
        start = stream.find(b"\x17\x03\x03", start + 1)
    return best


# ---------------------------------------------------------------------------------------------------------------
# The parties


class Relay(Proc):
    def __init__(self, net, binary, work, env):
        super().__init__(["ip", "netns", "exec", net.pub, binary, "serve", "--listen", f"{RELAY}:{RELAY_PORT}",
                          "--self-signed", os.path.join(work, "tls"), "--access", os.path.join(work, "access.toml")],
                         env)
        self.fingerprint = None

    def start(self):
        super().start()
        RELAYS.append(self)
        m = self.wait_for(self.err, r"event=relay\.ready .*\bport=(\d+) fingerprint=(\S+)")
        if m and int(m.group(1)) == RELAY_PORT:
            self.fingerprint = m.group(2)
        return self


class Scene:
    """What the sections share."""

    def __init__(self, args, work, net):
        self.args, self.work, self.net = args, work, net
        os.makedirs(os.path.join(work, "home"), exist_ok=True)
        self.env = tool_env(os.path.join(work, "home"))
        self.relay = self.device = self.conn = None
        self.owner = self.device_id = self.device_key = self.user = self.password = None
        self.url = f"relay://{RELAY}:{RELAY_PORT}"

    def relay_cli(self, *a):
        return subprocess.run([self.args.relay, *a, "--access", os.path.join(self.work, "access.toml")],
                              capture_output=True, text=True, timeout=10, env=self.env, preexec_fn=die_with_parent)

    def connect(self):
        """`freehold connect cam` in the client's namespace, on fixed local ports."""
        cmd = ["ip", "netns", "exec", self.net.cli, self.args.cli, "--key", self.owner.key, "--devices",
               self.owner.devices, "connect", "cam"]
        for service, port in LOCAL.items():
            cmd += [f"--{service}", str(port)]
        return rt.start_connect(cmd, self.env)

    def start_device(self):
        config = os.path.join(self.work, "device.toml")
        with open(config, "w") as f:
            # http.bind is left at its default (every address): the device listens on its LAN address too, and
            # only the NAT keeps the public side out.
            f.write(f'[http]\nhttps_port = {DEVICE_PORTS["https"]}\nplain_enabled = false\n'
                    f'[rtsp]\nport = {DEVICE_PORTS["rtsp"]}\ntls_port = {DEVICE_PORTS["rtsps"]}\n'
                    f'[stream.sub]\nenabled = false\n[onvif]\nenabled = true\n'
                    f'[relay]\nurl = "{self.url}"\nfingerprint = "{self.relay.fingerprint}"\n'
                    f'owners = "{self.owner.public}"\n')
        d = Proc(["ip", "netns", "exec", self.net.dev, self.args.bin, "--demo", "--state-dir",
                  os.path.join(self.work, "device-state"), "--config", config], self.env).start()
        self.device = d
        d.wait_for(d.out, r"Press Ctrl-C", timeout=20)
        m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", d.out_text())
        R.require("the demo device starts in its namespace and prints its admin credentials", m,
                  f"stdout: {short(d.out_text())}\nlog: {short(d.log_text(), 800)}")
        self.user, self.password = m.group(1), m.group(2)
        ident = d.wait_for(d.err, r"event=relay\.identity device_id=([a-z2-7]{32}) key=([A-Za-z0-9_-]{43}) relay=(\S+)")
        R.require("the device logs its relay identity (relay.identity)", ident and ident.group(3) == self.url,
                  short(d.log_text(), 800))
        self.device_id, self.device_key = ident.group(1), ident.group(2)


# ---------------------------------------------------------------------------------------------------------------
# Sections


def section_topology(s):
    a, net = s.args, s.net
    s.owner = Client(a.cli, s.work, s.env, "owner").keygen()
    r = s.relay_cli("allow-client", s.owner.id)
    R.require("`freehold-relay allow-client` lists the owner's client", r.returncode == 0, short(r.stdout + r.stderr))
    s.relay = Relay(net, a.relay, s.work, s.env).start()
    R.require(f"the relay starts in {net.pub} on {RELAY}:{RELAY_PORT} and logs its fingerprint", s.relay.fingerprint,
              short(s.relay.log_text(), 600))
    s.start_device()
    mark = s.device.mark()
    r = s.relay_cli("allow", s.device_id)
    R.require("`freehold-relay allow DEVICE-ID` lists the device", r.returncode == 0 and s.device_id in r.stdout,
              short(r.stdout + r.stderr))
    t0 = time.monotonic()
    up = s.device.wait_for(s.device.err, r"event=relay\.link_up ", since=mark, timeout=LINK_UP_S)
    R.require(f"the device, behind NAT with no inbound port, links up to the relay within {LINK_UP_S:.0f} s", up,
              f"after {time.monotonic() - t0:.1f} s; log: {short(s.device.log_text(mark), 1200)}")
    print(f"      (linked up {time.monotonic() - t0:.1f} s after `allow`)", flush=True)
    m = s.relay.wait_for(s.relay.err, rf"event=relay\.link_up role=device id={s.device_id} peer=(\S+)", timeout=5)
    R.check(f"the relay sees the device's link come from the NAT's public address ({DEV_WAN}), not {DEVICE}",
            m and re.match(rf"{re.escape(DEV_WAN)}(:\d+)?$", m.group(1)), short(s.relay.log_text(), 800))

    https = f"https://{DEVICE}:{DEVICE_PORTS['https']}/api/v1/health"
    rc, code, body = curl_in(net.devnat, https, timeout=5)
    R.check(f"control: on its LAN the device answers ({net.devnat} -> {DEVICE}:{DEVICE_PORTS['https']})",
            rc == 0 and code == 200 and health_ok(body), f"curl exit {rc}, HTTP {code}: {short(body)}")
    rc, code, body = curl_in(net.pub, https, timeout=3)
    R.check(f"from the public side ({net.pub}) the device cannot be reached: no route to {DEVICE}",
            rc not in (0, None) and code in (None, 0), f"curl exit {rc}, HTTP {code}: {short(body)}")
    net.ip(net.pub, "route", "add", "192.0.2.0/24", "via", DEV_WAN)
    try:
        for name, port in (("HTTPS", DEVICE_PORTS["https"]), ("RTSP", DEVICE_PORTS["rtsp"])):
            with in_netns(net.pub):
                t0 = time.monotonic()
                try:
                    socket.create_connection((DEVICE, port), timeout=2).close()
                    err = None
                except OSError as e:
                    err = f"{type(e).__name__}: {e}"
            R.check(f"... and with a route through the device's router, its {name} port {port} does not open "
                    "(the router drops new inbound connections)", err is not None,
                    f"connected in {time.monotonic() - t0:.1f} s")
    finally:
        net.ip(net.pub, "route", "del", "192.0.2.0/24", "via", DEV_WAN)
    s.owner.add("cam", s.device_id, s.device_key, s.url, s.relay.fingerprint)


def section_through(s):
    net = s.net
    s.conn = c = s.connect()
    R.require(f"`freehold connect cam` in {net.cli} opens rtsp, https and onvif on 127.0.0.1 and says it is connected",
              connected(c) and set(c.ports) == set(LOCAL), gone_detail(c))
    R.check(f"the relay sees the client's link come from its NAT's public address ({CLI_WAN})",
            s.relay.wait_for(s.relay.err, rf"event=relay\.link_up role=client id={s.owner.id} "
                                          rf"peer={re.escape(CLI_WAN)}\b", timeout=5), short(s.relay.log_text(), 800))
    probe, err = ffprobe_in(net, f"rtsp://127.0.0.1:{LOCAL['rtsp']}/main")
    R.check("ffprobe through the tunnel, no password: h264 1280x720", probe == ("h264", 1280, 720),
            f"{probe} {err}; connect: {short(c.log_text())}")
    base = f"https://127.0.0.1:{LOCAL['https']}"
    rc, code, body = curl_in(net.cli, base + "/api/v1/health")
    R.check("curl through the tunnel: GET /api/v1/health answers {\"claimed\":true,\"status\":\"ok\"}",
            rc == 0 and code == 200 and health_ok(body), f"curl exit {rc}, HTTP {code}: {short(body)}")
    rc, code, body = curl_in(net.cli, base + "/api/v1/users")
    try:
        users = json.loads(body)
    except ValueError:
        users = None
    R.check("curl through the tunnel, no credentials: GET /api/v1/users (admin only) lists the users",
            rc == 0 and code == 200 and s.user in json.dumps(users), f"curl exit {rc}, HTTP {code}: {short(body)}")
    rc, code, body = curl_in(net.devnat, f"https://{DEVICE}:{DEVICE_PORTS['https']}/api/v1/users")
    R.check("control: the same request on the device's LAN without credentials is refused (401)",
            rc == 0 and code == 401, f"curl exit {rc}, HTTP {code}: {short(body)}")
    status, tokens, body = onvif_profiles(net.cli, "127.0.0.1", LOCAL["onvif"])
    R.check("ONVIF GetProfiles through the --onvif forward (HTTPS, no WS-Security) returns at least one profile",
            status == 200 and tokens, f"HTTP {status}: {short(body.decode('utf-8', 'replace'), 600)}")
    status, tokens, body = onvif_profiles(net.devnat, DEVICE, DEVICE_PORTS["https"])
    R.check("control: the same GetProfiles on the device's LAN without WS-Security returns no profile",
            status is not None and status != 200 and not tokens,
            f"HTTP {status}: {short(body.decode('utf-8', 'replace'), 400)}")


def section_wire(s):
    net, c = s.net, s.conn
    R.require("(the connection of section 2 is still up)", connected(c), gone_detail(c))
    pcap = os.path.join(s.work, "relay.pcap")
    dump = Proc(["ip", "netns", "exec", net.pub, "tcpdump", "-i", "br0", "-n", "-U", "--immediate-mode", "-s", "0",
                 "-w", pcap], s.env).start()
    R.require(f"tcpdump captures the public segment (br0 in {net.pub})",
              dump.wait_for(dump.err, r"listening on br0", timeout=10), short(dump.log_text()))
    marker = f"FREEHOLD-MARKER-{secrets.token_hex(8)}"
    control = f"FREEHOLD-CLEAR-{secrets.token_hex(8)}"
    try:
        # REST over TLS inside the tunnel: the marker in a header and the body, with the admin password.
        body = json.dumps({"username": s.user, "password": s.password, "note": marker}).encode()
        status, answer = https_in(net.cli, "127.0.0.1", LOCAL["https"], "POST", "/api/v1/session", body,
                                  {"Content-Type": "application/json", "X-Marker": marker})
        R.check("through the tunnel: POST /api/v1/session with the marker and the admin password (200, a token)",
                status == 200 and b"token" in answer, f"HTTP {status}: {short(answer)}")
        # Plain RTSP inside the tunnel: the marker and the password in the clear before the tunnel's encryption.
        port = LOCAL["rtsp"]
        for method in ("OPTIONS", "DESCRIBE"):
            head = rtsp_exchange(net.cli, port, (
                f"{method} rtsp://{s.user}:{s.password}@127.0.0.1:{port}/main RTSP/1.0\r\nCSeq: 1\r\n"
                f"X-Marker: {marker}\r\nUser-Agent: {marker}\r\nAccept: application/sdp\r\n\r\n").encode())
            R.check(f"through the tunnel: RTSP {method} with the password in its URL and the marker in headers "
                    "is answered 200", head.startswith(b"RTSP/1.0 200"), short(head))
        probe, err = ffprobe_in(net, f"rtsp://{s.user}:{s.password}@127.0.0.1:{port}/main")
        R.check("through the tunnel: ffprobe with the admin's credentials (media flows during the capture)",
                probe == ("h264", 1280, 720), f"{probe} {err}")
        # The control: the same kind of bytes sent in the clear to the relay's port must be seen in the capture.
        with in_netns(net.cli):
            try:
                with socket.create_connection((RELAY, RELAY_PORT), timeout=5) as raw:
                    raw.sendall(f"GET /{control} HTTP/1.1\r\nHost: {RELAY}\r\n\r\n".encode())
                    raw.settimeout(3)
                    raw.recv(100)
            except OSError as e:
                print(f"      (the clear control connection: {type(e).__name__}: {e})", flush=True)
        time.sleep(0.5)
    finally:
        dump.proc.send_signal(signal.SIGINT)  # tcpdump flushes and exits
        rc = dump.finish(10)
        if rc is None:
            dump.stop()
    size = os.path.getsize(pcap) if os.path.exists(pcap) else 0
    with open(pcap, "rb") as f:
        raw = f.read()
    R.require(f"the capture is not empty ({size} bytes)", size > 100_000, short(dump.log_text()))
    R.check("control: a marker sent in the clear to the relay's port is in the capture", control.encode() in raw)
    R.check("blindness: the marker is in no byte of the capture of the relay's traffic", marker.encode() not in raw)
    R.check("blindness: the admin password is in no byte of the capture",
            s.password.encode() not in raw and f"{s.user}:{s.password}".encode() not in raw)
    segments, addresses = read_pcap(pcap)
    flows = streams(segments)
    joined = b"\x00".join(flows.values())  # a marker cut across two TCP segments would show here
    R.check("... nor in the TCP streams reassembled from it (a marker split across segments)",
            marker.encode() not in joined and s.password.encode() not in joined and control.encode() in joined)
    R.check("neither the marker nor the password is in the relay's log",
            marker not in s.relay.log_text() and s.password not in s.relay.log_text())
    to_relay = {(src, dst) for src, _, dst, dport, _, _ in segments if dport == RELAY_PORT}
    R.check(f"the capture holds the relay's traffic: to {RELAY}:{RELAY_PORT} from both NAT addresses only",
            to_relay == {(DEV_WAN, RELAY), (CLI_WAN, RELAY)}, short(sorted(to_relay)))
    private = sorted(a for a in addresses if a.startswith(("192.0.2.", "198.51.100.")))
    R.check("no LAN address (192.0.2.0/24, 198.51.100.0/24) appears on the public segment", not private, short(private))
    # Every byte to and from the relay's port is either a TLS link or a direct data connection (docs/relay-protocol.md):
    # "FHD1", a token, then length-prefixed Noise messages, each at least a 16-byte tag, message after message.
    tls, direct = {}, {}
    for key, data in flows.items():
        src, sport, dst, dport = key
        if RELAY_PORT not in (sport, dport) or len(data) < 500:
            continue
        name = f"{src}:{sport}>{dst}:{dport}"
        if data.startswith(DIRECT_MAGIC) or flows.get((dst, dport, src, sport), b"").startswith(DIRECT_MAGIC):
            direct[name] = noise_framing(data[20:] if data.startswith(DIRECT_MAGIC) else data) + (len(data),)
        else:
            tls[name] = tls_coverage(data) + (len(data), data[:12].hex())
    R.check("the relay's links carry TLS records (17 03 03 ...), record after record to the end of each capture",
            len(tls) >= 2 and all(share > 0.99 and n >= 3 for share, n, *_ in tls.values()), short(tls, 600))
    R.check("the sessions' data goes on direct connections to the same port: \"FHD1\", a token, then "
            "length-prefixed Noise messages, message after message to the end (both ways, both sides)",
            len(direct) >= 4 and all(whole and n > 0 for whole, n, _ in direct.values()), short(direct, 600))


def noise_framing(stream):
    """(True if `stream` is made of whole length-prefixed Noise messages to its end, allowing the last one to be cut
    by the end of the capture; how many)."""
    i, n = 0, 0
    while i + 2 <= len(stream):
        length = struct.unpack(">H", stream[i:i + 2])[0]
        if length < 16:
            return False, n
        i += 2 + length
        n += 1
    return True, n


class Progress:
    """ffmpeg's -progress output: the frame count, and when each new count arrived (sampled every 0.1 s)."""

    def __init__(self, ff):
        self.ff, self.seen = ff, []

    def latest(self, key):
        with self.ff.cond:
            for line in reversed(self.ff.out):
                if line.startswith(key + "="):
                    try:
                        return int(line[len(key) + 1:])
                    except ValueError:
                        return 0
        return 0

    def frames(self):
        return self.latest("frame")

    def media_s(self):
        """The stream time of the last frame out (out_time_us)."""
        return self.latest("out_time_us") / 1e6

    def watch(self, seconds, each=None):
        """Samples for `seconds` (or until ffmpeg ends); `each()` runs every 0.5 s, its results kept with the time."""
        t0 = time.monotonic()
        extra, next_extra = [], t0
        while time.monotonic() - t0 < seconds and self.ff.running():
            now, n = time.monotonic(), self.frames()
            if not self.seen or n != self.seen[-1][1]:
                self.seen.append((now, n))
            if each and now >= next_extra:
                extra.append((now, each()))
                next_extra += 0.5
            time.sleep(0.1)
        return extra

    def between(self, t0, t1):
        """Frames counted from t0 to t1, and the longest time without a new count in that interval."""
        inside = [(t, n) for t, n in self.seen if t0 <= t <= t1]
        before = [n for t, n in self.seen if t < t0]
        start = before[-1] if before else 0
        end = inside[-1][1] if inside else start
        times = [t0] + [t for t, n in inside if n > start] + [t1]
        gaps = [(b - a, a) for a, b in zip(times, times[1:])]
        return end - start, max(gaps, default=(0.0, t0))


def section_loss(s):
    net, c = s.net, s.conn
    R.require("(the connection of section 2 is still up)", connected(c), gone_detail(c))
    ff = Proc(["ip", "netns", "exec", net.cli, "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning",
               "-rtsp_transport", "tcp", "-timeout", "10000000", "-i", f"rtsp://127.0.0.1:{LOCAL['rtsp']}/main",
               "-c", "copy", "-f", "null", "-progress", "pipe:1", "-stats_period", "0.5", "-"], s.env).start()
    p = Progress(ff)
    try:
        # Past the first burst (the server starts a viewer at the last key frame, up to a GOP of 2 s, at once).
        R.require("ffmpeg plays the tunnelled RTSP stream (over TCP) in the client's namespace",
                  wait_until(lambda: p.frames() > 3 * FPS, 15), f"{p.frames()} frames; {short(ff.log_text(), 600)}")
        mark = s.device.mark()
        # The rate the device encodes at (frames per second of stream time): below 25 on a machine too busy.
        n0, m0 = p.frames(), p.media_s()
        p.watch(BASELINE_S)
        baseline = (p.frames() - n0) / max(p.media_s() - m0, 0.1)
        print(f"      (before the loss: {baseline:.1f} fps of stream time)", flush=True)
        R.check(f"control: before the loss the stream plays at about its {FPS} fps (>= {FPS * 0.5:.0f})",
                baseline >= FPS * 0.5, f"{baseline:.1f} fps (a machine too busy to encode in real time?)")
        retrans0 = net.retransmits(net.dev)
        how = net.loss_on(20)
        print(f"      ({how})", flush=True)
        try:
            t_on = time.monotonic()
            tcp = p.watch(LOSS_S, net.link_state)
            t_off = time.monotonic()
            dropped = net.loss_dropped()
            retrans = net.retransmits(net.dev) - retrans0
        finally:
            net.loss_off()
        got, (stall, stall_at) = p.between(t_on, t_off)
        during = next((st for t, st in tcp if t >= stall_at), "")
        backoff = max((int(m.group(1)) for _, st in tcp if (m := re.search(r"\bbackoff:(\d+)", st))), default=0)
        unsent = max((int(m.group(1)) for _, st in tcp if (m := re.search(r"\bnotsent:(\d+)", st))), default=0)
        want = min(FPS, baseline) * LOSS_S * 0.5  # half of what plays without loss (25 fps unless the CPU is short)
        print(f"      ({got} frames in {LOSS_S:.0f} s under loss, {got / LOSS_S:.1f} fps; {dropped} packets dropped, "
              f"{retrans} TCP segments retransmitted by the device; longest stall {stall:.1f} s; on the device's link "
              f"the deepest RTO backoff {backoff}, up to {unsent // 1000} kB not yet sent)", flush=True)
        R.check("the loss is real: packets were dropped and the device's TCP retransmitted",
                dropped > 0 and retrans > 0, f"dropped {dropped}, retransmitted {retrans}")
        R.check(f"under 20 % loss the stream goes on: >= {want:.0f} frames in {LOSS_S:.0f} s (50 % of "
                f"{min(FPS, baseline):.1f} fps)", ff.running() and got >= want,
                f"{got} frames; ffmpeg: {short(ff.log_text(), 600)}; the device's link (ss -ti) in the longest stall "
                f"({stall:.1f} s): {during}")
        f1 = p.frames()
        R.check("the loss removed, the same stream keeps playing (once the device's queued data is through)",
                wait_until(lambda: p.frames() >= f1 + FPS, 15) and ff.running(),
                f"{p.frames() - f1} more frames; the device's link (ss -ti): {net.link_state()}")
        R.check("TCP hid the loss: ffmpeg reported no missed RTP packet, no error (its whole session, at -loglevel "
                "warning)", not ff.log_text().strip(), short(ff.log_text(), 800))
        R.check("the device's relay link held through the loss (no relay.link_down), and so did `freehold connect`",
                "relay.link_down" not in s.device.log_text(mark) and connected(c),
                f"{short(s.device.log_text(mark), 600)}; {gone_detail(c)}")
    finally:
        ff.stop()


def section_restart(s):
    net, c = s.net, s.conn
    mark = s.device.mark()
    os.kill(s.relay.proc.pid, signal.SIGKILL)
    s.relay.finish(5)
    t_kill = time.monotonic()
    R.check("kill -9 of the relay: the device notices (relay.link_down)",
            s.device.wait_for(s.device.err, r"event=relay\.link_down ", since=mark, timeout=10),
            short(s.device.log_text(mark), 800))
    rc = c.finish(10)
    R.check("... and `freehold connect` exits saying the link to the relay ended",
            rc not in (0, None) and "the link to the relay ended" in c.log_text(), gone_detail(c))
    fingerprint = s.relay.fingerprint
    s.relay = Relay(net, s.args.relay, s.work, s.env).start()
    R.require("the relay restarts in its namespace with the same arguments (same certificate)",
              s.relay.fingerprint == fingerprint, short(s.relay.log_text(), 600))
    up = s.device.wait_for(s.device.err, r"event=relay\.link_up ", since=mark, timeout=LINK_UP_S)
    R.check(f"the device links up again through NAT within its backoff (<= {LINK_UP_S:.0f} s after the kill)",
            up and time.monotonic() - t_kill <= LINK_UP_S, short(s.device.log_text(mark), 1200))
    print(f"      (linked up again {time.monotonic() - t_kill:.1f} s after the kill)", flush=True)
    R.check(f"... as seen by the relay: from {DEV_WAN}",
            s.relay.wait_for(s.relay.err, rf"event=relay\.link_up role=device id={s.device_id} "
                                          rf"peer={re.escape(DEV_WAN)}\b", timeout=5), short(s.relay.log_text(), 800))
    s.conn = c = s.connect()
    R.require("a new `freehold connect` works", connected(c), gone_detail(c))
    rc, code, body = curl_in(net.cli, f"https://127.0.0.1:{LOCAL['https']}/api/v1/health")
    R.check("... and curl through it", rc == 0 and code == 200 and health_ok(body), f"curl exit {rc}: {short(body)}")


def section(name, fn, s):
    print(f"# {name}", flush=True)
    t0 = time.monotonic()
    try:
        fn(s)
        return True
    except Abort:
        return False
    except Exception as e:  # a bug in the test or an unexpected answer: reported, and the next section runs
        R.check(f"{name}: the section ran to its end", False, f"{type(e).__name__}: {e}")
        return False
    finally:
        for who, p in (("relay", s.relay), ("device", s.device)):
            if p and not p.running():
                R.check(f"the {who} is still running after section {name.split('.')[0]}", False,
                        f"exit status {p.proc.poll()}; log: {short(p.log_text()[-1500:], 1500)}")
        print(f"      ({time.monotonic() - t0:.1f} s)", flush=True)


def skip(why):
    print(f"SKIP  the relay's network-namespace test: {why}", flush=True)
    return SKIP_RC


def main():
    args = rt.binaries(__doc__.splitlines()[0])

    if os.geteuid() != 0:
        return skip("needs root (network namespaces, iptables); CI runs it with sudo")
    if shutil.which("ip") is None:
        return skip("iproute2's ip is not installed")
    probe = f"fh-probe-{os.getpid()}"
    p = run(["ip", "netns", "add", probe])
    ok = p.returncode == 0 and run(["ip", "-n", probe, "link", "set", "lo", "up"]).returncode == 0
    run(["ip", "netns", "del", probe])
    if not ok:
        return skip(f"`ip netns` does not work here (no CAP_NET_ADMIN?): {p.stderr.decode('utf-8', 'replace').strip()}")
    missing = [x for x in (args.bin, args.relay, args.cli) if not os.access(x, os.X_OK)]
    tools = ("curl", "ffprobe", "ffmpeg", "tcpdump", "iptables", "tc", "ss", "sysctl")
    missing += [t for t in tools if shutil.which(t) is None]
    if missing:
        print(f"FAIL  the programs of the test are there (scripts/deps.sh test): missing {', '.join(missing)}")
        print("0 passed, 1 failed")
        return 1

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a CTest timeout: still tear the namespaces down
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="freehold-relay-netns-")
    net = Net()
    s = Scene(args, work, net)
    try:
        try:
            net.setup()
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            R.check("the namespaces, veths, routes and NAT rules are set up", False, str(e))
            return R.summary()
        print(f"# namespaces {', '.join(net.all)}", flush=True)
        if section("1. topology: NAT on both sides, no inbound port, the device links up", section_topology, s):
            if section("2. through `freehold connect` in the client's namespace", section_through, s):
                section("3. blindness on the wire (tcpdump on the relay's segment)", section_wire, s)
                section("4. 20 % packet loss on the device's uplink during RTSP", section_loss, s)
            section("5. the relay killed and restarted", section_restart, s)
            R.check("the relay and the device survived every check",
                    s.relay.running() and s.device.running(),
                    f"relay {s.relay.proc.poll()}, device {s.device.proc.poll()}")
    finally:
        if R.failed:
            for name, p in [("device", s.device), ("freehold connect", s.conn)] + [("relay", r) for r in RELAYS]:
                if p:
                    print(f"--- {name} log (tail; exit status {p.proc.poll()}):\n" + p.log_text()[-2500:], flush=True)
        for p in (s.conn, s.device, s.relay):
            if p:
                p.stop()
        kill_children()
        if net.loss:
            net.loss_off()
        net.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        print(f"# runtime {time.monotonic() - t_start:.1f} s", flush=True)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
