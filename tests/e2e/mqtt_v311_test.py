#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of the MQTT 3.1.1 fallback against a real broker that speaks only 3.1.1: Debian's RabbitMQ 3.10
with its MQTT plugin, started by the test on loopback. freeholdd tries MQTT 5, falls back, and then works as
usual for an MQTT 3.1.1 client (paho-mqtt): status, retained states, a command, an RPC answered on the
response topic named in the request, and the last will.

    /usr/bin/python3 tests/e2e/mqtt_v311_test.py --bin build/bin/freeholdd
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as paho

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Abort, Daemon, Report, free_port, kill_children, reap, wait_until  # noqa: E402
from mqtt_common import Recorder  # noqa: E402

HOST = "127.0.0.1"
R = Report()
BASE = "freehold/cam311"
RABBIT = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def listening(port):
    try:
        socket.create_connection((HOST, port), timeout=0.5).close()
        return True
    except OSError:
        return False


class Rabbit:
    """A private RabbitMQ node: its own directories, cookie, node name and ports, all on loopback."""

    def __init__(self, work):
        self.work = work
        self.port = free_port()
        ports = [free_port() for _ in range(3)]
        self.amqp, self.dist, self.epmd = ports
        with open(os.path.join(work, "rabbitmq.conf"), "w") as f:
            f.write(f"listeners.tcp.default = {HOST}:{self.amqp}\nmqtt.listeners.tcp.default = {HOST}:{self.port}\n"
                    "mqtt.allow_anonymous = true\nloopback_users = none\n")
        with open(os.path.join(work, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        self.env = dict(os.environ, HOME=work, RABBITMQ_CONFIG_FILE=os.path.join(work, "rabbitmq.conf"),
                        RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(work, "enabled_plugins"),
                        RABBITMQ_MNESIA_BASE=os.path.join(work, "mnesia"), RABBITMQ_LOG_BASE=os.path.join(work, "log"),
                        RABBITMQ_PID_FILE=os.path.join(work, "pid"), RABBITMQ_NODENAME=f"fh{self.port}@localhost",
                        RABBITMQ_DIST_PORT=str(self.dist), ERL_EPMD_ADDRESS=HOST, ERL_EPMD_PORT=str(self.epmd),
                        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
        self.proc = None
        self.log = os.path.join(work, "rabbitmq.out")

    def start(self):
        # Its own process group, so that the Erlang VM and epmd go with it.
        self.proc = subprocess.Popen([RABBIT], env=self.env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        ok = wait_until(lambda: listening(self.port) or self.proc.poll() is not None, 120, step=0.5)
        R.require("RabbitMQ 3.10 with its MQTT plugin (MQTT 3.1.1 only) starts on loopback",
                  ok and self.proc.poll() is None, self.text()[-800:])

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and listening(self.port)

    def report(self):
        """What the broker said: its console and the end of its own log, for a failure's report."""
        state = "running" if self.proc and self.proc.poll() is None else f"exited ({self.proc and self.proc.returncode})"
        print(f"--- RabbitMQ ({state}) console:\n{self.text()[-1500:]}")
        logs = os.path.join(self.work, "log")
        for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            with open(os.path.join(logs, name), errors="replace") as f:
                print(f"--- RabbitMQ {name}:\n{f.read()[-3000:]}")

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reap(self.proc)
        # epmd daemonises out of the group: find ours by the port in its environment.
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm in ("epmd", "beam.smp") and f"ERL_EPMD_PORT={self.epmd}".encode() in env:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass


class Client311(Recorder):
    # RabbitMQ sends retained messages only to subscriptions without wildcards: these topics are named.
    RETAINED = ["/status", "/info", "/switch/privacy_mode/state"]

    def __init__(self, port, client_id="watcher311"):
        super().__init__()
        self.c = paho.Client(client_id=client_id, protocol=paho.MQTTv311, clean_session=True)
        self.c.on_message = self.on_message
        self.connected = threading.Event()
        self.c.on_connect = lambda *a: (self.c.subscribe([(BASE + t, 1) for t in self.RETAINED]),
                                        self.c.subscribe(BASE + "/#", qos=1), self.connected.set())
        self.c.connect(HOST, port, keepalive=10)
        self.c.loop_start()
        R.require("paho-mqtt connects with MQTT 3.1.1", self.connected.wait(10))

    def publish(self, topic, payload):
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def scenario(args):
    """One run against a fresh broker; returns whether the broker was still alive at its end."""
    work = tempfile.mkdtemp(prefix="freehold-mqtt311-")
    rabbit = daemon = client = None
    t0 = time.monotonic()
    try:
        rabbit = Rabbit(work)
        rabbit.start()
        ports = {k: free_port() for k in ("https", "rtsp", "rtsps")}
        config = os.path.join(work, "freehold.toml")
        with open(config, "w") as f:
            f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {ports["https"]}\n[rtsp]\nport = {ports["rtsp"]}\n'
                    f'tls_port = {ports["rtsps"]}\n[onvif]\nenabled = false\n[stream.sub]\nenabled = false\n'
                    f'[mqtt]\nurl = "mqtt://{HOST}:{rabbit.port}"\ndevice_id = "cam311"\n')
        daemon = Daemon(os.path.abspath(args.bin), os.path.join(work, "state"), config)
        daemon.start()
        m = daemon.wait_for(daemon.err, r"event=mqtt\.protocol_fallback .*", timeout=20)
        R.check("MQTT 5 refused by the broker: the device falls back to 3.1.1 (logged with the reason)", m,
                daemon.log_text()[-800:])
        R.require("and connects with MQTT 3.1.1",
                  daemon.wait_for(daemon.err, r"event=mqtt\.connected .*protocol=3\.1\.1", timeout=20),
                  daemon.log_text()[-800:])
        client = Client311(rabbit.port)
        # Live or retained: RabbitMQ stores retained messages asynchronously, so a subscriber that arrives
        # just after the device's publish may get it live. The retained copy is checked by a late subscriber.
        status = client.wait(lambda t, p: t == BASE + "/status", 0, 15)
        R.check("a 3.1.1 client sees status online", status and status[2] == b"online", str(status))
        info = client.wait(lambda t, p: t == BASE + "/info", 0, 15)
        R.check("info says mqtt_protocol 3.1.1", info and json.loads(info[2]).get("mqtt_protocol") == "3.1.1",
                str(info))
        state = client.wait(lambda t, p: t == BASE + "/switch/privacy_mode/state", 0, 15)
        R.check("states are retained there too (privacy_mode OFF)", state and state[2] == b"OFF", str(state))
        mark = client.mark()
        client.publish(BASE + "/switch/privacy_mode/set", "ON")
        on = client.wait(lambda t, p: t == BASE + "/switch/privacy_mode/state" and p == b"ON", mark, 15)
        R.check("a command over 3.1.1: privacy_mode ON is applied and echoed", on is not None,
                str([m[1:3] for m in client.all(lambda t, p: True, mark)][-10:]))
        mark = client.mark()
        client.publish(BASE + "/rpc/config_get", json.dumps({"keys": ["privacy.enabled"],
                                                             "response_topic": BASE + "/rpc/response/t",
                                                             "correlation": 7}))
        answer = client.wait(lambda t, p: t == BASE + "/rpc/response/t", mark, 15)
        body = json.loads(answer[2]) if answer else {}
        R.check("RPC over 3.1.1: answered on the response_topic of the JSON, correlation echoed",
                body.get("ok") and body.get("settings", {}).get("privacy.enabled") is True and
                body.get("correlation") == 7, str(body))
        late = Client311(rabbit.port, "late311")
        try:
            kept = late.wait(lambda t, p: t == BASE + "/status", 0, 15)
        finally:
            late.close()
        R.check("a client arriving later gets status online retained", kept and kept[2] == b"online" and kept[3],
                str(kept))
        mark = client.mark()
        os.kill(daemon.proc.pid, signal.SIGKILL)
        will = client.wait(lambda t, p: t == BASE + "/status" and p == b"offline", mark, 20)
        R.check("kill -9: the broker publishes the last will, offline", will is not None,
                str([m[1:3] for m in client.all(lambda t, p: t == BASE + "/status", mark)]))
    except Abort:
        pass
    except Exception as e:
        R.check("the test ran to its end", False, f"{type(e).__name__}: {e}")
    finally:
        if client:
            client.close()
        if daemon:
            if R.failed:
                print(daemon.log_text()[-3000:])
            daemon.stop()
        alive = rabbit is not None and rabbit.alive()
        if rabbit:
            if R.failed:
                rabbit.report()
            rabbit.stop()
        kill_children()
        shutil.rmtree(work, ignore_errors=True)
    print(f"({time.monotonic() - t0:.0f} s)")
    return alive


def main():
    global R
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/bin/freeholdd")
    args = ap.parse_args()
    if not os.path.exists(RABBIT):
        print("FAIL  rabbitmq-server is not installed (scripts/deps.sh test installs it)")
        return 1
    if not scenario(args) and R.failed:
        # The peer, not the device: an Erlang node that dies under a loaded CI machine (its log is printed
        # above) says nothing about Freehold. Once more with a fresh node; a second failure counts.
        print("NOTE  the RabbitMQ node died during the run (its log above): once more with a fresh node", flush=True)
        R = Report()
        scenario(args)
    return R.summary()



if __name__ == "__main__":
    sys.exit(main())
