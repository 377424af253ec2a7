#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of MQTT: freeholdd with the synthetic camera against a real mosquitto that the test starts on
loopback (with a password, and a TLS listener with a CA the test makes), seen by mosquitto_sub and a paho-mqtt
client: status and last will, info, states, Home Assistant discovery, events with snapshots, commands and their
errors, RPC with MQTT 5 response topics, telemetry, a broker restart while events occur, and TLS with the right
and the wrong CA.

    /usr/bin/python3 tests/e2e/mqtt_test.py --bin build/bin/freeholdd
"""

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Abort, Daemon, Report, free_port, kill_children, reap, short, spawn, wait_until  # noqa: E402
from api_test import Api  # noqa: E402
from mqtt_common import Recorder  # noqa: E402

HOST = "127.0.0.1"
R = Report()
USER, PASSWORD = "cam1", "broker secret 7"  # the device logs in with its device id (docs/mqtt.md, ACLs)
CYCLE = 8.0  # the synthetic box moves 4 s and rests 4 s

# What Home Assistant requires of each platform's discovery config (beyond name and unique_id), from its MQTT
# integration's schemas: a config missing one of these is rejected.
REQUIRED = {
    "switch": {"command_topic"},
    "number": {"command_topic", "min", "max"},
    "select": {"command_topic", "options"},
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "button": {"command_topic"},
    "camera": {"topic"},
    "event": {"state_topic", "event_types"},
    "update": {"state_topic"},
}


class Broker:
    """mosquitto on loopback with a password file and persistence, optionally with a TLS listener."""

    def __init__(self, work, tls=None):
        self.work = work
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.mtls_port = free_port() if tls else None
        self.tls = tls
        self.proc = None
        passwd = os.path.join(work, "passwd")
        subprocess.run(["mosquitto_passwd", "-b", "-c", passwd, USER, PASSWORD], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for user, pw in (("homeassistant", "watch"), ("reader", "read")):
            subprocess.run(["mosquitto_passwd", "-b", passwd, user, pw], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(passwd, 0o600)
        # The per-device ACL pattern of docs/mqtt.md, as written there.
        acl = os.path.join(work, "acl")
        with open(acl, "w") as f:
            f.write("pattern readwrite freehold/%u/#\npattern write homeassistant/+/%u/#\n"
                    "pattern write homeassistant/+/%u/+/config\npattern read homeassistant/status\n\n"
                    "user homeassistant\ntopic readwrite freehold/#\ntopic readwrite homeassistant/#\n"
                    "\nuser reader\ntopic read freehold/#\n")
        os.chmod(acl, 0o600)
        self.conf = os.path.join(work, "mosquitto.conf")
        with open(self.conf, "w") as f:
            # As root, mosquitto would switch to its own user, who cannot read the test's private directory.
            me = pwd.getpwuid(os.getuid()).pw_name
            f.write(f"user {me}\nper_listener_settings false\nallow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
                    f"persistence true\npersistence_location {work}/\nautosave_interval 1\n"
                    f"listener {self.port} {HOST}\n")
            if tls:
                f.write(f"listener {self.tls_port} {HOST}\ncafile {tls['ca']}\ncertfile {tls['cert']}\n"
                        f"keyfile {tls['key']}\n")
                # Client certificates: the certificate's CN is the user name the ACL sees.
                f.write(f"listener {self.mtls_port} {HOST}\ncafile {tls['ca']}\ncertfile {tls['cert']}\n"
                        f"keyfile {tls['key']}\nrequire_certificate true\nuse_identity_as_username true\n")
        self.log = os.path.join(work, "mosquitto.log")

    def start(self):
        self.proc = spawn(["mosquitto", "-c", self.conf], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        ok = wait_until(lambda: self._listening(), 5)
        R.require("mosquitto starts on loopback", ok, self.log_text()[-500:])

    def _listening(self):
        import socket
        try:
            socket.create_connection((HOST, self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # saves the persistent sessions
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                reap(self.proc)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Watcher(Recorder):
    """A paho MQTT 5 client that records every message it receives (with a persistent session)."""

    def __init__(self, port, topics, client_id="watcher"):
        super().__init__()
        self.connected = threading.Event()
        self.topics = topics
        self.port = port
        self.c = paho.Client(client_id=client_id, protocol=paho.MQTTv5)
        self.c.username_pw_set("homeassistant", "watch")
        self.c.on_message = self.on_message
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a: self.connected.clear()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300  # the broker keeps our QoS 1 messages while we are away
        self.c.connect(HOST, port, keepalive=10, clean_start=False, properties=props)
        self.c.loop_start()
        R.require("paho-mqtt connects to the broker", self.connected.wait(5))

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        for t in self.topics:
            client.subscribe(t, qos=1)
        self.connected.set()

    def publish(self, topic, payload, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos=1, retain=retain, properties=properties)
        info.wait_for_publish(5)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def retained(port, topic_filter, seconds=1.5):
    """What mosquitto_sub sees of the retained messages under `topic_filter`: {topic: payload bytes}."""
    p = subprocess.run(["mosquitto_sub", "-h", HOST, "-p", str(port), "-u", "homeassistant", "-P", "watch",
                        "-t", topic_filter, "--retained-only", "-W", str(int(seconds) or 1), "-F", "%t\t%x"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=seconds + 10)
    out = {}
    for line in p.stdout.decode().splitlines():
        topic, _, hexpayload = line.partition("\t")
        out[topic] = bytes.fromhex(hexpayload)
    return out


def make_pki(work):
    """A CA with a server certificate for 127.0.0.1, and a second, unrelated CA."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for ca in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN=Freehold test {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=broker",
        "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(work, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.pem")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=cam1",
        "-keyout", "client.key", "-out", "client.csr")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-out", "client.pem")
    fp = subprocess.run(["openssl", "x509", "-in", "server.pem", "-noout", "-fingerprint", "-sha256"], cwd=work,
                        stdout=subprocess.PIPE, check=True).stdout.decode().strip().split("=", 1)[1]
    return {"ca": os.path.join(work, "ca.pem"), "other": os.path.join(work, "other-ca.pem"),
            "cert": os.path.join(work, "server.pem"), "key": os.path.join(work, "server.key"), "fingerprint": fp,
            "client_cert": os.path.join(work, "client.pem"), "client_key": os.path.join(work, "client.key")}


def start_daemon(binary, work, broker, extra=""):
    os.makedirs(work, exist_ok=True)
    ports = {k: free_port() for k in ("https", "plain", "rtsp", "rtsps")}
    config = os.path.join(work, "freehold.toml")
    with open(config, "w") as f:
        f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {ports["https"]}\n[rtsp]\nport = {ports["rtsp"]}\n'
                f'tls_port = {ports["rtsps"]}\n[onvif]\nenabled = false\n'
                "[stream.main]\nwidth = 640\nheight = 360\nfps = 10\n[stream.sub]\nenabled = false\n"
                "[motion]\ncooldown_ms = 1500\n"
                f'[mqtt]\nurl = "mqtt://{HOST}:{broker.port}"\nusername = "{USER}"\npassword = "{PASSWORD}"\n'
                f'device_id = "cam1"\ntelemetry_s = 5\n{extra}')
    daemon = Daemon(binary, os.path.join(work, "state"), config)
    daemon.start()
    ok = daemon.wait_for(daemon.out, r"Press Ctrl-C", timeout=15)
    m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", "\n".join(daemon.out))
    R.require("freeholdd starts with MQTT configured", ok and m, short(daemon.log_text(), 1500))
    api = Api(ports["https"], ports["plain"])
    r = api.login(m.group(1), m.group(2))
    R.require("log in to the REST API", r.status in (200, 201), repr(r))
    daemon.creds = (m.group(1), m.group(2))
    daemon.api = api
    return daemon, api, r.json["token"]


BASE = "freehold/cam1"
REPLY = BASE + "/rpc/response/test"  # where the documented ACL lets the device answer


def check_connection_and_states(daemon, broker, password_log_mark):
    R.require("the device connects with MQTT 5 (log mqtt.connected protocol=5)",
              daemon.wait_for(daemon.err, r"event=mqtt\.connected .*protocol=5", timeout=10), daemon.log_text()[-800:])
    R.check("the broker password appears nowhere in the daemon's log", PASSWORD not in daemon.log_text())
    expect = {"switch/privacy_mode": b"OFF", "switch/motion_detection": b"ON", "number/motion_sensitivity": b"50",
              "select/day_night_mode": b"auto", "binary_sensor/motion": None, "sensor/uptime": None,
              "switch/stream_main": b"ON", "update/firmware": None}
    # The device publishes its states one after the other: wait (bounded) until the last one is there.
    last = {}

    def all_there():
        last.clear()
        last.update(retained(broker.port, BASE + "/#"))
        return all(f"{BASE}/{k}/state" in last for k in expect) and f"{BASE}/binary_sensor/tamper/state" in last
    wait_until(all_there, 15)
    got = dict(last)
    R.require("mosquitto_sub sees the device's retained topics", got, str(got))
    R.check("status is online (retained)", got.get(BASE + "/status") == b"online", str(got.get(BASE + "/status")))
    info = json.loads(got.get(BASE + "/info", b"{}") or b"{}")
    R.check("info: id, model, firmware, capabilities with rtsp and motion, protocol 5",
            info.get("id") == "cam1" and info.get("model") and info.get("firmware") and
            {"rtsp", "motion"} <= set(info.get("capabilities", [])) and info.get("mqtt_protocol") == "5", str(info))
    bad = {k: got.get(f"{BASE}/{k}/state") for k, v in expect.items()
           if f"{BASE}/{k}/state" not in got or (v is not None and got[f"{BASE}/{k}/state"] != v)}
    R.check("every entity's state is retained with its value (switch OFF/ON, number 50, select auto)", not bad,
            str(bad))
    return got


def check_discovery(broker, mode):
    topics = retained(broker.port, "homeassistant/#")
    configs = {}
    if mode == "device":
        payload = topics.get("homeassistant/device/cam1/config", b"")
        R.require("device discovery: one retained message on homeassistant/device/cam1/config", payload,
                  str(list(topics)))
        doc = json.loads(payload)
        dev = doc.get("device", {})
        R.check("device block: identifiers, name, manufacturer, model, sw_version, configuration_url",
                dev.get("identifiers") == ["cam1"] and all(dev.get(k) for k in
                ("name", "manufacturer", "model", "sw_version", "configuration_url")), str(dev))
        R.check("origin block with a name", doc.get("origin", {}).get("name") == "Freehold", str(doc.get("origin")))
        for obj, c in doc.get("components", {}).items():
            configs[obj] = (c.get("platform"), c)
    else:
        for topic, payload in topics.items():
            m = re.fullmatch(r"homeassistant/(\w+)/cam1/(\w+)/config", topic)
            if m and payload:
                c = json.loads(payload)
                R.check(f"entity discovery {m.group(2)}: its own device and origin blocks",
                        c.get("device", {}).get("identifiers") == ["cam1"] and "origin" in c, short(c))
                configs[m.group(2)] = (m.group(1), c)
        R.check("entity mode: the device-level message is cleared",
                not topics.get("homeassistant/device/cam1/config"), str(topics.get("homeassistant/device/cam1/config")))
    platforms = {p for p, _ in configs.values()}
    R.check(f"{mode} discovery lists camera, binary_sensor, event, switch, select, number, button, sensor, update",
            set(REQUIRED) <= platforms, str(sorted(platforms)))
    missing = {obj: sorted(REQUIRED.get(p, set()) - set(c)) for obj, (p, c) in configs.items()
               if p not in REQUIRED or not REQUIRED[p] <= set(c) or not c.get("name") or not c.get("unique_id")}
    R.check(f"{mode} discovery: every entity has name, unique_id and what Home Assistant requires of its platform",
            not missing, str(missing))
    uids = [c["unique_id"] for _, c in configs.values() if "unique_id" in c]
    R.check(f"{mode} discovery: unique_ids are unique", len(uids) == len(set(uids)), str(uids))
    topics_used = [c[k] for _, c in configs.values() for k in ("state_topic", "command_topic", "topic",
                                                             "availability_topic") if k in c]
    R.check(f"{mode} discovery: every topic is under {BASE}/", all(t.startswith(BASE + "/") for t in topics_used),
            str([t for t in topics_used if not t.startswith(BASE + "/")]))
    states = retained(broker.port, BASE + "/#")
    dangling = [c["state_topic"] for p, c in configs.values()
                if "state_topic" in c and p not in ("event",) and c["state_topic"] not in states]
    R.check(f"{mode} discovery: every state topic has a retained state", not dangling, str(dangling))
    return configs


def check_events(w, since):
    start = w.wait(lambda t, p: t == BASE + "/event/motion_start", since, CYCLE + 6)
    R.require("event: motion_start arrives on <base>/event/motion_start", start is not None,
              str([m[1] for m in w.all(lambda t, p: True, since)][-20:]))
    ev = json.loads(start[2])
    R.check("motion_start JSON: id, type, event_type, UTC time, boxes, snapshot path; QoS 1, not retained",
            isinstance(ev.get("id"), int) and ev.get("type") == ev.get("event_type") == "motion_start" and
            ev.get("time", "").endswith("Z") and ev.get("objects") and
            ev.get("snapshot") == f"/api/v1/events/{ev['id']}/snapshot" and not start[3], short(ev))
    image = w.wait(lambda t, p: t == BASE + "/camera/snapshot/image", since, 5)
    R.check("the event's snapshot is published on camera/snapshot/image as a JPEG",
            image is not None and image[2][:2] == b"\xff\xd8" and len(image[2]) <= 512 * 1024,
            "none" if image is None else str(image[2][:8]))
    on = w.wait(lambda t, p: t == BASE + "/binary_sensor/motion/state" and p == b"ON", since, 5)
    # The end and OFF of this motion, not of one that was under way when `since` was taken.
    after_start = w.index(start) + 1
    end = w.wait(lambda t, p: t == BASE + "/event/motion_end", after_start, CYCLE + 6)
    off = w.wait(lambda t, p: t == BASE + "/binary_sensor/motion/state" and p == b"OFF",
                 w.index(on) + 1 if on else after_start, CYCLE + 6)
    R.check("motion_end follows with related = the motion_start's id",
            end is not None and json.loads(end[2]).get("related") == ev["id"], "none" if end is None else short(end[2]))
    R.check("the motion binary_sensor goes ON, then OFF", on is not None and off is not None and off[0] >= on[0])


def command(w, entity, payload, expect_state=None, expect_error=False, retain=False, timeout=5):
    mark = w.mark()
    w.publish(f"{BASE}/{entity}/set", payload, retain=retain)
    state = err = None
    if expect_state is not None:
        state = w.wait(lambda t, p: t == f"{BASE}/{entity}/state" and p == expect_state, mark, timeout)
    if expect_error:
        err = w.wait(lambda t, p: t == f"{BASE}/{entity}/error", mark, timeout)
    return state, err


def check_commands(daemon, w, api, token):
    state, _ = command(w, "switch/privacy_mode", "ON", expect_state=b"ON")
    cfg = api.config(token)
    R.check("switch privacy_mode ON: the state echoes ON and the device model has privacy.enabled = true",
            state is not None and cfg.get("privacy.enabled") is True, str(cfg.get("privacy.enabled")))
    state, _ = command(w, "switch/privacy_mode", '{"value": false}', expect_state=b"OFF")
    R.check("a JSON command {\"value\": false} turns it OFF again",
            state is not None and api.config(token).get("privacy.enabled") is False)
    mark = w.mark()
    _, err = command(w, "number/motion_sensitivity", "150", expect_error=True)
    echo = w.wait(lambda t, p: t == f"{BASE}/number/motion_sensitivity/state", mark, 3)
    body = json.loads(err[2]) if err else {}
    R.check("number 150 (out of range): an error naming the setting and range, state still 50",
            "motion.sensitivity" in body.get("error", "") and api.config(token).get("motion.sensitivity") == 50
            and echo is not None and echo[2] == b"50", f"{body} {echo}")
    _, err = command(w, "number/motion_sensitivity", '{"value": ', expect_error=True)
    R.check("malformed JSON: an error saying so, no change",
            err is not None and "malformed JSON" in json.loads(err[2]).get("error", "")
            and api.config(token).get("motion.sensitivity") == 50, short(err))
    state, _ = command(w, "number/motion_sensitivity", "70", expect_state=b"70")
    R.check("number 70: the state echoes 70 and the device model has it",
            state is not None and api.config(token).get("motion.sensitivity") == 70)
    state, _ = command(w, "select/day_night_mode", "night", expect_state=b"night")
    R.check("select day_night_mode night: state night", state is not None and
            api.config(token).get("image.day_night") == "night")
    _, err = command(w, "select/day_night_mode", "dusk", expect_error=True)
    R.check("select 'dusk' (not a choice): an error", err is not None and "image.day_night" in err[2].decode(),
            short(err))
    mark = daemon.mark()
    w.publish(f"{BASE}/switch/motion_detection/set", "OFF", retain=True)
    ignored = daemon.wait_for(daemon.err, r"event=mqtt\.retained_command_ignored", since=mark, timeout=5)
    time.sleep(0.5)
    R.check("a retained command is ignored with a warning, no state change",
            ignored and api.config(token).get("motion.enabled") is True, daemon.log_text(mark)[-400:])
    w.publish(f"{BASE}/switch/motion_detection/set", "", retain=True)  # clear it from the broker
    mark = w.mark()
    w.publish(f"{BASE}/button/take_snapshot/set", "PRESS")
    image = w.wait(lambda t, p: t == BASE + "/camera/snapshot/image", mark, 5)
    R.check("button take_snapshot PRESS publishes a JPEG", image is not None and image[2][:2] == b"\xff\xd8")
    _, err = command(w, "sensor/uptime", "5", expect_error=True)
    R.check("a command to a read-only sensor: an error", err is not None and "read-only" in err[2].decode(),
            short(err))


def rpc(w, method, payload, v5=True, timeout=5):
    mark = w.mark()
    if v5:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = REPLY
        props.CorrelationData = b"corr-42"
        w.publish(f"{BASE}/rpc/{method}", json.dumps(payload), properties=props)
    else:
        w.publish(f"{BASE}/rpc/{method}", json.dumps(dict(payload, response_topic=REPLY,
                                                          correlation="c311")))
    return w.wait(lambda t, p: t == REPLY, mark, timeout)


def check_rpc(w):
    r = rpc(w, "config_get", {"keys": ["motion.sensitivity", "mqtt.password"]})
    body = json.loads(r[2]) if r else {}
    corr = getattr(r[4], "CorrelationData", None) if r else None
    R.check("rpc config_get (MQTT 5): answer on the response topic with the correlation data, password masked",
            body.get("ok") and body["settings"].get("motion.sensitivity") == 70 and
            body["settings"].get("mqtt.password") == "********" and corr == b"corr-42", f"{body} {corr}")
    r = rpc(w, "config_set", {"settings": {"motion": {"sensitivity": 101}}})
    body = json.loads(r[2]) if r else {}
    R.check("rpc config_set out of range: ok false with the error per key",
            body.get("ok") is False and "motion.sensitivity" in body.get("errors", {}), str(body))
    r = rpc(w, "config_set", {"settings": {"motion.sensitivity": 60}}, v5=False)
    body = json.loads(r[2]) if r else {}
    R.check("rpc config_set (3.1.1 style, response_topic in the JSON): ok, changed, correlation echoed",
            body.get("ok") and body.get("changed") == ["motion.sensitivity"] and body.get("correlation") == "c311",
            str(body))
    mark = w.mark()
    r = rpc(w, "snapshot", {})
    body = json.loads(r[2]) if r else {}
    image = w.wait(lambda t, p: t == BASE + "/camera/snapshot/image", mark, 3)
    R.check("rpc snapshot: the picture on camera/snapshot/image and an answer with its size",
            body.get("ok") and image is not None and body.get("bytes") == len(image[2]), str(body))
    r = rpc(w, "reboot_now", {})
    body = json.loads(r[2]) if r else {}
    R.check("rpc unknown method: ok false naming the known ones", body.get("ok") is False and
            "config_get" in body.get("error", ""), str(body))


def check_telemetry(w):
    t = w.wait(lambda topic, p: topic == BASE + "/telemetry", w.mark(), 8)
    body = json.loads(t[2]) if t else {}
    R.check("telemetry: uptime, CPU, memory, streams with fps and bitrate, storage, MQTT counters",
            "uptime_s" in body and "memory_rss_bytes" in body and body.get("streams") and
            "bitrate_kbps" in body["streams"][0] and "free_bytes" in body.get("storage", {}) and
            body.get("mqtt", {}).get("commands", 0) >= 5, short(body))


def check_ha_restart(w):
    mark = w.mark()
    sent = time.time()
    w.publish("homeassistant/status", "online")
    got = w.wait(lambda t, p: t == "homeassistant/device/cam1/config" and p, mark, 8)
    R.check("homeassistant/status online: discovery is published again within 0-5 s (+1 s)",
            got is not None and got[0] - sent <= 6.5, "none" if got is None else f"{got[0] - sent:.1f} s")


def check_acl(w, api, token):
    """The documented ACL: a read-only user sees the device but its commands never reach it."""
    mark = w.mark()
    p = subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(w.port), "-u", "reader", "-P", "read", "-q", "1",
                        "-t", f"{BASE}/switch/privacy_mode/set", "-m", "ON"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    time.sleep(1.0)
    R.check("ACL: a read-only user's command is dropped by the broker; privacy stays off",
            api.config(token).get("privacy.enabled") is False and
            not w.all(lambda t, p: t == f"{BASE}/switch/privacy_mode/state" and p == b"ON", mark),
            p.stderr.decode()[-200:])
    sub = subprocess.run(["mosquitto_sub", "-h", HOST, "-p", str(w.port), "-u", "reader", "-P", "read",
                          "-t", BASE + "/status", "-C", "1", "-W", "3"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=10)
    R.check("ACL: the read-only user sees the device's status", sub.stdout.strip() == b"online", str(sub.stdout))


def check_broker_restart(daemon, broker, w, api, token):
    """Events while the broker is down arrive after it is back."""
    mark_log = daemon.mark()
    broker.stop()
    down_at = time.time()
    R.check("broker gone: the device logs mqtt.disconnected",
            daemon.wait_for(daemon.err, r"event=mqtt\.disconnected", since=mark_log, timeout=10),
            daemon.log_text(mark_log)[-500:])
    # Stay down for more than a box cycle so that motion events happen meanwhile.
    time.sleep(CYCLE + 3)
    failed = re.findall(r"event=mqtt\.connect_failed .*retry_in_ms=(\d+)", daemon.log_text(mark_log))
    R.check("while it is down the device retries with growing delays (backoff, logged)",
            len(failed) >= 2 and int(failed[-1]) > int(failed[0]), str(failed))
    r = api.call("GET", "/api/v1/events?limit=50", token=token)
    during = [e["id"] for e in r.json.get("events", [])
              if e["type"] in ("motion_start", "motion_end") and
              time.mktime(time.strptime(e["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone >= down_at]
    R.require("motion events happened while the broker was down", during, str(r.json)[:300])
    mark = w.mark()
    mark_log = daemon.mark()
    broker.start()
    R.check("broker back: the device reconnects",
            daemon.wait_for(daemon.err, r"event=mqtt\.connected", since=mark_log, timeout=70),
            daemon.log_text(mark_log)[-500:])
    wait_until(lambda: w.connected.is_set(), 15)
    got = wait_until(lambda: set(during) <= {json.loads(m[2]).get("id") for m in
                                             w.all(lambda t, p: t.startswith(BASE + "/event/"), mark)}, 15)
    seen = {json.loads(m[2]).get("id") for m in w.all(lambda t, p: t.startswith(BASE + "/event/"), mark)}
    R.check(f"the {len(during)} events from while the broker was down arrive after it is back", got,
            f"wanted {during}, got {sorted(seen)}")
    status = retained(broker.port, BASE + "/status")
    R.check("status is online again", status.get(BASE + "/status") == b"online", str(status))


def check_outbox_restart(binary, daemon, broker, w):
    """Events owed to a broker that is away survive a restart of the daemon (the outbox cursor + the history)."""
    mark_log = daemon.mark()
    broker.stop()
    R.require("broker gone again", daemon.wait_for(daemon.err, r"event=mqtt\.disconnected", since=mark_log,
                                                   timeout=10))
    owed = None
    deadline = time.monotonic() + 2 * CYCLE + 4
    while time.monotonic() < deadline and not owed:
        m = daemon.wait_for(daemon.err, r"event=event\.published type=motion_\w+ id=(\d+)", since=mark_log,
                            timeout=1)
        owed = int(m.group(1)) if m else None
    R.require("an event happens while the broker is away", owed, daemon.log_text(mark_log)[-400:])
    daemon.proc.send_signal(signal.SIGTERM)
    try:
        rc = daemon.proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    R.check("SIGTERM with events owed: a clean stop that keeps them (mqtt.outbox_kept persistent=true)",
            rc == 0 and re.search(r"event=mqtt\.outbox_kept .*persistent=true", daemon.log_text(mark_log)),
            f"exit {rc}: {daemon.log_text(mark_log)[-500:]}")
    daemon.stop()
    mark = w.mark()
    broker.start()
    wait_until(lambda: w.connected.is_set(), 15)
    again = Daemon(daemon.binary, daemon.state_dir, daemon.config)
    again.creds, again.api = daemon.creds, daemon.api
    again.start()
    R.require("the daemon starts again on the same state", again.wait_for(again.err, r"event=mqtt\.connected",
                                                                          timeout=15), again.log_text()[-600:])
    got = w.wait(lambda t, p: t.startswith(BASE + "/event/") and json.loads(p).get("id") == owed, mark, 10)
    R.check(f"after the restart the event owed from before (id {owed}) is published", got is not None,
            again.log_text()[-600:])
    return again


def check_entity_mode(daemon, broker, api, token):
    mark = daemon.mark()
    r = api.call("PATCH", "/api/v1/config", {"mqtt.discovery": "entity"}, token=token)
    R.check("PATCH mqtt.discovery = entity -> 200", r.status == 200, repr(r))
    R.check("the MQTT client restarts with the new setting",
            daemon.wait_for(daemon.err, r"event=mqtt\.connected", since=mark, timeout=10))
    time.sleep(1)
    check_discovery(broker, "entity")


def check_bad_settings(api, token):
    r = api.call("PATCH", "/api/v1/config", {"mqtt.url": "mqtt://user:pw@127.0.0.1"}, token=token)
    R.check("mqtt.url with credentials in it -> 400 saying where they belong",
            r.status == 400 and "username" in r.body.decode(), repr(r))
    r = api.call("PATCH", "/api/v1/config", {"mqtt.url": "http://127.0.0.1"}, token=token)
    R.check("mqtt.url with an unknown scheme -> 400", r.status == 400 and "mqtts://" in r.body.decode(), repr(r))
    r = api.call("PATCH", "/api/v1/config", {"mqtt.root": "a/+/b"}, token=token)
    R.check("mqtt.root with a wildcard -> 400", r.status == 400 and "wildcard" in r.body.decode(), repr(r))


def check_will(daemon, broker):
    mark = daemon.mark()
    sub = spawn(["mosquitto_sub", "-h", HOST, "-p", str(broker.port), "-u", "homeassistant", "-P", "watch",
                 "-t", BASE + "/status", "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.8)
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait(5)
    time.sleep(2)
    sub.terminate()
    out = sub.communicate(timeout=5)[0].decode()
    R.check("kill -9 of the daemon: mosquitto_sub sees the last will, status offline",
            out.strip().endswith(BASE + "/status offline"), out)
    _ = mark


def check_tls(binary, work, pki, broker, w):
    d_work = os.path.join(work, "tls-daemon")
    extra = f'ca_file = "{pki["other"]}"\n'
    daemon, api, token = start_daemon(binary, d_work, broker, extra)
    try:
        mark = daemon.mark()
        r = api.call("PATCH", "/api/v1/config", {"mqtt.url": f"mqtts://{HOST}:{broker.tls_port}"}, token=token)
        R.check("PATCH mqtt.url to the TLS listener -> 200", r.status == 200, repr(r))
        m = daemon.wait_for(daemon.err, r"event=mqtt\.connect_failed .*", since=mark, timeout=10)
        R.check("wrong CA: refused with a clear log line (certificate not trusted)",
                m and "TLS: certificate not trusted" in m.group(0), m.group(0) if m else daemon.log_text(mark)[-600:])
        R.check("wrong CA: never connected", "event=mqtt.connected" not in daemon.log_text(mark))
        mark = daemon.mark()
        r = api.call("PATCH", "/api/v1/config", {"mqtt.ca_file": pki["ca"],
                                                  "mqtt.fingerprint": "00" * 32}, token=token)
        m = daemon.wait_for(daemon.err, r"event=mqtt\.connect_failed .*", since=mark, timeout=10)
        R.check("right CA but another pinned fingerprint: refused, naming mqtt.fingerprint",
                m and "mqtt.fingerprint" in m.group(0), m.group(0) if m else daemon.log_text(mark)[-600:])
        mark = daemon.mark()
        r = api.call("PATCH", "/api/v1/config", {"mqtt.fingerprint": pki["fingerprint"]}, token=token)
        R.check("right CA and the broker's fingerprint: connected over TLS",
                daemon.wait_for(daemon.err, r"event=mqtt\.connected .*tls=true", since=mark, timeout=15),
                daemon.log_text(mark)[-600:])
        got = wait_until(lambda: retained(broker.port, BASE + "/status").get(BASE + "/status") == b"online", 5)
        R.check("over TLS the device publishes status online", got)
        mark = daemon.mark()
        seen = w.mark()
        r = api.call("PATCH", "/api/v1/config", {"mqtt.url": f"mqtts://{HOST}:{broker.mtls_port}",
                                                  "mqtt.fingerprint": "", "mqtt.username": "", "mqtt.password": "",
                                                  "mqtt.cert_file": pki["client_cert"],
                                                  "mqtt.key_file": pki["client_key"]}, token=token)
        R.check("a listener that wants client certificates: the device logs in with its certificate (CN = cam1)",
                r.status == 200 and daemon.wait_for(daemon.err, r"event=mqtt\.connected .*tls=true", since=mark,
                                                     timeout=15), f"{r!r} {daemon.log_text(mark)[-600:]}")
        # The device subscribes before it publishes "online": once that is seen, a command reaches it.
        R.check("it announces itself online over that connection",
                w.wait(lambda t, p: t == BASE + "/status" and p == b"online", seen, 10) is not None)
        w.publish(f"{BASE}/button/restart/set", "PRESS")
        try:
            rc = daemon.proc.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        R.check("button restart PRESS: the daemon stops cleanly with status 75 (its systemd unit restarts it)",
                rc == 75, f"exit {rc}")
        # The broker may read the daemon's last packets after a new connection's subscription: poll briefly.
        status = {}

        def offline():
            status.update(retained(broker.port, BASE + "/status"))
            return status.get(BASE + "/status") == b"offline"

        R.check("a clean stop publishes status offline", wait_until(offline, 5), str(status))
    finally:
        daemon.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/bin/freeholdd")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    for tool in ("mosquitto", "mosquitto_sub", "mosquitto_passwd", "openssl"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"FAIL  {tool} is not installed (scripts/deps.sh installs it)")
            return 1
    os.environ["PATH"] += os.pathsep + "/usr/sbin"
    work = tempfile.mkdtemp(prefix="freehold-mqtt-")
    broker = daemon = w = None
    t0 = time.monotonic()
    try:
        pki = make_pki(work)
        broker = Broker(work, tls=pki)
        broker.start()
        # Refused by the command line: credentials in a bad URL are never half-applied.
        p = subprocess.run([binary, "--mqtt", "mqtt://host:99999", "--state-dir", os.path.join(work, "x")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        R.check("--mqtt with a bad port: exit 2 and the reason", p.returncode == 2 and b"port" in p.stderr,
                p.stderr.decode()[-300:])
        w = Watcher(broker.port, [BASE + "/#", "homeassistant/#"])
        daemon, api, token = start_daemon(binary, os.path.join(work, "d1"), broker)
        mark = w.mark()
        check_connection_and_states(daemon, broker, 0)
        check_discovery(broker, "device")
        check_events(w, mark)
        check_commands(daemon, w, api, token)
        check_rpc(w)
        check_telemetry(w)
        check_ha_restart(w)
        check_acl(w, api, token)
        check_bad_settings(api, token)
        check_broker_restart(daemon, broker, w, api, token)
        daemon = check_outbox_restart(binary, daemon, broker, w)
        r = daemon.api.login(*daemon.creds)
        R.require("log in again after the restart", r.status in (200, 201), repr(r))
        token = r.json["token"]
        check_entity_mode(daemon, broker, api, token)
        check_will(daemon, broker)
        daemon.stop()
        daemon = None
        check_tls(binary, work, pki, broker, w)
    except Abort:
        pass
    except Exception as e:  # a bug in the test or an unexpected answer: report it, do not hide it
        R.check("the test ran to its end", False, f"{type(e).__name__}: {e}")
    finally:
        if w:
            w.close()
        if daemon:
            if R.failed:
                print(short(daemon.log_text(), 4000))
            daemon.stop()
        if broker:
            broker.stop()
        kill_children()
        shutil.rmtree(work, ignore_errors=True)
    print(f"({time.monotonic() - t0:.0f} s)")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
