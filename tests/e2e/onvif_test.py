#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end test of freeholdd's ONVIF services (Profile S with Media2), with real clients.

Starts the real daemon in demo mode on loopback with the plain-HTTP listener on, then:
  1. proves the XSD validator rejects a wrong answer (onvif_validate.py), and cross-checks it with xmllint;
  2. raw SOAP over plain HTTP and HTTPS (standard library): the pre-auth set with no, wrong and stale tokens;
     401 + Digest challenge without credentials; wrong password, replayed nonce, Created 10 minutes old -> HTTP 400
     with env:Sender/ter:NotAuthorized; Created 3 minutes off and every Created form clients send accepted;
     PasswordText refused on plain HTTP and accepted over HTTPS; HTTP Digest accepted; oversize body, malformed
     XML, unknown operation, dispatch on the body element whatever the path;
  3. every operation the issue lists, each answer checked against the ONVIF schemas;
  4. events: a pull point receives MotionAlarm true then false (motion from a config switch if the daemon has
     one, else from the synthetic source's moving box);
  5. the npm `onvif` client (agsh) — connect, profiles, stream/snapshot URIs, a pull loop getting a motion start
     and end, PTZ — with the client's clock right and 3 minutes off;
  6. Debian's python3-zeep in Home Assistant's call order (onvif_zeep.py, run with /usr/bin/python3);
  7. ffprobe plays the GetStreamUri URI; the GetSnapshotUri URI gives a JPEG with HTTP Digest;
  8. SystemReboot ends the daemon cleanly (last: the supervisor would restart it).
Every SOAP answer in the test, the clients' included, is validated against the ONVIF XSDs. Prints one line per
check and "N passed, M failed". Needs python3-lxml and python3-zeep, libxml2-utils, nodejs and npm, ffmpeg.

    /usr/bin/python3 tests/e2e/onvif_test.py --bin build/release/bin/freeholdd
"""

import argparse
import base64
import datetime
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET

from common import HOST, Daemon, Report, free_port, kill_children, short, spawn, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
IO_TIMEOUT = 10.0
MOTION_SECONDS = 40  # how long a pull loop waits for a motion start and end
STREAMS = {"main": {"width": 640, "height": 360, "fps": 15, "gop": 15},
           "sub": {"width": 320, "height": 240, "fps": 10, "gop": 10}}
MAX_BODY_BYTES = 65536

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "ter": "http://www.onvif.org/ver10/error",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tr2": "http://www.onvif.org/ver20/media/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "timg": "http://www.onvif.org/ver20/imaging/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tmd": "http://www.onvif.org/ver10/deviceIO/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
PW_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
PW_TEXT = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText")
SERVICE_PATHS = {"tds": "/onvif/device_service", "trt": "/onvif/media_service", "tr2": "/onvif/media2_service",
                 "tev": "/onvif/events_service", "timg": "/onvif/imaging_service", "tptz": "/onvif/ptz_service",
                 "tmd": "/onvif/deviceio_service"}

R = Report()
TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE
validate_body = None  # onvif_validate.validate_body once imported (it needs lxml)


# ---------------------------------------------------------------------------------------------------------------
# SOAP over HTTP


def utc_stamp(offset_s=0.0, form="Z"):
    """A WS-Security Created value `offset_s` from now, in one of the forms clients send."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{t.microsecond:06d}"
    return {"Z": base + "Z", ".123Z": base + "." + frac[:3] + "Z", ".1234567Z": base + "." + frac + "1Z",
            "+00:00": base + "+00:00", ".5+00:00": base + "." + frac[:1] + "+00:00"}[form]


def wsse_header(user, password, created=None, nonce=None, digest=True):
    """A UsernameToken header; returns (xml, nonce) so that a test can replay the nonce."""
    nonce = nonce if nonce is not None else os.urandom(16)
    created = created or utc_stamp()
    if digest:
        pw = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
        ptype = PW_DIGEST
    else:
        pw, ptype = password, PW_TEXT
    xml = (f'<wsse:Security xmlns:wsse="{NS["wsse"]}" xmlns:wsu="{NS["wsu"]}" env:mustUnderstand="true">'
           f"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>"
           f'<wsse:Password Type="{ptype}">{pw}</wsse:Password>'
           f'<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security'
           f'-1.0#Base64Binary">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
           f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>")
    return xml, nonce


def envelope(body, header=""):
    decl = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items() if p not in ("wsse", "wsu"))
    return (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope {decl}>'
            + (f"<env:Header>{header}</env:Header>" if header else "") + f"<env:Body>{body}</env:Body></env:Envelope>")


class Conn:
    """One keep-alive HTTP(S) connection to the daemon."""

    def __init__(self, port, tls=False):
        self.port, self.tls = port, tls
        self.c = None

    def post(self, path, data, headers=None):
        h = {"Content-Type": 'application/soap+xml; charset=utf-8'}
        h.update(headers or {})
        for attempt in (0, 1):
            if self.c is None:
                self.c = (http.client.HTTPSConnection(HOST, self.port, context=TLS, timeout=IO_TIMEOUT) if self.tls
                          else http.client.HTTPConnection(HOST, self.port, timeout=IO_TIMEOUT))
            try:
                self.c.request("POST", path, body=data, headers=h)
                r = self.c.getresponse()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


class Onvif:
    """Raw SOAP calls as a given user, over plain HTTP (or HTTPS)."""

    def __init__(self, port, user, password, tls=False):
        self.port, self.user, self.password, self.tls = port, user, password, tls
        self.conn = Conn(port, tls)

    def call(self, op, inner="", prefix=None, path=None, auth=True, header=None, headers=None):
        """Sends <prefix:op>inner</prefix:op>; returns (status, headers, body bytes)."""
        prefix = prefix or op_prefix(op)
        path = path or SERVICE_PATHS[prefix]
        if header is None:
            header = wsse_header(self.user, self.password)[0] if auth else ""
        body = f"<{prefix}:{op}>{inner}</{prefix}:{op}>"
        return self.conn.post(path, envelope(body, header).encode(), headers)


def op_prefix(op):
    return "tds"


def parse(body):
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        return None


def body_child(body):
    """(namespace, local name) of the first Body child, or None."""
    root = parse(body)
    if root is None:
        return None
    b = root.find("env:Body", NS)
    if b is None or len(b) == 0:
        return None
    m = re.match(r"\{(.*)\}(.*)", b[0].tag)
    return (m.group(1), m.group(2)) if m else (None, b[0].tag)


def fault(body):
    """(code, subcodes, reason) of a SOAP fault answer, or None."""
    root = parse(body)
    f = root.find("env:Body/env:Fault", NS) if root is not None else None
    if f is None:
        return None
    code = (f.findtext("env:Code/env:Value", "", NS) or "").strip()
    subs, s = [], f.find("env:Code/env:Subcode", NS)
    while s is not None:
        subs.append((s.findtext("env:Value", "", NS) or "").strip())
        s = s.find("env:Subcode", NS)
    return code, subs, (f.findtext("env:Reason/env:Text", "", NS) or "").strip()


def qname_local(q):
    return q.split(":", 1)[-1]


def is_fault(body, code, sub=None):
    f = fault(body)
    return (f is not None and qname_local(f[0]) == code
            and (sub is None or any(qname_local(s) == sub for s in f[1])))


def invalid(body):
    """The XSD problems of an answer ([] when valid)."""
    try:
        return validate_body(body)
    except Exception as e:  # a broken validator must fail the check, not the test run
        return [f"validator error: {e}"]


def answered(status, body, ns, name):
    """An HTTP 200 answer whose Body is ns:name and that validates; returns (ok, detail)."""
    child = body_child(body)
    problems = invalid(body) if body else ["empty body"]
    ok = status == 200 and child == (NS[ns], name) and not problems
    f = fault(body) if body else None
    detail = f"HTTP {status}, body {child}" + (f", fault {f}" if f else "") + (
        f", XSD: {short(problems, 400)}" if problems else "")
    return ok, detail


def check_answer(name, result, ns, op):
    status, _, body = result
    ok, detail = answered(status, body, ns, op + "Response")
    return R.check(name, ok, detail)


def check_fault(name, result, http_status, code, sub):
    """A SOAP fault code/subcode that validates, with HTTP status http_status (an int or a tuple of them)."""
    status, _, body = result
    problems = invalid(body) if body else ["empty body"]
    statuses = http_status if isinstance(http_status, tuple) else (http_status,)
    ok = status in statuses and is_fault(body, code, sub) and not problems
    return R.check(name, ok, f"HTTP {status}, fault {fault(body) if body else None}, XSD: {short(problems, 300)}"
                   if not ok else "")


# ---------------------------------------------------------------------------------------------------------------
# HTTP Digest (RFC 7616, MD5), for the Digest checks and the snapshot


def digest_header(challenge, method, uri, user, password):
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.split(" ", 1)[1]))
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in params.get("qop", "").split(","):
        nc, cnonce = "00000001", uuid.uuid4().hex[:16]
        resp = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        resp = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    fields.append(f'response="{resp}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    if "algorithm" in params:
        fields.append(f"algorithm={params['algorithm']}")
    return "Digest " + ", ".join(fields)


def http_get_digest(url, user, password):
    """GET with Digest auth (one challenge round); returns (status, content type, body)."""
    m = re.match(r"(https?)://([^/:]+)(?::(\d+))?(/.*)?$", url)
    if not m:
        return None, None, b"bad url " + url.encode()
    scheme, host, port, path = m.group(1), m.group(2), int(m.group(3) or (443 if m.group(1) == "https" else 80)), \
        m.group(4) or "/"
    mk = (lambda: http.client.HTTPSConnection(host, port, context=TLS, timeout=IO_TIMEOUT)) if scheme == "https" \
        else (lambda: http.client.HTTPConnection(host, port, timeout=IO_TIMEOUT))
    c = mk()
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        if r.status != 401:
            return r.status, r.getheader("Content-Type"), body
        challenge = next((v for k, v in r.getheaders() if k.lower() == "www-authenticate"
                          and v.lower().startswith("digest")), None)
        if challenge is None:
            return 401, None, b"no Digest challenge"
        c.request("GET", path, headers={"Authorization": digest_header(challenge, "GET", path, user, password)})
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------------------------
# 1. The validator itself


GOOD_TIME = ('<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType>'
             "<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time><tt:Hour>1</tt:Hour>"
             "<tt:Minute>2</tt:Minute><tt:Second>3</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year>"
             "<tt:Month>1</tt:Month><tt:Day>2</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>"
             "</tds:GetSystemDateAndTimeResponse>")


def check_validator(work, sample):
    import onvif_validate
    good = envelope(GOOD_TIME).encode()
    R.check("validator: a correct GetSystemDateAndTimeResponse validates", not invalid(good), short(invalid(good)))
    bad = envelope(GOOD_TIME.replace("<tt:Hour>1</tt:Hour>", "")).encode()
    R.check("validator: the same answer without its required tt:Hour is rejected", invalid(bad))
    wrong_type = envelope(GOOD_TIME.replace("<tt:Hour>1</tt:Hour>", "<tt:Hour>one</tt:Hour>")).encode()
    R.check("validator: a non-integer tt:Hour is rejected", invalid(wrong_type))
    unknown = envelope("<tds:GetSystemDateAndTimeAnswer/>").encode()
    R.check("validator: a Body element no schema declares is rejected", invalid(unknown))
    nofault = envelope('<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code></env:Fault>').encode()
    R.check("validator: a fault without env:Reason is rejected", invalid(nofault))
    if sample:
        path = os.path.join(work, "sample.xml")
        with open(path, "wb") as f:
            f.write(sample)
        ok, msg = onvif_validate.xmllint_validate(path)
        R.check("xmllint --nonet with the local catalog validates a real GetSystemDateAndTime answer", ok,
                short(msg, 600))
        with open(path, "wb") as f:
            f.write(bad)
        ok, msg = onvif_validate.xmllint_validate(path)
        R.check("xmllint with the catalog rejects the answer missing tt:Hour", not ok, short(msg, 300))


# ---------------------------------------------------------------------------------------------------------------
# 2. Authentication and robustness, raw


PRE_AUTH = ["GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetServiceCapabilities", "GetWsdlUrl",
            "GetHostname", "GetEndpointReference"]
PRE_AUTH_ARGS = {"GetServices": "<tds:IncludeCapability>true</tds:IncludeCapability>",
                 "GetCapabilities": "<tds:Category>All</tds:Category>"}


def check_pre_auth(c):
    for op in PRE_AUTH:
        args = PRE_AUTH_ARGS.get(op, "")
        check_answer(f"pre-auth {op} without a token: answered, valid", c.call(op, args, auth=False), "tds", op)
        wrong = wsse_header(c.user, "not-the-password")[0]
        check_answer(f"pre-auth {op} with a wrong password: answered", c.call(op, args, header=wrong), "tds", op)
        stale = wsse_header(c.user, c.password, created=utc_stamp(-3600))[0]
        check_answer(f"pre-auth {op} with a token an hour old: answered", c.call(op, args, header=stale), "tds", op)


def check_auth(c, https_port):
    status, headers, body = c.call("GetDeviceInformation", auth=False)
    challenge = headers.get("www-authenticate", "")
    R.check("GetDeviceInformation without credentials: HTTP 401 with a Digest challenge (valid fault body if any)",
            status == 401 and challenge.lower().startswith("digest") and (not body or not invalid(body)),
            f"HTTP {status}, WWW-Authenticate {challenge!r}, XSD {short(invalid(body)) if body else None}")
    check_answer("GetDeviceInformation with a WS-Security digest: answered, valid", c.call("GetDeviceInformation"),
                 "tds", "GetDeviceInformation")
    wrong = wsse_header(c.user, "not-the-password")[0]
    check_fault("a wrong password (digest): HTTP 400, env:Sender/ter:NotAuthorized",
                c.call("GetDeviceInformation", header=wrong), 400, "Sender", "NotAuthorized")
    unknown = wsse_header("nobody-here", c.password)[0]
    check_fault("an unknown user: HTTP 400, ter:NotAuthorized", c.call("GetDeviceInformation", header=unknown),
                400, "Sender", "NotAuthorized")
    token, nonce = wsse_header(c.user, c.password)
    first = c.call("GetDeviceInformation", header=token)
    again = c.call("GetDeviceInformation", header=token)
    R.check("a token used once is accepted", first[0] == 200, f"HTTP {first[0]}")
    check_fault("the same nonce replayed: HTTP 400, ter:NotAuthorized", again, 400, "Sender", "NotAuthorized")
    old = wsse_header(c.user, c.password, created=utc_stamp(-600))[0]
    check_fault("Created 10 minutes old: HTTP 400, ter:NotAuthorized", c.call("GetDeviceInformation", header=old),
                400, "Sender", "NotAuthorized")
    future = wsse_header(c.user, c.password, created=utc_stamp(+600))[0]
    check_fault("Created 10 minutes ahead: HTTP 400, ter:NotAuthorized",
                c.call("GetDeviceInformation", header=future), 400, "Sender", "NotAuthorized")
    for off in (-180, +180):
        t = wsse_header(c.user, c.password, created=utc_stamp(off))[0]
        check_answer(f"Created {off:+d} s off (client clock skew within 5 min): accepted",
                     c.call("GetDeviceInformation", header=t), "tds", "GetDeviceInformation")
    for form in ("Z", ".123Z", ".1234567Z", "+00:00", ".5+00:00"):
        t = wsse_header(c.user, c.password, created=utc_stamp(0, form))[0]
        check_answer(f"Created in the form ...{form} ({utc_stamp(0, form)}): accepted",
                     c.call("GetDeviceInformation", header=t), "tds", "GetDeviceInformation")
    text = wsse_header(c.user, c.password, digest=False)[0]
    check_fault("PasswordText over plain HTTP: refused (HTTP 400, ter:NotAuthorized)",
                c.call("GetDeviceInformation", header=text), 400, "Sender", "NotAuthorized")
    s = Onvif(https_port, c.user, c.password, tls=True)
    text = wsse_header(c.user, c.password, digest=False)[0]
    check_answer("PasswordText over HTTPS: accepted", s.call("GetDeviceInformation", header=text), "tds",
                 "GetDeviceInformation")
    check_answer("a WS-Security digest over HTTPS: accepted", s.call("GetDeviceInformation"), "tds",
                 "GetDeviceInformation")
    s.conn.close()
    # HTTP Digest: the client answers the 401 challenge, as clients that do not speak WS-Security do.
    data = envelope("<tds:GetDeviceInformation/>").encode()
    conn = Conn(c.port)
    status, headers, _ = conn.post("/onvif/device_service", data)
    challenge = headers.get("www-authenticate", "")
    result = (status, headers, b"")
    if challenge.lower().startswith("digest"):
        result = conn.post("/onvif/device_service", data, {"Authorization": digest_header(
            challenge, "POST", "/onvif/device_service", c.user, c.password)})
    check_answer("HTTP Digest (answering the 401 challenge): accepted", result, "tds", "GetDeviceInformation")
    if challenge.lower().startswith("digest"):
        result = conn.post("/onvif/device_service", data, {"Authorization": digest_header(
            challenge, "POST", "/onvif/device_service", c.user, "not-the-password")})
        R.check("HTTP Digest with a wrong password: refused (400 NotAuthorized or 401)",
                result[0] in (400, 401) and (not result[2] or not invalid(result[2])), f"HTTP {result[0]}")
    conn.close()


def check_robustness(c, daemon):
    big = ("<tds:SetScopes>" + "<tds:Scopes>onvif://www.onvif.org/name/" + "x" * 1000 + "</tds:Scopes>" * 1
           + "</tds:SetScopes>")
    pad = "<!--" + "p" * (4 * MAX_BODY_BYTES) + "-->"
    data = envelope(big + pad, wsse_header(c.user, c.password)[0]).encode()
    try:
        status, _, body = Conn(c.port).post("/onvif/device_service", data)
    except OSError as e:
        status, body = f"connection error {e}", b""
    R.check(f"a {len(data) // 1024} KiB body: HTTP 413 or a SOAP fault, and the daemon lives",
            (status == 413 or (isinstance(status, int) and 400 <= status < 500 and (not body or fault(body))))
            and daemon.running(), f"HTTP {status}, {short(body)}")
    conn = Conn(c.port)
    status, _, body = conn.post("/onvif/device_service", b"<env:Envelope xmlns:env='" + NS["env"].encode()
                                + b"'><env:Body><tds:GetHostname></env:Body>")
    R.check("malformed XML: HTTP 400 (or 500) with an env:Sender fault that validates",
            status in (400, 500) and is_fault(body, "Sender") and not invalid(body),
            f"HTTP {status}, fault {fault(body) if body else None}, XSD {short(invalid(body)) if body else None}")
    status, _, body = conn.post("/onvif/device_service", b"\x00\xff garbage")
    R.check("binary garbage: a 4xx answer, daemon alive", isinstance(status, int) and 400 <= status < 500
            and daemon.running(), f"HTTP {status}")
    status, _, body = conn.post("/onvif/device_service", envelope("").encode())
    R.check("an empty env:Body: env:Sender fault", status in (400, 500) and is_fault(body, "Sender"),
            f"HTTP {status}, {fault(body) if body else None}")
    # SOAP 1.2's HTTP binding: a Receiver fault is HTTP 500 (some servers send 400).
    check_fault("an unknown operation (tds:GetFluxCapacitor): env:Receiver/ter:ActionNotSupported",
                c.call("GetFluxCapacitor"), (400, 500), "Receiver", "ActionNotSupported")
    check_answer("dispatch on the body: trt:GetProfiles posted to /onvif/device_service is answered",
                 c.call("GetProfiles", prefix="trt", path="/onvif/device_service"), "trt", "GetProfiles")
    check_answer("dispatch on the body: tds:GetDeviceInformation posted to /onvif/media_service is answered",
                 c.call("GetDeviceInformation", path="/onvif/media_service"), "tds", "GetDeviceInformation")
    soap11 = ("<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"
              "<tds:GetHostname xmlns:tds='" + NS["tds"] + "'/></s:Body></s:Envelope>").encode()
    status, _, body = conn.post("/onvif/device_service", soap11)
    R.check("a SOAP 1.1 envelope: a VersionMismatch fault (or 4xx), no crash",
            isinstance(status, int) and status >= 400 and daemon.running(), f"HTTP {status}")
    conn.close()
    R.check("the daemon survived the negative checks", daemon.running(), f"exit {daemon.proc.poll()}")


# ---------------------------------------------------------------------------------------------------------------
# 3. Every operation of the issue


def first_text(body, path):
    root = parse(body)
    if root is None:
        return None
    e = root.find(path, NS)
    return e.text.strip() if e is not None and e.text else None


def first_attr(body, path, attr):
    root = parse(body)
    e = root.find(path, NS) if root is not None else None
    return e.get(attr) if e is not None else None


def call_op(c, prefix, op, inner=""):
    return c.call(op, inner, prefix=prefix)


def check_operations(c):
    """Calls each operation of the issue with sensible arguments; each answer must be ns:OpResponse, valid."""
    results = {}

    def op(prefix, name, inner="", label=None, expect_fault=None):
        r = call_op(c, prefix, name, inner)
        results[(prefix, name)] = r
        if expect_fault:
            check_fault(label or f"{prefix}:{name}: refused with {expect_fault}", r, 400, "Sender", expect_fault)
        else:
            check_answer(label or f"{prefix}:{name}: answered, valid", r, prefix, name)
        return r

    # Device
    for name in ("GetDeviceInformation", "GetScopes", "GetNetworkInterfaces", "GetDNS", "GetNTP",
                 "GetNetworkDefaultGateway", "GetNetworkProtocols", "GetDiscoveryMode", "GetUsers"):
        op("tds", name)
    r = results[("tds", "GetNetworkInterfaces")]
    mac = first_text(r[2], ".//tt:Info/tt:HwAddress")
    R.check("GetNetworkInterfaces carries a MAC address", mac and re.fullmatch(r"([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}",
                                                                                mac), str(mac))
    r = c.call("GetCapabilities", "<tds:Category>All</tds:Category>")
    xaddrs = re.findall(rb"<(?:\w+:)?XAddr>([^<]*)<", r[2])
    cats = [k for k in ("Media", "Events", "Imaging", "PTZ", "DeviceIO")
            if re.search(rf"<(?:\w+:)?{k}\b".encode(), r[2])]
    R.check("GetCapabilities lists Media, Events, Imaging, PTZ and DeviceIO with addresses, none 0.0.0.0",
            len(cats) == 5 and b"0.0.0.0" not in r[2] and len(xaddrs) >= 5
            and all(x.startswith(f"http://{HOST}:{c.port}/onvif/".encode()) for x in xaddrs),
            f"categories {cats}, XAddrs {short(xaddrs)}")
    r = c.call("GetServices", "<tds:IncludeCapability>false</tds:IncludeCapability>")
    ns_listed = set(re.findall(rb"<(?:\w+:)?Namespace>([^<]*)<", r[2]))
    want = {NS[p].encode() for p in ("tds", "trt", "tr2", "tev", "timg", "tptz", "tmd")}
    R.check("GetServices lists device, media, media2, events, imaging, PTZ and DeviceIO", want <= ns_listed,
            short(sorted(ns_listed)))
    dt = c.call("GetSystemDateAndTime", auth=False)
    y = first_text(dt[2], ".//tt:UTCDateTime/tt:Date/tt:Year")
    h = first_text(dt[2], ".//tt:UTCDateTime/tt:Time/tt:Hour")
    mi = first_text(dt[2], ".//tt:UTCDateTime/tt:Time/tt:Minute")
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        dev_minutes = int(h) * 60 + int(mi)
        ok = int(y) == now.year and abs(dev_minutes - (now.hour * 60 + now.minute)) <= 1
    except (TypeError, ValueError):
        ok = False
    R.check("GetSystemDateAndTime gives the real UTC time", ok, f"{y} {h}:{mi} vs {now:%Y %H:%M}")
    scope = "onvif://www.onvif.org/location/freehold-test"
    op("tds", "AddScopes", f"<tds:ScopeItem>{scope}</tds:ScopeItem>")
    r = op("tds", "GetScopes", label="GetScopes after AddScopes: answered, valid")
    R.check("AddScopes: the new scope is listed", scope.encode() in r[2], short(r[2]))
    op("tds", "RemoveScopes", f"<tds:ScopeItem>{scope}</tds:ScopeItem>")
    r = call_op(c, "tds", "GetScopes")
    R.check("RemoveScopes: the scope is gone", r[0] == 200 and scope.encode() not in r[2], short(r[2]))
    op("tds", "SetScopes", "<tds:Scopes>onvif://www.onvif.org/name/FreeholdTest</tds:Scopes>")
    mode = first_text(results[("tds", "GetDiscoveryMode")][2], ".//tds:DiscoveryMode") or "Discoverable"
    op("tds", "SetDiscoveryMode", f"<tds:DiscoveryMode>{mode}</tds:DiscoveryMode>")
    op("tds", "GetWsdlUrl")
    r = call_op(c, "tds", "SetNetworkInterfaces",
                "<tds:InterfaceToken>eth0</tds:InterfaceToken><tds:NetworkInterface><tt:Enabled>true</tt:Enabled>"
                "</tds:NetworkInterface>")
    R.check("SetNetworkInterfaces in demo on a host: refused with a clear fault (valid)",
            r[0] in (400, 500) and fault(r[2]) is not None and fault(r[2])[2] and not invalid(r[2]),
            f"HTTP {r[0]}, {fault(r[2]) if r[2] else None}")
    r = call_op(c, "tds", "SetSystemDateAndTime",
                "<tds:DateTimeType>NTP</tds:DateTimeType><tds:DaylightSavings>false</tds:DaylightSavings>")
    R.check("SetSystemDateAndTime (NTP): answered or refused with a clear fault, valid",
            (r[0] == 200 and body_child(r[2]) == (NS["tds"], "SetSystemDateAndTimeResponse") or fault(r[2]))
            and not invalid(r[2]), f"HTTP {r[0]}, {fault(r[2]) if r[2] else None}, {short(invalid(r[2]))}")
    # Users through the accounts module and its password policy.
    op("tds", "CreateUsers", "<tds:User><tt:Username>onviftest</tt:Username><tt:Password>Amber-Falcon-River-42"
       "</tt:Password><tt:UserLevel>User</tt:UserLevel></tds:User>")
    r = call_op(c, "tds", "GetUsers")
    R.check("GetUsers lists the created user as User", b"onviftest" in r[2], short(r[2]))
    r = call_op(c, "tds", "CreateUsers", "<tds:User><tt:Username>weakling</tt:Username><tt:Password>1234"
                "</tt:Password><tt:UserLevel>User</tt:UserLevel></tds:User>")
    R.check("CreateUsers with a weak password: a fault naming the policy (valid)",
            r[0] in (400, 500) and fault(r[2]) is not None and not invalid(r[2]),
            f"HTTP {r[0]}, {fault(r[2]) if r[2] else None}")
    op("tds", "SetUser", "<tds:User><tt:Username>onviftest</tt:Username><tt:Password>Birch-Comet-Lantern-77"
       "</tt:Password><tt:UserLevel>Operator</tt:UserLevel></tds:User>")
    viewer = Onvif(c.port, "onviftest", "Birch-Comet-Lantern-77")
    check_answer("the new user logs in with the password SetUser gave", viewer.call("GetDeviceInformation"), "tds",
                 "GetDeviceInformation")
    check_fault("an Operator may not GetUsers: ter:NotAuthorized", viewer.call("GetUsers"), 400, "Sender",
                "NotAuthorized")
    viewer.conn.close()
    op("tds", "DeleteUsers", "<tds:Username>onviftest</tds:Username>")

    # Media (ver10)
    r = op("trt", "GetProfiles")
    tokens = re.findall(rb'<(?:\w+:)?Profiles[^>]*\btoken="([^"]+)"', r[2])
    profile = tokens[0].decode() if tokens else "main"
    encodings = re.findall(rb"<(?:\w+:)?Encoding>([^<]*)<", r[2])
    again = re.findall(rb'<(?:\w+:)?Profiles[^>]*\btoken="([^"]+)"', call_op(c, "trt", "GetProfiles")[2])
    R.check("GetProfiles: two or more profiles with stable ASCII tokens, each with a video source and an H264 "
            "encoder configuration", len(tokens) >= 2 and tokens == again
            and all(re.fullmatch(rb"[A-Za-z0-9_.-]+", t) for t in tokens)
            and len(re.findall(rb"<(?:\w+:)?VideoSourceConfiguration\b", r[2])) >= len(tokens)
            and encodings.count(b"H264") >= 1, f"tokens {tokens} then {again}, encodings {encodings}")
    op("trt", "GetProfile", f"<trt:ProfileToken>{profile}</trt:ProfileToken>")
    r = op("trt", "GetVideoSources")
    source = first_attr(r[2], ".//trt:VideoSources", "token") or "video_source"
    r = op("trt", "GetVideoSourceConfigurations")
    vsc = first_attr(r[2], ".//trt:Configurations", "token") or "video_source_config"
    op("trt", "GetVideoSourceConfiguration", f"<trt:ConfigurationToken>{vsc}</trt:ConfigurationToken>")
    op("trt", "GetVideoSourceConfigurationOptions", f"<trt:ProfileToken>{profile}</trt:ProfileToken>")
    op("trt", "GetCompatibleVideoSourceConfigurations", f"<trt:ProfileToken>{profile}</trt:ProfileToken>")
    r = op("trt", "GetVideoEncoderConfigurations")
    vec = first_attr(r[2], ".//trt:Configurations", "token") or "main"
    r = op("trt", "GetVideoEncoderConfiguration", f"<trt:ConfigurationToken>{vec}</trt:ConfigurationToken>")
    op("trt", "GetVideoEncoderConfigurationOptions", f"<trt:ProfileToken>{profile}</trt:ProfileToken>")
    op("trt", "GetCompatibleVideoEncoderConfigurations", f"<trt:ProfileToken>{profile}</trt:ProfileToken>")
    op("trt", "GetGuaranteedNumberOfVideoEncoderInstances",
       f"<trt:ConfigurationToken>{vsc}</trt:ConfigurationToken>")
    # SetVideoEncoderConfiguration with what GetVideoEncoderConfiguration returned (a no-op change).
    root = parse(r[2])
    cfg = root.find(".//trt:Configuration", NS) if root is not None else None
    if cfg is not None:
        inner = ET.tostring(cfg, encoding="unicode")  # namespaces declared inline
        op("trt", "SetVideoEncoderConfiguration", inner + "<trt:ForcePersistence>true</trt:ForcePersistence>")
        for bad_width, what in (("8.9e49", "a huge number"), ("wide", "not a number"), ("641", "an odd width")):
            wrong = re.sub(r"(<(?:\w+:)?Width>)[^<]*(</)", rf"\g<1>{bad_width}\g<2>", inner, count=1)
            r = call_op(c, "trt", "SetVideoEncoderConfiguration",
                        wrong + "<trt:ForcePersistence>true</trt:ForcePersistence>")
            check_fault(f"trt:SetVideoEncoderConfiguration with {what} as Width: env:Sender/ter:InvalidArgVal",
                        r, 400, "Sender", "InvalidArgVal")
        before = re.search(r"<(?:\w+:)?Width>([^<]*)<", inner)
        r = call_op(c, "trt", "GetVideoEncoderConfiguration", f"<trt:ConfigurationToken>{vec}</trt:ConfigurationToken>")
        after = first_text(r[2], ".//tt:Resolution/tt:Width")
        R.check("the refused encoder changes changed nothing", before and after == before.group(1),
                f"before {before.group(1) if before else None}, after {after}")
    else:
        R.check("trt:SetVideoEncoderConfiguration: needs a configuration from GetVideoEncoderConfiguration", False)
    for proto, label in (("RTSP", "RTSP (RTP over the RTSP TCP connection)"), ("UDP", "RTP over UDP")):
        r = op("trt", "GetStreamUri", "<trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>"
               f"<tt:Protocol>{proto}</tt:Protocol></tt:Transport></trt:StreamSetup>"
               f"<trt:ProfileToken>{profile}</trt:ProfileToken>", label=f"trt:GetStreamUri {label}: answered, valid")
    op("trt", "GetSnapshotUri", f"<trt:ProfileToken>{profile}</trt:ProfileToken>")
    op("trt", "SetSynchronizationPoint", f"<trt:ProfileToken>{profile}</trt:ProfileToken>")
    op("trt", "GetMetadataConfigurations")
    op("trt", "GetCompatibleMetadataConfigurations", f"<trt:ProfileToken>{profile}</trt:ProfileToken>")
    r = call_op(c, "trt", "CreateProfile", "<trt:Name>TestProfile</trt:Name><trt:Token>test_profile</trt:Token>")
    if r[0] != 200 and is_fault(r[2], "Receiver", "MaxNVTProfiles") and not invalid(r[2]):
        # Fixed profiles: the Media spec's answer is ter:Action/ter:MaxNVTProfiles. Adding a profile's own
        # configurations to it again must still work (clients do it blindly).
        R.check("trt:CreateProfile: refused with the spec's ter:MaxNVTProfiles fault (fixed profiles), valid", True)
        op("trt", "AddVideoSourceConfiguration", f"<trt:ProfileToken>{profile}</trt:ProfileToken>"
           f"<trt:ConfigurationToken>{vsc}</trt:ConfigurationToken>",
           label="trt:AddVideoSourceConfiguration of a profile's own source configuration: answered, valid")
        op("trt", "AddVideoEncoderConfiguration", f"<trt:ProfileToken>{profile}</trt:ProfileToken>"
           f"<trt:ConfigurationToken>{vec}</trt:ConfigurationToken>",
           label="trt:AddVideoEncoderConfiguration of a profile's own encoder configuration: answered, valid")
    else:
        check_answer("trt:CreateProfile: answered, valid", r, "trt", "CreateProfile")
        newtok = first_attr(r[2], ".//trt:Profile", "token") or "test_profile"
        op("trt", "AddVideoSourceConfiguration", f"<trt:ProfileToken>{newtok}</trt:ProfileToken>"
           f"<trt:ConfigurationToken>{vsc}</trt:ConfigurationToken>")
        op("trt", "AddVideoEncoderConfiguration", f"<trt:ProfileToken>{newtok}</trt:ProfileToken>"
           f"<trt:ConfigurationToken>{vec}</trt:ConfigurationToken>")
        op("trt", "RemoveVideoEncoderConfiguration", f"<trt:ProfileToken>{newtok}</trt:ProfileToken>")
        op("trt", "RemoveVideoSourceConfiguration", f"<trt:ProfileToken>{newtok}</trt:ProfileToken>")
        op("trt", "DeleteProfile", f"<trt:ProfileToken>{newtok}</trt:ProfileToken>")
    op("trt", "GetServiceCapabilities")

    # Media2 (ver20)
    r = op("tr2", "GetProfiles", "<tr2:Type>All</tr2:Type>")
    tokens2 = re.findall(rb'<(?:\w+:)?Profiles[^>]*\btoken="([^"]+)"', r[2])
    p2 = tokens2[0].decode() if tokens2 else profile
    op("tr2", "GetStreamUri", f"<tr2:Protocol>RtspUnicast</tr2:Protocol><tr2:ProfileToken>{p2}</tr2:ProfileToken>")
    op("tr2", "GetSnapshotUri", f"<tr2:ProfileToken>{p2}</tr2:ProfileToken>")
    op("tr2", "GetVideoEncoderConfigurations")
    op("tr2", "GetVideoEncoderConfigurationOptions")
    op("tr2", "GetVideoSourceConfigurations")
    op("tr2", "GetServiceCapabilities")

    # Imaging (ver20)
    r = op("timg", "GetImagingSettings", f"<timg:VideoSourceToken>{source}</timg:VideoSourceToken>")
    op("timg", "GetOptions", f"<timg:VideoSourceToken>{source}</timg:VideoSourceToken>")
    op("timg", "GetMoveOptions", f"<timg:VideoSourceToken>{source}</timg:VideoSourceToken>")
    op("timg", "SetImagingSettings", f"<timg:VideoSourceToken>{source}</timg:VideoSourceToken><timg:ImagingSettings>"
       "<tt:Brightness>60</tt:Brightness><tt:Contrast>50</tt:Contrast></timg:ImagingSettings>")
    r = call_op(c, "timg", "GetImagingSettings", f"<timg:VideoSourceToken>{source}</timg:VideoSourceToken>")
    R.check("SetImagingSettings brightness 60: GetImagingSettings reads it back", re.search(
        rb"<(?:\w+:)?Brightness>60(\.0+)?<", r[2]) is not None, short(r[2]))
    op("timg", "GetServiceCapabilities")

    # PTZ (ver20)
    r = op("tptz", "GetNodes")
    op("tptz", "GetConfigurations")
    r = call_op(c, "tptz", "GetConfigurations")
    ptzcfg = first_attr(r[2], ".//tptz:PTZConfiguration", "token") or "ptz"
    r = op("tptz", "GetConfigurationOptions", f"<tptz:ConfigurationToken>{ptzcfg}</tptz:ConfigurationToken>")
    R.check("PTZ GetConfigurationOptions offers the FOV translation space (Frigate)",
            b"TranslationSpaceFov" in r[2], "")
    pt = f"<tptz:ProfileToken>{profile}</tptz:ProfileToken>"
    op("tptz", "ContinuousMove", pt + '<tptz:Velocity><tt:PanTilt x="0.5" y="0"/></tptz:Velocity>')
    time.sleep(0.3)
    r = op("tptz", "GetStatus", pt, label="tptz:GetStatus while moving: answered, valid")
    R.check("GetStatus while moving: MoveStatus PanTilt MOVING", re.search(rb"PanTilt>MOVING<", r[2]) is not None,
            short(r[2]))
    op("tptz", "Stop", pt + "<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom>")
    r = call_op(c, "tptz", "GetStatus", pt)
    R.check("GetStatus after Stop: MoveStatus PanTilt IDLE", re.search(rb"PanTilt>IDLE<", r[2]) is not None,
            short(r[2]))
    op("tptz", "RelativeMove", pt + '<tptz:Translation><tt:PanTilt x="0.1" y="0.1"/></tptz:Translation>')
    op("tptz", "AbsoluteMove", pt + '<tptz:Position><tt:PanTilt x="0" y="0"/><tt:Zoom x="0"/></tptz:Position>')
    r = op("tptz", "SetPreset", pt + "<tptz:PresetName>door</tptz:PresetName>")
    preset = first_text(r[2], ".//tptz:PresetToken") or "1"
    op("tptz", "GetPresets", pt)
    op("tptz", "GotoPreset", pt + f"<tptz:PresetToken>{preset}</tptz:PresetToken>")
    op("tptz", "RemovePreset", pt + f"<tptz:PresetToken>{preset}</tptz:PresetToken>")
    r = op("tptz", "GetServiceCapabilities")
    R.check("PTZ GetServiceCapabilities says MoveStatus", b'MoveStatus="true"' in r[2], short(r[2]))

    # DeviceIO
    op("tmd", "GetVideoSources")
    op("tmd", "GetServiceCapabilities")

    # Events: the topic set
    r = op("tev", "GetEventProperties")
    R.check("GetEventProperties: tns1:VideoSource/MotionAlarm (State) and RuleEngine/CellMotionDetector/Motion "
            "(IsMotion)", all(s in r[2] for s in (b"MotionAlarm", b"CellMotionDetector", b'Name="State"',
                                                   b'Name="IsMotion"')), short(r[2]))
    R.check("GetEventProperties (the analytics run): VideoSource/GlobalSceneChange/AnalyticsService (tampering) and "
            "RuleEngine/ObjectDetection/Object (ClassTypes, people)",
            all(s in r[2] for s in (b"<GlobalSceneChange>", b"<AnalyticsService", b"<ObjectDetection>", b"<Object ",
                                    b'Name="ClassTypes" Type="tt:StringList"', b'Name="AnalyticsConfiguration"')),
            short(r[2]))
    op("tev", "GetServiceCapabilities")
    return profile


# ---------------------------------------------------------------------------------------------------------------
# 4. Events: a pull point gets motion start and end


class Motion:
    """Drives motion: toggles a config switch if the daemon has one, else lets the synthetic box do it."""

    def __init__(self, binary, https_port, user, password):
        self.https_port, self.user, self.password = https_port, user, password
        self.key = None
        try:
            text = subprocess.run([binary, "--help-config"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            text = ""
        for line in text.splitlines():
            m = re.match(r"\s*([a-z0-9_]+(?:\.[a-z0-9_]+)*)\b", line)
            # A switch that fakes motion (motion.enabled and the like switch detection itself, not motion).
            if (m and "motion" in m.group(1) and re.search(r"simulat|force|fake|trigger|demo", m.group(1))
                    and re.search(r"= (true|false)\b", line)):
                self.key = m.group(1)
                break
        self.token = None

    def describe(self):
        return f"config switch {self.key}" if self.key else "the synthetic source's moving box"

    def _api(self, method, path, body=None):
        c = http.client.HTTPSConnection(HOST, self.https_port, context=TLS, timeout=IO_TIMEOUT)
        try:
            h = {"Content-Type": "application/json"}
            if self.token:
                h["Authorization"] = "Bearer " + self.token
            c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def set(self, on):
        if not self.key:
            return None
        if self.token is None:
            status, body = self._api("POST", "/api/v1/session", {"username": self.user, "password": self.password})
            self.token = json.loads(body or b"{}").get("token") if status in (200, 201) else None
        tree = value = on
        for part in reversed(self.key.split(".")):
            tree = {part: tree}
        status, _ = self._api("PATCH", "/api/v1/config", tree)
        return status, value

    def pulse(self, stop, on_s=2.0, off_s=3.0):
        """In a thread: motion on for on_s, off for off_s, repeated until `stop` is set."""
        while not stop.is_set():
            self.set(True)
            if stop.wait(on_s):
                break
            self.set(False)
            stop.wait(off_s)
        self.set(False)


def motion_messages(body):
    """[(topic, item name, value, PropertyOperation, UtcTime)] of the NotificationMessages in an answer."""
    root = parse(body)
    out = []
    if root is None:
        return out
    for m in root.iter(f"{{{NS['wsnt']}}}NotificationMessage"):
        topic = (m.findtext("wsnt:Topic", "", NS) or "").strip()
        msg = m.find(".//tt:Message", NS)
        for item in m.iter(f"{{{NS['tt']}}}SimpleItem"):
            if item.get("Name") in ("State", "IsMotion", "ClassTypes"):
                out.append((topic, item.get("Name"), item.get("Value"),
                            msg.get("PropertyOperation") if msg is not None else None,
                            msg.get("UtcTime") if msg is not None else None))
    return out


def check_events(c, motion):
    r = c.call("CreatePullPointSubscription", "<tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime>",
               prefix="tev")
    if not check_answer("tev:CreatePullPointSubscription: answered, valid", r, "tev", "CreatePullPointSubscription"):
        return
    address = first_text(r[2], ".//tev:SubscriptionReference/wsa:Address")
    m = re.match(r"https?://[^/]+(/.*)$", address or "")
    R.check("the pull point's address is on this host's plain port", m and f":{c.port}/" in address, str(address))
    path = m.group(1) if m else "/onvif/events_service"
    to = f'<wsa:To>{address}</wsa:To>'

    def pull(timeout="PT5S", limit=10):
        header = wsse_header(c.user, c.password)[0] + to
        return c.conn.post(path, envelope(f"<tev:PullMessages><tev:Timeout>{timeout}</tev:Timeout>"
                                          f"<tev:MessageLimit>{limit}</tev:MessageLimit></tev:PullMessages>",
                                          header).encode())

    t0 = time.monotonic()
    first = pull("PT2S")
    check_answer("tev:PullMessages (first): answered, valid", first, "tev", "PullMessages")
    msgs = motion_messages(first[2])
    R.check("the first pull brings the current state as 'Initialized' on every topic: motion (both), tampering "
            "(false), people (none)",
            {t.split(":")[-1] for t, *_ in msgs if _[2] == "Initialized"} >= {"VideoSource/MotionAlarm",
                                                                              "RuleEngine/CellMotionDetector/Motion"}
            and ("tns1:VideoSource/GlobalSceneChange/AnalyticsService", "State", "false", "Initialized") in
            [m[:4] for m in msgs]
            and ("tns1:RuleEngine/ObjectDetection/Object", "ClassTypes", "", "Initialized") in [m[:4] for m in msgs],
            short(msgs))
    times = [u for *_, u in msgs if u]
    R.check("event times are UTC ending in Z", times and all(u.endswith("Z") for u in times), short(times))
    r = c.conn.post(path, envelope("<tev:SetSynchronizationPoint/>",
                                   wsse_header(c.user, c.password)[0] + to).encode())
    check_answer("tev:SetSynchronizationPoint on the pull point: answered, valid", r, "tev",
                 "SetSynchronizationPoint")
    stop = threading.Event()
    driver = threading.Thread(target=motion.pulse, args=(stop,), daemon=True)
    driver.start()
    states, problems, pulls = [], [], 0
    seen_true = seen_false_after = False
    deadline = time.monotonic() + MOTION_SECONDS
    try:
        while time.monotonic() < deadline and not (seen_true and seen_false_after):
            r = pull("PT5S")
            pulls += 1
            if r[0] != 200:
                problems.append(f"HTTP {r[0]} {fault(r[2])}")
                break
            p = invalid(r[2])
            if p:
                problems.append(short(p, 300))
            for topic, name, value, operation, _ in motion_messages(r[2]):
                if topic.endswith("VideoSource/MotionAlarm") and operation != "Initialized":
                    states.append(value)
                    if value == "true":
                        seen_true = True
                    elif seen_true and value == "false":
                        seen_false_after = True
    finally:
        stop.set()
        driver.join(timeout=10)
    R.check(f"PullMessages gets MotionAlarm State true then false within {MOTION_SECONDS} s (motion from "
            f"{motion.describe()}), every answer valid", seen_true and seen_false_after and not problems,
            f"{pulls} pulls in {time.monotonic() - t0:.1f} s, states {states}, problems {problems}")
    r = c.conn.post(path, envelope('<wsnt:Renew><wsnt:TerminationTime>PT60S</wsnt:TerminationTime></wsnt:Renew>',
                                   wsse_header(c.user, c.password)[0] + to).encode())
    ok, detail = answered(r[0], r[2], "wsnt", "RenewResponse")
    R.check("wsnt:Renew on the pull point: answered, valid", ok, detail)
    r = c.conn.post(path, envelope("<wsnt:Unsubscribe/>", wsse_header(c.user, c.password)[0] + to).encode())
    ok, detail = answered(r[0], r[2], "wsnt", "UnsubscribeResponse")
    R.check("wsnt:Unsubscribe: answered, valid", ok, detail)
    r = pull("PT1S")
    R.check("PullMessages after Unsubscribe: a fault (the pull point is gone)", r[0] >= 400 and fault(r[2]),
            f"HTTP {r[0]}")
    # A waiting PullMessages returns at its timeout, not before and not much later.
    r = c.call("CreatePullPointSubscription", "", prefix="tev")
    address = first_text(r[2], ".//tev:SubscriptionReference/wsa:Address") or ""
    m = re.match(r"https?://[^/]+(/.*)$", address)
    if m:
        path, to = m.group(1), f"<wsa:To>{address}</wsa:To>"
        pull("PT1S")  # the Initialized messages
        t = time.monotonic()
        r = pull("PT2S")
        took = time.monotonic() - t
        R.check(f"an idle PullMessages with Timeout PT2S answers after about 2 s ({took:.2f} s)",
                r[0] == 200 and (1.5 <= took <= 3.5 or motion_messages(r[2])), f"HTTP {r[0]}, {took:.2f} s")
        c.conn.post(path, envelope("<wsnt:Unsubscribe/>", wsse_header(c.user, c.password)[0] + to).encode())


# ---------------------------------------------------------------------------------------------------------------
# 5./6. Real clients


def ensure_node_modules():
    """npm ci into tests/e2e/node_modules if the onvif package is missing (quiet, idempotent)."""
    if os.path.isfile(os.path.join(HERE, "node_modules", "onvif", "package.json")):
        return None
    if shutil.which("npm") is None:
        return "npm is not installed (scripts/deps.sh test)"
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                       capture_output=True, text=True, timeout=300)
    return None if p.returncode == 0 else f"npm ci failed: {short(p.stderr, 600)}"


def validate_dir(d):
    """{file: problems} for each recorded answer in d that does not validate; and the number of files."""
    bad, n = {}, 0
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        n += 1
        p = invalid(data)
        if p:
            bad[name] = p[:3]
    return bad, n


def run_node_client(c, work, motion, skew_ms):
    label = "npm onvif" + (f" (client clock {skew_ms // 60000:+d} min)" if skew_ms else "")
    out_dir = tempfile.mkdtemp(prefix="node-", dir=work)
    opts = {"hostname": HOST, "port": c.port, "username": c.user, "password": c.password, "skewMs": skew_ms,
            "outDir": out_dir, "motionSeconds": MOTION_SECONDS}
    p = spawn(["node", os.path.join(HERE, "onvif_client.js"), json.dumps(opts)], cwd=HERE,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stop = threading.Event()
    driver = None
    errs = []
    for raw in iter(p.stderr.readline, b""):
        line = raw.decode("utf-8", "replace").strip()
        errs.append(line)
        if '"step":"pullpoint"' in line and driver is None:
            driver = threading.Thread(target=motion.pulse, args=(stop,), daemon=True)
            driver.start()
    try:
        out, _ = p.communicate(timeout=MOTION_SECONDS + 90)
    except subprocess.TimeoutExpired:
        p.kill()
        out = b""
    stop.set()
    if driver:
        driver.join(timeout=10)
    try:
        res = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = {"fatal": f"no JSON on stdout: {short(out)}; stderr {short(errs, 600)}"}
    if not R.check(f"{label}: the client ran to the end", "fatal" not in res, short(res.get("fatal"), 800)):
        return
    steps = res["steps"]

    def ok(name):
        s = steps.get(name) or {"ok": False, "err": "not reached"}
        return s.get("ok"), s.get("err") or short(s.get("summary"))

    for name in ("connect", "getProfiles", "getStreamUri", "getSnapshotUri", "createPullPointSubscription"):
        good, detail = ok(name)
        R.check(f"{label}: {name}", good, detail)
    prof = (steps.get("getProfiles") or {}).get("summary") or []
    R.check(f"{label}: getProfiles lists an H264 profile", any((p or {}).get("encoding") == "H264" for p in prof),
            short(prof))
    uri = (steps.get("getStreamUri") or {}).get("summary") or ""
    R.check(f"{label}: getStreamUri gives an rtsp:// URI on this host", str(uri).startswith("rtsp://"), str(uri))
    pm = steps.get("pullMessages") or {}
    states = (pm.get("summary") or {}).get("states") or []
    alarm = [s for s in states if s["topic"].endswith("VideoSource/MotionAlarm") and s["operation"] != "Initialized"]
    start = next((i for i, s in enumerate(alarm) if s["state"]), None)
    R.check(f"{label}: the pull loop receives a motion start and end (MotionAlarm true then false)",
            pm.get("ok") and start is not None and any(not s["state"] for s in alarm[start + 1:]),
            f"{pm.get('err')}; {short(alarm, 500)}")
    for name in ("continuousMove", "getStatusMoving", "stop", "getStatusStopped"):
        good, detail = ok(name)
        R.check(f"{label}: PTZ {name}", good, detail)
    moving = (steps.get("getStatusMoving") or {}).get("summary") or {}
    R.check(f"{label}: PTZ getStatus while moving says MOVING", "MOVING" in json.dumps(moving), short(moving))
    bad, n = validate_dir(out_dir)
    R.check(f"{label}: all {n} answers it got validate against the ONVIF XSDs", n and not bad, short(bad, 800))


def run_zeep(c, work):
    out_dir = tempfile.mkdtemp(prefix="zeep-", dir=work)
    opts = {"host": HOST, "port": c.port, "username": c.user, "password": c.password, "outDir": out_dir,
            "pullSeconds": 2}
    p = spawn(["/usr/bin/python3", os.path.join(HERE, "onvif_zeep.py"), json.dumps(opts)],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = b"", b"timed out"
    try:
        steps = json.loads(out.decode().strip().splitlines()[-1])["steps"]
    except (ValueError, IndexError, KeyError):
        R.check("zeep: the Home Assistant sequence ran", False, f"exit {p.returncode}: {short(err, 1200)}")
        return
    by = {s["op"]: s for s in steps}
    for s in steps:
        R.check(f"zeep (Home Assistant order): {s['op']} parsed without error", s["ok"],
                s["error"] or "")
    h264 = [x for x in (by.get("GetProfiles", {}).get("summary") or []) if x.get("encoding") == "H264"]
    R.check("zeep: GetProfiles has an H264 profile (Home Assistant keeps only those)", h264,
            short(by.get("GetProfiles")))
    missing = [op for op in ("GetCapabilities", "GetNetworkInterfaces", "GetProfiles", "GetSystemDateAndTime",
                             "CreatePullPointSubscription", "SetSynchronizationPoint", "PullMessages",
                             "GetStreamUri", "GetSnapshotUri") if op not in by]
    R.check("zeep: the whole sequence was reached", not missing, f"missing {missing}")
    bad, n = validate_dir(out_dir)
    R.check(f"zeep: all {n} answers validate against the ONVIF XSDs", n and not bad, short(bad, 800))


# ---------------------------------------------------------------------------------------------------------------
# 7. Media through the URIs ONVIF gives


def check_media(c, profile):
    r = c.call("GetStreamUri", "<trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP"
               f"</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>{profile}</trt:ProfileToken>",
               prefix="trt")
    uri = first_text(r[2], ".//trt:MediaUri/tt:Uri")
    if R.check("GetStreamUri gives an rtsp:// URI", uri and uri.startswith("rtsp://"), str(uri)):
        with_creds = re.sub(r"^rtsp://", f"rtsp://{c.user}:{c.password}@", uri)
        p = subprocess.run(["ffprobe", "-hide_banner", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "5000000",
                            "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height", "-of", "json",
                            with_creds], capture_output=True, text=True, timeout=30)
        try:
            st = json.loads(p.stdout)["streams"][0]
        except (ValueError, KeyError, IndexError):
            st = {}
        R.check("ffprobe plays the GetStreamUri URI (credentials inserted): H.264",
                p.returncode == 0 and st.get("codec_name") == "h264", f"exit {p.returncode}: {st} {short(p.stderr)}")
    r = c.call("GetSnapshotUri", f"<trt:ProfileToken>{profile}</trt:ProfileToken>", prefix="trt")
    uri = first_text(r[2], ".//trt:MediaUri/tt:Uri")
    if R.check("GetSnapshotUri gives an http(s):// URI", uri and uri.startswith("http"), str(uri)):
        status, ctype, body = http_get_digest(uri, c.user, c.password)
        R.check("the snapshot URI with HTTP Digest: 200 image/jpeg, a JPEG", status == 200
                and (ctype or "").startswith("image/jpeg") and body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9",
                f"HTTP {status} {ctype} {len(body)} bytes")
        m = re.match(r"https?://[^/]+(/.*)$", uri)
        conn = (http.client.HTTPSConnection if uri.startswith("https") else http.client.HTTPConnection)(
            HOST, int(re.match(r"https?://[^/:]+:(\d+)", uri).group(1)) if re.match(r"https?://[^/:]+:(\d+)", uri)
            else 80, **({"context": TLS} if uri.startswith("https") else {}), timeout=IO_TIMEOUT)
        try:
            conn.request("GET", m.group(1))
            status = conn.getresponse().status
        finally:
            conn.close()
        R.check("the snapshot URI without credentials: 401", status == 401, f"HTTP {status}")


# ---------------------------------------------------------------------------------------------------------------


def check_push_subscription(c):
    """WS-BaseNotification: Subscribe with a consumer on our own address gets Notify messages pushed by HTTP POST:
    the Initialized state, then motion changes, filtered to the subscribed topic; each Notify is schema-valid. A
    consumer at another address is refused (the device does not post to third hosts)."""
    import http.server
    import threading
    got = []

    class Consumer(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            got.append(self.rfile.read(n))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer((HOST, 0), Consumer)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        def subscribe(consumer):
            return c.call("Subscribe", f"<wsnt:ConsumerReference><wsa:Address>{consumer}</wsa:Address>"
                          "</wsnt:ConsumerReference><wsnt:Filter><wsnt:TopicExpression "
                          'Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
                          "tns1:VideoSource/MotionAlarm</wsnt:TopicExpression></wsnt:Filter>"
                          "<wsnt:InitialTerminationTime>PT60S</wsnt:InitialTerminationTime>",
                          prefix="wsnt", path="/onvif/events_service")

        r = subscribe(f"http://{HOST}:{srv.server_address[1]}/notify")
        if not check_answer("wsnt:Subscribe: answered, valid", r, "wsnt", "Subscribe"):
            return
        deadline = time.monotonic() + 20
        states = []
        while time.monotonic() < deadline and len(set(states)) < 2:
            time.sleep(0.2)
            states = [value for b in list(got) for (_, _, value, op, _) in motion_messages(b) if op == "Changed"]
        problems = [p for b in list(got) for p in validate_body(b)]
        topics = {t for b in list(got) for (t, *_) in motion_messages(b)}
        R.check("push subscription: Notify POSTs arrive with the Initialized state, then motion true and false",
                len(got) >= 3 and {"true", "false"} <= set(states), f"{len(got)} posts, changes {states}")
        R.check("push subscription: only the subscribed topic is sent", topics == {"tns1:VideoSource/MotionAlarm"},
                short(topics))
        R.check("push subscription: every Notify is valid against the schemas", got and not problems,
                short(problems))
        r = subscribe("http://192.0.2.99:9/notify")
        R.check("push subscription to a third host is refused (env:Sender)", is_fault(r[2], "Sender"),
                f"HTTP {r[0]} {short(r[2])}")
    finally:
        srv.shutdown()


def check_discovery(c, ports):
    """freeholdd answers a WS-Discovery probe on loopback (where its listeners are bound) with its own XAddrs and
    the endpoint reference that GetEndpointReference reports; a probe for another device type gets no answer."""
    import uuid as uuidlib
    status, _, body = c.call("GetEndpointReference", auth=False)
    guid = first_text(body, ".//{http://www.onvif.org/ver10/device/wsdl}GUID") or ""

    def probe(types):
        mid = f"urn:uuid:{uuidlib.uuid4()}"
        msg = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
               'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
               'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
               'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:pr="urn:example:printer"><s:Header>'
               '<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>'
               f'<a:MessageID>{mid}</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
               f'</s:Header><s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body></s:Envelope>')
        replies = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(HOST))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            s.settimeout(0.3)
            s.sendto(msg.encode(), ("239.255.255.250", 3702))
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                try:
                    data, _ = s.recvfrom(65536)
                except socket.timeout:
                    continue
                if mid.encode() in data:
                    replies.append(data)
        return replies

    replies = probe("dn:NetworkVideoTransmitter")
    ours = [r for r in replies if guid and guid.encode() in r]
    xaddr = f"http://{HOST}:{ports['plain']}/onvif/device_service".encode()
    R.check("WS-Discovery: a NetworkVideoTransmitter probe on loopback gets our ProbeMatch with the endpoint "
            "GetEndpointReference reports and our plain-HTTP XAddr", ours and xaddr in ours[0]
            and b"onvif://www.onvif.org/Profile/Streaming" in ours[0],
            f"GUID {guid!r}; {len(replies)} replies: {short(replies[0] if replies else b'')}")
    other = [r for r in probe("pr:PrintDeviceType") if guid and guid.encode() in r]
    R.check("WS-Discovery: a probe for a printer gets no answer from the camera", not other, short(other))


def start_daemon(binary, work):
    ports = {k: free_port() for k in ("https", "plain", "rtsp", "rtsps")}
    config = os.path.join(work, "onvif.toml")
    with open(config, "w") as f:
        f.write(f'[http]\nbind = "{HOST}"\nhttps_port = {ports["https"]}\nplain_enabled = true\n'
                f'plain_port = {ports["plain"]}\n[rtsp]\nport = {ports["rtsp"]}\ntls_port = {ports["rtsps"]}\n')
        for name, s in STREAMS.items():
            f.write(f"[stream.{name}]\n" + "".join(f"{k} = {v}\n" for k, v in s.items()))
    daemon = Daemon(binary, os.path.join(work, "state"), config)
    daemon.start()
    banner = daemon.wait_for(daemon.out, r"Press Ctrl-C")
    text = "\n".join(daemon.out)
    m = re.search(r"(?m)^\s*username: (\S+)\n\s*password: (\S+)$", text)
    ok = R.check("the demo starts with plain HTTP on and prints the admin credentials", banner and m,
                 f"stdout: {short(text)}\nlog: {short(daemon.log_text(), 800)}")
    return daemon, ports, (m.group(1), m.group(2)) if ok else (None, None)


def main():
    global validate_body
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--only", default="", help="comma-separated sections: validator,auth,ops,events,node,zeep,media,discovery")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    only = set(filter(None, args.only.split(",")))
    want = (lambda s: not only or s in only)
    missing = [t for t in ("xmllint", "node", "ffprobe") if shutil.which(t) is None]
    try:
        import lxml  # noqa: F401
        import zeep  # noqa: F401
    except ImportError as e:
        missing.append(f"python3 module {e.name}")
    if missing:
        print(f"FAIL  the ONVIF test's tools are installed: missing {', '.join(missing)} (scripts/deps.sh test)")
        print("0 passed, 1 failed")
        return 1
    from onvif_validate import validate_body as vb
    validate_body = vb
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="freehold-onvif-")
    daemon = None
    try:
        npm_problem = ensure_node_modules() if want("node") else None
        daemon, ports, (user, pw) = start_daemon(binary, work)
        if user is None:
            return 1
        c = Onvif(ports["plain"], user, pw)
        sample = c.call("GetSystemDateAndTime", auth=False)[2]
        if want("validator"):
            check_validator(work, sample)
        if want("auth"):
            check_pre_auth(c)
            check_auth(c, ports["https"])
            check_robustness(c, daemon)
        if want("ops"):
            profile = check_operations(c)
        else:
            toks = re.findall(rb'<(?:\w+:)?Profiles[^>]*\btoken="([^"]+)"', c.call("GetProfiles", prefix="trt")[2])
            profile = toks[0].decode() if toks else "Profile_main"
        motion = Motion(binary, ports["https"], user, pw)
        if want("events"):
            check_events(c, motion)
            check_push_subscription(c)
        if want("node"):
            if R.check("the npm onvif client is installed in tests/e2e/node_modules", npm_problem is None,
                       npm_problem or ""):
                run_node_client(c, work, motion, 0)
                run_node_client(c, work, motion, 180 * 1000)
        if want("zeep"):
            run_zeep(c, work)
        if want("media"):
            check_media(c, profile)
        if want("discovery"):
            check_discovery(c, ports)
        R.check("the daemon survived every check", daemon.running(),
                f"exit {daemon.proc.poll()}; log: {short(daemon.log_text(max(0, daemon.mark() - 20)), 1500)}")
        if daemon.running() and not only:
            r = c.call("SystemReboot")
            status, _, body = r
            ok, detail = answered(status, body, "tds", "SystemRebootResponse")
            R.check("SystemReboot: answered (a message), valid", ok, detail)
            try:
                rc = daemon.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = None
            R.check("after SystemReboot the daemon stops cleanly within 10 s with status 75 (systemd restarts it)",
                    rc == 75, f"exit {rc}")
        c.conn.close()
    finally:
        kill_children()
        if daemon:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
        print(f"# runtime {time.monotonic() - t_start:.1f} s", flush=True)
        print(f"{R.passed} passed, {R.failed} failed", flush=True)
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
