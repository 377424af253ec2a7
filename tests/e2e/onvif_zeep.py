#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drives freeholdd with Debian's python3-zeep and the ONVIF WSDLs, in the order Home Assistant's ONVIF
integration calls the device when it sets it up (GetCapabilities authenticated first, then the clock, device
information, network interfaces, the media service's capabilities and profiles, events through a pull point,
the stream and snapshot URIs), with the arguments onvif-zeep-async passes (as keyword arguments). Every answer
must parse without a zeep error. Run by tests/e2e/onvif_test.py with
/usr/bin/python3 (zeep is a Debian package, not a pip one):

    /usr/bin/python3 onvif_zeep.py '{"host":"127.0.0.1","port":8080,"username":"admin","password":"...",
                                      "outDir":"/tmp/x","pullSeconds":2}'

The WSDLs come from ../shared/onvif/wsdl (see onvif_validate.wsdl_dir); the W3C/OASIS documents they import
resolve to the local minimal copies through tests/e2e/onvif/catalog.xml, never the network. Prints one JSON
object: {"steps": [{"op", "ok", "error", "summary"}...]}; each answer's XML is written to outDir.
"""

import datetime
import json
import os
import sys

from lxml import etree
from zeep import Client, Plugin, Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onvif_validate import catalog_map, wsdl_dir  # noqa: E402

NS_DEVICE = "http://www.onvif.org/ver10/device/wsdl"
NS_MEDIA = "http://www.onvif.org/ver10/media/wsdl"
NS_EVENTS = "http://www.onvif.org/ver10/events/wsdl"


class OfflineTransport(Transport):
    """Loads the WSDL imports from the catalog's local files, and the OASIS bw-2 WSDL from ONVIF's own copy with
    its one change undone (ONVIF renamed the CreatePullPoint portType, which event.wsdl still names)."""

    def __init__(self, wsdl_root, **kw):
        super().__init__(**kw)
        self.local = catalog_map()
        self.local["http://docs.oasis-open.org/wsn/bw-2.wsdl"] = os.path.join(
            wsdl_root, "ver10", "events", "wsdl", "bw-2-vs-mod.wsdl")

    def load(self, url):
        if url in self.local:
            with open(self.local[url], "rb") as f:
                data = f.read()
            if url.endswith("/bw-2.wsdl"):
                data = data.replace(b'portType name="CreatePullPointPortType"', b'portType name="CreatePullPoint"')
            return data
        if url.startswith(("http:", "https:")):
            raise OSError(f"{url}: not available offline (add it to tests/e2e/onvif/catalog.xml)")
        return super().load(url)


class Recorder(Plugin):
    """Writes every answer envelope to outDir, numbered, for the test's XSD validation."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.n = 0
        self.op = "request"

    def egress(self, envelope, http_headers, operation, binding_options):
        self.op = operation.name
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):
        if self.out_dir:
            self.n += 1
            with open(os.path.join(self.out_dir, f"{self.n:03d}-{self.op}.xml"), "wb") as f:
                f.write(etree.tostring(envelope))
        return envelope, http_headers


def main():
    opts = json.loads(sys.argv[1])
    root = wsdl_dir()
    base = f"http://{opts['host']}:{opts['port']}"
    settings = Settings(strict=True, xml_huge_tree=False)
    transport = OfflineTransport(root, timeout=15, operation_timeout=30)
    recorder = Recorder(opts.get("outDir"))
    token = UsernameToken(opts["username"], opts["password"], use_digest=True)

    def client(rel):
        return Client(os.path.join(root, rel), wsse=token, transport=transport, settings=settings,
                      plugins=[recorder])

    steps = []

    def run(op, fn, summarize=lambda r: None):
        try:
            r = fn()
            steps.append({"op": op, "ok": True, "error": None, "summary": summarize(r)})
            return r
        except Exception as e:  # any zeep, transport or fault error is the result being tested
            steps.append({"op": op, "ok": False, "error": f"{type(e).__name__}: {e}"[:600], "summary": None})
            return None

    devicemgmt = client("ver10/device/wsdl/devicemgmt.wsdl").create_service(
        f"{{{NS_DEVICE}}}DeviceBinding", f"{base}/onvif/device_service")
    caps = run("GetCapabilities", lambda: devicemgmt.GetCapabilities(Category="All"),
               lambda r: {k: (getattr(r, k).XAddr if getattr(r, k, None) is not None
                              and hasattr(getattr(r, k), "XAddr") else None)
                          for k in ("Device", "Media", "Events", "Imaging", "PTZ")})
    run("GetSystemDateAndTime", devicemgmt.GetSystemDateAndTime,
        lambda r: {"type": r.DateTimeType, "utc": bool(r.UTCDateTime)})
    run("GetDeviceInformation", devicemgmt.GetDeviceInformation,
        lambda r: {"manufacturer": r.Manufacturer, "model": r.Model, "serial": r.SerialNumber})
    run("GetNetworkInterfaces", devicemgmt.GetNetworkInterfaces,
        lambda r: [{"enabled": i.Enabled, "mac": i.Info.HwAddress if i.Info is not None else None} for i in r])

    media_addr = caps.Media.XAddr if caps is not None and caps.Media is not None else f"{base}/onvif/media_service"
    media = client("ver10/media/wsdl/media.wsdl").create_service(f"{{{NS_MEDIA}}}MediaBinding", media_addr)
    run("Media.GetServiceCapabilities", media.GetServiceCapabilities,
        lambda r: {"snapshot": bool(r.SnapshotUri)})
    profiles = run("GetProfiles", media.GetProfiles,
                   lambda r: [{"token": p.token, "encoding": p.VideoEncoderConfiguration.Encoding
                               if p.VideoEncoderConfiguration is not None else None,
                               "width": p.VideoEncoderConfiguration.Resolution.Width
                               if p.VideoEncoderConfiguration is not None else None,
                               "source_token": p.VideoSourceConfiguration.SourceToken
                               if p.VideoSourceConfiguration is not None else None} for p in r])
    h264 = [p for p in (profiles or []) if p.VideoEncoderConfiguration is not None
            and p.VideoEncoderConfiguration.Encoding == "H264"]

    # Events as HA's EventManager starts them: a pull point, a synchronization point, pulls, unsubscribe.
    events_addr = (caps.Events.XAddr if caps is not None and caps.Events is not None
                   else f"{base}/onvif/events_service")
    event_client = client("ver10/events/wsdl/event.wsdl")
    events = event_client.create_service(f"{{{NS_EVENTS}}}EventBinding", events_addr)
    sub = run("CreatePullPointSubscription",
              lambda: events.CreatePullPointSubscription(InitialTerminationTime="PT60S"),
              lambda r: {"address": r.SubscriptionReference.Address._value_1,
                         "current": str(r.CurrentTime), "termination": str(r.TerminationTime)})
    if sub is not None:
        address = sub.SubscriptionReference.Address._value_1
        pullpoint = event_client.create_service(f"{{{NS_EVENTS}}}PullPointSubscriptionBinding", address)
        manager = event_client.create_service(f"{{{NS_EVENTS}}}SubscriptionManagerBinding", address)
        run("SetSynchronizationPoint", pullpoint.SetSynchronizationPoint)
        run("PullMessages", lambda: pullpoint.PullMessages(
            MessageLimit=100, Timeout=datetime.timedelta(seconds=opts.get("pullSeconds", 2))),
            lambda r: {"messages": [str(m.Topic._value_1).strip() for m in (r.NotificationMessage or [])],
                       "current": str(r.CurrentTime), "termination": str(r.TerminationTime)})
        run("Renew", lambda: manager.Renew(TerminationTime="PT60S"),
            lambda r: {"termination": str(r.TerminationTime)})
        run("Unsubscribe", manager.Unsubscribe)

    if h264:
        tok = h264[0].token
        run("GetStreamUri", lambda: media.GetStreamUri(
            StreamSetup={"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}, ProfileToken=tok),
            lambda r: r.Uri)
        run("GetSnapshotUri", lambda: media.GetSnapshotUri(ProfileToken=tok), lambda r: r.Uri)
    print(json.dumps({"steps": steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
