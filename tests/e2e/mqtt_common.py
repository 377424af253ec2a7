# SPDX-License-Identifier: GPL-3.0-or-later
"""What the MQTT end-to-end tests share: a record of the messages a paho-mqtt client received, to wait on."""
import threading
import time


class Recorder:
    """Messages as (arrival time, topic, payload bytes, retain flag, MQTT 5 properties or None), in arrival order.
    Give on_message to a paho client; it runs on paho's thread."""

    def __init__(self):
        self.messages = []
        self.cond = threading.Condition()

    def on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append((time.time(), msg.topic, msg.payload, msg.retain, getattr(msg, "properties", None)))
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.messages)

    def wait(self, pred, since=0, timeout=10):
        """The first message at index >= since for which pred(topic, payload) holds, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.messages):
                    m = self.messages[i]
                    if pred(m[1], m[2]):
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def index(self, message):
        """Where a message `wait` returned stands in the record (to wait for what comes after it)."""
        with self.cond:
            return self.messages.index(message)

    def all(self, pred, since=0):
        with self.cond:
            return [m for m in self.messages[since:] if pred(m[1], m[2])]
