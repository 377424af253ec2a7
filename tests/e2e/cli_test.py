#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""freeholdd's command line as a user meets it: --help, --version, mistakes, and the demo banner."""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok    " if ok else "FAIL  ") + name + ("" if ok else f"\n      {detail}"), flush=True)


def run(binary, *args, timeout=10):
    return subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, text=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    binary = os.path.abspath(ap.parse_args().bin)
    work = tempfile.mkdtemp(prefix="freehold-cli-")
    try:
        p = run(binary, "--help")
        check("--help exits 0 and lists every option", p.returncode == 0 and all(
            o in p.stdout for o in ("--config", "--state-dir", "--demo", "--check-config", "--version")), p.stdout)
        p = run(binary, "--version")
        check("--version prints 'freeholdd X.Y.Z'", p.returncode == 0 and re.match(r"freeholdd \d+\.\d+\.\d+", p.stdout),
              p.stdout)
        p = run(binary, "--frobnicate")
        check("an unknown option exits 2 and names it", p.returncode == 2 and "--frobnicate" in p.stderr, p.stderr)
        for opt in ("--config", "--state-dir", "--check-config"):
            p = run(binary, "--state-dir", os.path.join(work, "never"), opt) if opt != "--state-dir" else run(binary, opt)
            check(f"{opt} without a value exits 2 and says so", p.returncode == 2 and "needs a value" in p.stderr,
                  f"exit {p.returncode}: {p.stderr}")
        p = run(binary, "--config", os.path.join(work, "missing.toml"), "--state-dir", os.path.join(work, "s1"))
        check("a --config file that does not exist exits 2 naming it",
              p.returncode == 2 and "missing.toml: no such file" in p.stderr, p.stderr)
        p = run(binary, "--help-config")
        check("--help-config lists settings with defaults and ranges",
              p.returncode == 0 and "stream.main.fps = 25  # 1..60 fps" in p.stdout, p.stdout[:300])

        # The demo: a random admin password printed once, as "username: X" / "password: Y".
        cfg = os.path.join(work, "demo.toml")
        with open(cfg, "w") as f:
            f.write(f'[http]\nbind = "127.0.0.1"\nhttps_port = {free_port()}\n[rtsp]\nport = {free_port()}\ntls_port = {free_port()}\n')
        passwords = []
        for i in range(2):
            d = subprocess.Popen([binary, "--demo", "--config", cfg, "--state-dir", os.path.join(work, f"demo{i}")],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            out, deadline = "", time.time() + 10
            while "Press Ctrl-C" not in out and time.time() < deadline and d.poll() is None:
                out += d.stdout.readline()
            d.send_signal(signal.SIGTERM)
            rc = d.wait(timeout=5)
            m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", out)
            check(f"demo run {i + 1} prints 'username: admin' and a password, then stops with exit 0",
                  m is not None and m.group(1) == "admin" and len(m.group(2)) >= 10 and rc == 0, f"exit {rc}: {out}")
            if m:
                passwords.append(m.group(2))
        check("each demo gets a different random password (never a fixed default)",
              len(passwords) == 2 and passwords[0] != passwords[1], str(passwords))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
