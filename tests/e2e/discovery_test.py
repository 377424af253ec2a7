#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""WS-Discovery as an ONVIF client meets it: Hello at start, a ProbeMatch to a multicast Probe sent unicast from the
address the probe came in on, silence for other device types, Resolve, a new Hello when the scopes change, Bye when
switched to non-discoverable and at stop, and the reply rate limit.

As root (CI runs the tests with sudo) the device runs in a network namespace of its own, joined to the prober's
namespace by a veth pair (192.0.2.2/24 and 192.0.2.1/24): its XAddrs must then name 192.0.2.2, the address of the
interface the probe arrived on. Without root only loopback multicast is used. No traffic leaves the machine either
way. With --npm, also the npm `onvif` package's Discovery.probe is run against it (installed into a temporary
directory; skipped if npm cannot install it)."""
import argparse
import ctypes
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import die_with_parent, short  # noqa: E402

GROUP = "239.255.255.250"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
}
DN = "http://www.onvif.org/ver10/network/wsdl"
TDS = "http://www.onvif.org/ver10/device/wsdl"
WSD_ACTION = "http://schemas.xmlsoap.org/ws/2005/04/discovery/"
SCOPES = ["onvif://www.onvif.org/Profile/Streaming", "onvif://www.onvif.org/name/e2e-camera",
          "onvif://www.onvif.org/hardware/freehold"]

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("ok    " if ok else "FAIL  ") + name + ("" if ok else f"\n      {detail}"), flush=True)


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20)


class Netns:
    """Two namespaces joined by a veth pair; the test process enters the prober's."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.dev, self.cli = f"fhwsd-dev{tag}", f"fhwsd-cli{tag}"
        self.device_addr, self.client_addr = "192.0.2.2", "192.0.2.1"
        # A second link, so that XAddrs must follow the interface each probe came in on.
        self.second = ("198.51.100.2", "198.51.100.1")
        self.port = 3702
        self.device_args = []  # the device finds its interfaces itself, as in production
        self.prefix = ["ip", "netns", "exec", self.dev]

    def setup(self):
        sh("ip", "netns", "add", self.dev)
        sh("ip", "netns", "add", self.cli)
        sh("ip", "link", "add", "wsd-dev", "netns", self.dev, "type", "veth", "peer", "name", "wsd-cli", "netns",
           self.cli)
        sh("ip", "link", "add", "wsd-dev2", "netns", self.dev, "type", "veth", "peer", "name", "wsd-cli2", "netns",
           self.cli)
        for ns in (self.dev, self.cli):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for ns, itf, addr in ((self.dev, "wsd-dev", self.device_addr), (self.cli, "wsd-cli", self.client_addr),
                              (self.dev, "wsd-dev2", self.second[0]), (self.cli, "wsd-cli2", self.second[1])):
            sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", itf)
            sh("ip", "-n", ns, "link", "set", itf, "up")
        for ns, itf in ((self.dev, "wsd-dev"), (self.cli, "wsd-cli")):
            # ONVIF Core §6.3: an explicit multicast route, with or without a default route.
            sh("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", itf)
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.cli}", os.O_RDONLY)
        try:
            if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)

    def cleanup(self):
        for ns in (self.dev, self.cli):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, timeout=20)

    def describe(self):
        return f"network namespaces {self.dev} ({self.device_addr}) and {self.cli} ({self.client_addr})"


class Loopback:
    def __init__(self):
        self.device_addr = self.client_addr = "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a free port: never disturb a real 3702
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.device_args = ["--interface", "127.0.0.1"]
        self.prefix = []
        self.second = None

    def setup(self):
        pass

    def cleanup(self):
        pass

    def describe(self):
        return f"loopback multicast only, port {self.port}"


def probe_text(message_id, body):
    return ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
            f'<s:Header><a:MessageID>{message_id}</a:MessageID>'
            '<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
            f'<a:Action>{WSD_ACTION}{"Resolve" if "<d:Resolve" in body else "Probe"}</a:Action></s:Header>'
            f'<s:Body>{body}</s:Body></s:Envelope>').encode()


def typed_probe(types_qnames, decls, scopes=None):
    scopes_xml = f"<d:Scopes>{' '.join(scopes)}</d:Scopes>" if scopes else ""
    return f'<d:Probe><d:Types {decls}>{types_qnames}</d:Types>{scopes_xml}</d:Probe>'


class Message:
    def __init__(self, data, source):
        self.raw = data
        self.source = source
        self.root = ET.fromstring(data)

    def text(self, path):
        n = self.root.find(path, NS)
        return None if n is None else (n.text or "").strip()

    @property
    def action(self):
        return self.text("s:Header/a:Action") or ""

    def item(self, body, name):
        return self.text(f"s:Body/{body}/{name}")

    def types(self, body):
        """The Types QNames resolved to (namespace, local) with the declarations on the envelope."""
        decls = dict(re.findall(r'xmlns:(\w+)="([^"]*)"', self.raw.decode()))
        out = set()
        for q in (self.item(body, "d:Types") or "").split():
            prefix, _, local = q.partition(":")
            out.add((decls.get(prefix), local))
        return out


class Device:
    def __init__(self, binary, net):
        self.binary, self.net = binary, net
        self.proc = None
        self.endpoint = None

    def start(self):
        self.proc = subprocess.Popen(
            self.net.prefix + [self.binary, "--port", str(self.net.port), "--id", "e2e-device-key", "--xaddr-port",
                               "8080"] + [a for s in SCOPES for a in ("--scope", s)] + self.net.device_args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            self.proc.kill()
            raise RuntimeError(f"freehold-wsd-demo did not start: {line!r} {self.proc.stderr.read()}")
        self.endpoint = line.split()[1]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def multicast_listener(net):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", net.port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(GROUP) + socket.inet_aton(net.client_addr))
    return s


def prober(net, address=None):
    address = address or net.client_addr
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    return s


def receive(sock, seconds, want):
    """The first datagram for which want(Message) holds within `seconds`, or None."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data, source = sock.recvfrom(65536)
        except socket.timeout:
            return None
        try:
            m = Message(data, source)
        except ET.ParseError:
            continue
        if want(m):
            return m


def drain(sock):
    sock.setblocking(False)
    try:
        while True:
            sock.recvfrom(65536)
    except BlockingIOError:
        pass
    sock.setblocking(True)


def announcement(kind, endpoint):
    return lambda m: m.action == WSD_ACTION + kind and m.text(
        f"s:Body/d:{kind}/a:EndpointReference/a:Address") == endpoint


def probe(sock, net, body, seconds=2.0, message_id=None):
    message_id = message_id or f"urn:uuid:{uuid.uuid4()}"
    sock.sendto(probe_text(message_id, body), (GROUP, net.port))
    started = time.monotonic()
    reply = receive(sock, seconds, lambda m: m.text("s:Header/a:RelatesTo") == message_id)
    return reply, time.monotonic() - started, message_id


def install_npm_onvif():
    """The npm `onvif` package in a temporary directory (before entering a namespace: npm needs the registry)."""
    if not shutil.which("node") or not shutil.which("npm"):
        print("skip  npm onvif: node or npm is not installed", flush=True)
        return None
    work = tempfile.mkdtemp(prefix="freehold-wsd-npm-")
    p = subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", work, "onvif@0.8"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180,
                       env=dict(os.environ, npm_config_loglevel="error"))
    if p.returncode != 0:
        print(f"skip  npm onvif: npm install failed: {short(p.stdout)}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
        return None
    return work


def run_npm_probe(net, device, work):
    """The npm `onvif` package's Discovery.probe, as a Node.js client uses it (it always probes port 3702)."""
    if net.port != 3702:
        print("skip  npm onvif: it probes port 3702 only, which the loopback mode leaves alone", flush=True)
        return
    script = ("const {Discovery} = require('onvif');"
              "Discovery.on('error', () => {});"
              "Discovery.probe({timeout: 3000, resolve: false}, (err, found) => {"
              " console.log(JSON.stringify(found.map(f => f.probeMatches.probeMatch))); });")
    p = subprocess.run(["node", "-e", script], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=30, env=dict(os.environ, NODE_PATH=os.path.join(work, "node_modules")))
    found = p.stdout.strip()
    check("npm onvif Discovery.probe finds the device with its XAddrs",
          p.returncode == 0 and device.endpoint in found and f"http://{net.device_addr}:8080/" in found,
          f"exit {p.returncode}: {short(found)} {short(p.stderr)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--npm", action="store_true", help="also probe with the npm onvif package (needs the registry)")
    ap.add_argument("--loopback", action="store_true", help="loopback multicast even when root")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)

    npm_dir = install_npm_onvif() if args.npm else None
    net = Netns() if os.geteuid() == 0 and shutil.which("ip") and not args.loopback else Loopback()
    print(f"# {net.describe()}", flush=True)
    try:
        net.setup()
    except (subprocess.CalledProcessError, OSError) as e:
        net.cleanup()
        detail = e.stderr.decode() if isinstance(e, subprocess.CalledProcessError) and e.stderr else str(e)
        print(f"# cannot create network namespaces ({detail.strip()}): loopback multicast only", flush=True)
        net = Loopback()
    device = Device(binary, net)
    try:
        listener = multicast_listener(net)
        sock = prober(net)
        device.start()
        nvt = (DN, "NetworkVideoTransmitter")
        xaddr = f"http://{net.device_addr}:8080/onvif/device_service"

        hello = receive(listener, 3, announcement("Hello", device.endpoint))
        check("Hello at start, from the device's address, with types, scopes and XAddrs",
              hello is not None and hello.source[0] == net.device_addr and nvt in hello.types("d:Hello")
              and hello.item("d:Hello", "d:XAddrs") == xaddr
              and set(SCOPES) <= set((hello.item("d:Hello", "d:Scopes") or "").split()),
              short(hello.raw if hello else "no Hello"))
        check("the endpoint is a stable urn:uuid", re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", device.endpoint or ""),
              device.endpoint)

        dn_probe = typed_probe("dn:NetworkVideoTransmitter", f'xmlns:dn="{DN}"')
        reply, took, mid = probe(sock, net, dn_probe)
        m = "d:ProbeMatches/d:ProbeMatch"
        check("a multicast Probe for dn:NetworkVideoTransmitter gets a unicast ProbeMatch",
              reply is not None and reply.action == WSD_ACTION + "ProbeMatches"
              and reply.source[0] == net.device_addr, short(reply.raw if reply else "no reply"))
        if reply is not None:
            check("ProbeMatch: RelatesTo, EndpointReference, both types, scopes, MetadataVersion",
                  reply.text("s:Header/a:RelatesTo") == mid and reply.item(m, "a:EndpointReference/a:Address")
                  == device.endpoint and reply.types(m) >= {nvt, (TDS, "Device")}
                  and set(SCOPES) <= set((reply.item(m, "d:Scopes") or "").split())
                  and reply.item(m, "d:MetadataVersion") == "1", short(reply.raw))
            check(f"XAddrs name the address the probe came in on ({net.device_addr})",
                  reply.item(m, "d:XAddrs") == xaddr, reply.item(m, "d:XAddrs"))
            check("the reply waits at most APP_MAX_DELAY (500 ms)", took < 0.9, f"{took:.3f} s")

        if net.second:
            device_addr2, client_addr2 = net.second
            with prober(net, client_addr2) as sock2:
                reply, _, _ = probe(sock2, net, dn_probe)
            check(f"a probe on the second link gets XAddrs with that link's address ({device_addr2})",
                  reply is not None and reply.source[0] == device_addr2
                  and reply.item(m, "d:XAddrs") == f"http://{device_addr2}:8080/onvif/device_service",
                  short(reply.raw if reply else "no reply"))

        reply, _, _ = probe(sock, net, typed_probe("x:Device", f'xmlns:x="{TDS}"'))
        check("tds:Device under another prefix matches too", reply is not None)
        reply, _, _ = probe(sock, net, "<d:Probe/>")
        check("an untyped Probe matches", reply is not None)
        reply, _, _ = probe(sock, net, typed_probe(
            "p:PrintDeviceType", 'xmlns:p="http://schemas.microsoft.com/windows/2006/08/wdp/print"'), seconds=1.2)
        check("a Probe for a printer gets no answer", reply is None, short(reply.raw if reply else ""))
        reply, _, _ = probe(sock, net, typed_probe("dn:NetworkVideoTransmitter", f'xmlns:dn="{DN}"',
                                                   ["onvif://www.onvif.org/name/other-camera"]), seconds=1.2)
        check("a Probe with a scope the device lacks gets no answer", reply is None)
        reply, _, _ = probe(sock, net, typed_probe("dn:NetworkVideoTransmitter", f'xmlns:dn="{DN}"',
                                                   ["onvif://www.onvif.org/name", "ONVIF://www.onvif.org/Profile"]))
        check("a Probe with matching scope prefixes is answered", reply is not None)

        resolve = f"<d:Resolve><a:EndpointReference><a:Address>{device.endpoint}</a:Address></a:EndpointReference></d:Resolve>"
        reply, _, _ = probe(sock, net, resolve)
        check("Resolve of the endpoint gets a ResolveMatch with XAddrs",
              reply is not None and reply.action == WSD_ACTION + "ResolveMatches"
              and reply.item("d:ResolveMatches/d:ResolveMatch", "d:XAddrs") == xaddr,
              short(reply.raw if reply else "no reply"))

        # Our own messages on the group are never answered: replay the device's Hello as if it were a request.
        if hello is not None:
            sock.sendto(hello.raw, (GROUP, net.port))
            stray = receive(sock, 1.0, lambda _: True)
            check("a Hello sent to the group draws no reply", stray is None, short(stray.raw if stray else ""))

        drain(listener)
        device.signal(signal.SIGUSR1)  # a scope is added
        hello2 = receive(listener, 3, announcement("Hello", device.endpoint))
        check("changing the scopes sends a Hello with a higher MetadataVersion and the new scope",
              hello2 is not None and hello2.item("d:Hello", "d:MetadataVersion") == "2"
              and "onvif://www.onvif.org/location/added" in (hello2.item("d:Hello", "d:Scopes") or ""),
              short(hello2.raw if hello2 else "no Hello"))

        device.signal(signal.SIGUSR2)  # non-discoverable
        bye = receive(listener, 3, announcement("Bye", device.endpoint))
        check("switching to non-discoverable sends Bye", bye is not None)
        reply, _, _ = probe(sock, net, dn_probe, seconds=1.2)
        check("a non-discoverable device does not answer", reply is None)
        device.signal(signal.SIGUSR2)
        check("switching back sends Hello", receive(listener, 3, announcement("Hello", device.endpoint)) is not None)
        reply, _, _ = probe(sock, net, dn_probe)
        check("and probes are answered again", reply is not None)

        time.sleep(1.1)  # the per-source bucket refills
        ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(40)]
        for i in ids:
            sock.sendto(probe_text(i, dn_probe), (GROUP, net.port))
        answered = set()
        while (r := receive(sock, 1.5, lambda msg: msg.text("s:Header/a:RelatesTo") in ids)) is not None:
            answered.add(r.text("s:Header/a:RelatesTo"))
        check("a burst of 40 probes from one source is answered at most 4 (+1) times", 1 <= len(answered) <= 5,
              f"{len(answered)} answered")

        if npm_dir:
            time.sleep(1.1)
            run_npm_probe(net, device, npm_dir)

        drain(listener)
        device.stop()
        check("Bye at stop", receive(listener, 3, announcement("Bye", device.endpoint)) is not None)
        out = device.proc.stdout.read()
        check("the device exits 0", device.proc.returncode == 0, f"exit {device.proc.returncode} {out}")
    finally:
        device.stop()
        net.cleanup()
        if npm_dir:
            shutil.rmtree(npm_dir, ignore_errors=True)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
