# SPDX-License-Identifier: GPL-3.0-or-later
"""XSD validation of ONVIF SOAP answers, offline.

The ONVIF services' schemas live inside their WSDLs (wsdl:types). At first use this module copies the WSDL/XSD tree
(../shared/onvif/wsdl, or $FREEHOLD_ONVIF_WSDL) into a temporary directory, writes every embedded schema out as a
.xsd beside its WSDL (with the WSDL's namespace declarations, which the schema's QNames use), and compiles one
wrapper schema importing every service namespace. The W3C/OASIS schemas they import resolve through
tests/e2e/onvif/catalog.xml to Freehold's minimal local copies in tests/e2e/onvif/schemas/; nothing is fetched.

validate_body(xml) checks a whole SOAP 1.2 envelope: the envelope against SOAP's schema and every Body child (an
answer or an env:Fault) against its declaration, which must exist. libxml2 does the validation (through lxml, the
engine of xmllint); `python3 onvif_validate.py FILE...` validates files, and xmllint_validate() runs xmllint itself
with the same catalog and wrapper for a cross-check.
"""

import atexit
from copy import deepcopy
import os
import shutil
import subprocess
import sys
import tempfile

from lxml import etree

HERE = os.path.dirname(os.path.abspath(__file__))
CATALOG = os.path.join(HERE, "onvif", "catalog.xml")

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
ENV = "http://www.w3.org/2003/05/soap-envelope"

# The WSDLs whose schemas the answers use, relative to the WSDL directory.
SERVICE_WSDLS = [
    "ver10/device/wsdl/devicemgmt.wsdl",
    "ver10/media/wsdl/media.wsdl",
    "ver20/media/wsdl/media.wsdl",
    "ver10/events/wsdl/event.wsdl",
    "ver20/imaging/wsdl/imaging.wsdl",
    "ver20/ptz/wsdl/ptz.wsdl",
    "ver10/deviceio.wsdl",
]
# Namespaces imported by URL (resolved through the catalog).
EXTERNAL = {
    ENV: "https://www.w3.org/2003/05/soap-envelope",
    "http://docs.oasis-open.org/wsn/b-2": "http://docs.oasis-open.org/wsn/b-2.xsd",
    "http://docs.oasis-open.org/wsn/t-1": "http://docs.oasis-open.org/wsn/t-1.xsd",
    "http://docs.oasis-open.org/wsrf/r-2": "http://docs.oasis-open.org/wsrf/r-2.xsd",
}


def wsdl_dir():
    """The ONVIF WSDL directory: $FREEHOLD_ONVIF_WSDL, else shared/onvif/wsdl beside the checkout or a parent."""
    env = os.environ.get("FREEHOLD_ONVIF_WSDL")
    if env:
        return env
    d = HERE
    while True:
        cand = os.path.join(d, "shared", "onvif", "wsdl")
        if os.path.isfile(os.path.join(cand, "ver10", "schema", "onvif.xsd")):
            return cand
        parent = os.path.dirname(d)
        if parent == d:
            return "/work/shared/onvif/wsdl"
        d = parent


def catalog_map():
    """The catalog's URI -> local file mapping (absolute paths)."""
    ns = "{urn:oasis:names:tc:entity:xmlns:xml:catalog}"
    root = etree.parse(CATALOG).getroot()
    base = os.path.dirname(CATALOG)
    return {e.get("name"): os.path.join(base, e.get("uri")) for e in root.iter(ns + "uri")}


class CatalogResolver(etree.Resolver):
    """Resolves the catalog's URIs to local files and refuses every other remote URL (like xmllint --nonet)."""

    def __init__(self):
        super().__init__()
        self.map = catalog_map()

    def resolve(self, url, pubid, context):
        if url in self.map:
            return self.resolve_filename(self.map[url], context)
        if url.startswith(("http:", "https:")):
            raise OSError(f"schema {url} is neither local nor in {CATALOG}")
        return None


def extract_schemas(src, dst):
    """Copies the WSDL tree to dst and writes each service WSDL's embedded schemas as NAME.xsd (NAME-2.xsd ...)
    beside it. Returns {targetNamespace: path of the written .xsd}."""
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.html", "*.txt", "*.md"))
    out = {}
    for rel in SERVICE_WSDLS:
        path = os.path.join(dst, rel)
        tree = etree.parse(path)
        defs = tree.getroot()
        for i, schema in enumerate(defs.iterfind(f"{{{WSDL}}}types/{{{XS}}}schema")):
            # The schema's QName values (type="tt:..", ref="wsnt:..") may use prefixes declared on wsdl:definitions.
            nsmap = {k: v for k, v in defs.nsmap.items() if k is not None}
            nsmap.update({k: v for k, v in schema.nsmap.items() if k is not None})
            copy = etree.Element(schema.tag, nsmap=nsmap, attrib=dict(schema.attrib))
            for child in schema:
                copy.append(deepcopy(child))
            base = os.path.splitext(path)[0] + ("" if i == 0 else f"-{i + 1}") + ".xsd"
            etree.ElementTree(copy).write(base, xml_declaration=True, encoding="UTF-8")
            out[schema.get("targetNamespace")] = base
    relax_wildcards(dst)
    return out


def relax_wildcards(root):
    """ONVIF's schemas end many sequences of optional tt: elements with <xs:any namespace="##targetNamespace">,
    which breaks XML Schema's Unique Particle Attribution rule; libxml2 (xmllint) refuses to compile them. In the
    temporary copy those wildcards become ##other: an unknown or misplaced element of the schema's own namespace
    now fails (stricter); an element of a foreign namespace in an extension point passes (looser, and harmless:
    the answers must not carry foreign elements there, which the Body checks do not rely on)."""
    for d, _, files in os.walk(root):
        for n in files:
            if n.endswith((".xsd", ".wsdl")):
                p = os.path.join(d, n)
                with open(p, encoding="utf-8") as f:
                    text = f.read()
                fixed = text.replace('namespace="##targetNamespace"', 'namespace="##other"')
                if fixed != text:
                    with open(p, "w", encoding="utf-8") as f:
                        f.write(fixed)


def global_elements(paths):
    """{(namespace, local name)} of the top-level element declarations in the given schema files."""
    names = set()
    for p in paths:
        root = etree.parse(p).getroot()
        tns = root.get("targetNamespace")
        for e in root.iterfind(f"{{{XS}}}element"):
            names.add((tns, e.get("name")))
    return names


class Validator:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="freehold-onvif-xsd-")
        atexit.register(shutil.rmtree, self.tmp, True)
        services = extract_schemas(wsdl_dir(), os.path.join(self.tmp, "wsdl"))
        cmap = catalog_map()
        imports = dict(services)
        imports.update(EXTERNAL)
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<xs:schema xmlns:xs="{XS}">']
        for ns, loc in imports.items():
            lines.append(f'  <xs:import namespace="{ns}" schemaLocation="{loc}"/>')
        lines.append("</xs:schema>")
        self.wrapper = os.path.join(self.tmp, "all.xsd")
        with open(self.wrapper, "w") as f:
            f.write("\n".join(lines) + "\n")
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        parser.resolvers.add(CatalogResolver())
        self.schema = etree.XMLSchema(etree.parse(self.wrapper, parser))
        onvif = os.path.join(self.tmp, "wsdl", "ver10", "schema")
        files = list(services.values()) + [os.path.join(onvif, n) for n in ("onvif.xsd", "common.xsd")]
        files += [cmap[u] for u in EXTERNAL.values()]
        self.declared = global_elements(files)

    def validate(self, data):
        problems = []
        try:
            root = etree.fromstring(data, etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=False))
        except etree.XMLSyntaxError as e:
            return [f"not well-formed XML: {e}"]
        if root.tag != f"{{{ENV}}}Envelope":
            return [f"the root is {root.tag}, not a SOAP 1.2 Envelope"]
        body = root.find(f"{{{ENV}}}Body")
        if body is None:
            return ["no env:Body"]
        children = [c for c in body if isinstance(c.tag, str)]
        if not children:
            problems.append("env:Body is empty")
        for c in children:
            q = etree.QName(c)
            if (q.namespace, q.localname) not in self.declared:
                problems.append(f"no schema declares the Body element {{{q.namespace}}}{q.localname}")
        if not self.schema.validate(root):
            for err in self.schema.error_log:
                problems.append(f"line {err.line}: {err.message}")
        return problems


_VALIDATOR = None


def validator():
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = Validator()
    return _VALIDATOR


def validate_body(xml_bytes):
    """The problems (strings) of a SOAP 1.2 answer against the ONVIF schemas; [] when valid."""
    return validator().validate(xml_bytes)


def xmllint_validate(path):
    """Runs xmllint --nonet on a file with the catalog and the wrapper schema; returns (ok, its messages)."""
    v = validator()
    env = dict(os.environ, XML_CATALOG_FILES=CATALOG)
    p = subprocess.run(["xmllint", "--nonet", "--noout", "--schema", v.wrapper, path], env=env,
                       capture_output=True, text=True, timeout=60)
    return p.returncode == 0, p.stderr.strip()


if __name__ == "__main__":
    bad = 0
    for name in sys.argv[1:]:
        with open(name, "rb") as f:
            found = validate_body(f.read())
        print(f"{name}: " + ("valid" if not found else "\n  ".join(["INVALID"] + found)))
        bad += bool(found)
    sys.exit(1 if bad else 0)
