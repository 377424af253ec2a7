// SPDX-License-Identifier: GPL-3.0-or-later
// The WS-Discovery messages: parsing Probe and Resolve, matching them, writing ProbeMatches, ResolveMatches, Hello
// and Bye. No I/O here.
#include <pugixml.hpp>

#include <algorithm>
#include <array>
#include <cstdio>

#include "core/crypto.hpp"
#include "onvif/discovery.hpp"
#include "onvif/soap.hpp"

namespace freehold::onvif {

namespace {

constexpr std::string_view soap_ns = "http://www.w3.org/2003/05/soap-envelope";
constexpr std::string_view wsa_ns = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
// WS-Discovery 2005/04 uses the 2004/08 addressing; a client that mixes in the W3C 2005/08 one is understood too.
constexpr std::string_view wsa10_ns = "http://www.w3.org/2005/08/addressing";
constexpr std::string_view wsd_ns = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
constexpr std::string_view dn_ns = "http://www.onvif.org/ver10/network/wsdl";
constexpr std::string_view tds_ns = "http://www.onvif.org/ver10/device/wsdl";

constexpr std::string_view multicast_to = "urn:schemas-xmlsoap-org:ws:2005:04:discovery";
// WS-Discovery 2005/04 §5.3, §6.3: a reply to a request without ReplyTo goes to the anonymous address.
constexpr std::string_view anonymous_to = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

constexpr std::string_view rule_rfc3986 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986";
constexpr std::string_view rule_rfc2396 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc2396";
constexpr std::string_view rule_strcmp0 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0";

constexpr std::size_t max_message_id = 256;

const std::array<TypeName, 2>& our_types() {
  static const std::array<TypeName, 2> types{TypeName{std::string(dn_ns), "NetworkVideoTransmitter"},
                                             TypeName{std::string(tds_ns), "Device"}};
  return types;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_space(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

bool is(pugi::xml_node node, std::string_view ns, std::string_view local) {
  return node.type() == pugi::node_element && local_name(node) == local && namespace_of(node) == ns;
}

bool is_wsa(pugi::xml_node node, std::string_view local) {
  return is(node, wsa_ns, local) || is(node, wsa10_ns, local);
}

template <typename Pred>
pugi::xml_node find_child(pugi::xml_node parent, Pred pred) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (pred(c)) return c;
  }
  return {};
}

// Text we echo into a reply must be representable in XML 1.0 as we write it.
bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

// An RFC 3986 URI split for WS-Discovery's prefix rule.
struct UriParts {
  std::string scheme;                 // lower case
  std::string authority;              // lower case
  std::vector<std::string> segments;  // percent-decoded, empty ones dropped
  bool dot_segment = false;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

UriParts split_uri(std::string_view uri) {
  UriParts p;
  // Query and fragment take no part in the comparison (WS-Discovery §5.1).
  uri = uri.substr(0, std::min(uri.find('?'), uri.find('#')));
  if (const auto colon = uri.find(':');
      colon != std::string_view::npos && uri.substr(0, colon).find('/') == std::string_view::npos) {
    p.scheme = lower(uri.substr(0, colon));
    uri.remove_prefix(colon + 1);
  }
  if (uri.substr(0, 2) == "//") {
    uri.remove_prefix(2);
    const auto slash = uri.find('/');
    p.authority = lower(uri.substr(0, slash));
    uri = slash == std::string_view::npos ? std::string_view{} : uri.substr(slash);
  }
  std::size_t i = 0;
  while (i <= uri.size()) {
    const auto next = std::min(uri.find('/', i), uri.size());
    const std::string seg = percent_decode(uri.substr(i, next - i));
    if (seg == "." || seg == "..") p.dot_segment = true;
    if (!seg.empty()) p.segments.push_back(seg);
    i = next + 1;
  }
  return p;
}

// WS-Discovery §5.1 rfc2396, which ONVIF restates over RFC 3986: scheme and authority equal ignoring case, the
// probe's path a segment-wise prefix of ours, no "." or ".." segments.
bool prefix_match(std::string_view probe_scope, std::string_view our_scope) {
  const UriParts a = split_uri(probe_scope), b = split_uri(our_scope);
  if (a.dot_segment || b.dot_segment) return false;
  if (a.scheme != b.scheme || a.authority != b.authority) return false;
  if (a.segments.size() > b.segments.size()) return false;
  return std::equal(a.segments.begin(), a.segments.end(), b.segments.begin());
}

bool scope_matches(std::string_view probe_scope, std::string_view our_scope, std::string_view rule) {
  if (rule.empty() || rule == rule_rfc3986 || rule == rule_rfc2396) return prefix_match(probe_scope, our_scope);
  if (rule == rule_strcmp0) return probe_scope == our_scope;
  return false;  // uuid, ldap and unknown rules: not supported, so no match (Core §7.3.3)
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

// An envelope under construction with every prefix our messages use declared on the root.
struct Writer {
  pugi::xml_document doc;
  pugi::xml_node header;
  pugi::xml_node body;

  Writer(std::string_view action, std::string_view to, const Sequence& seq, const std::string* relates_to) {
    auto decl = doc.append_child(pugi::node_declaration);
    decl.append_attribute("version") = "1.0";
    decl.append_attribute("encoding") = "UTF-8";
    auto env = doc.append_child("s:Envelope");
    env.append_attribute("xmlns:s") = soap_ns.data();
    env.append_attribute("xmlns:a") = wsa_ns.data();
    env.append_attribute("xmlns:d") = wsd_ns.data();
    env.append_attribute("xmlns:dn") = dn_ns.data();
    env.append_attribute("xmlns:tds") = tds_ns.data();
    header = env.append_child("s:Header");
    body = env.append_child("s:Body");
    text(header, "a:MessageID", seq.message_id);
    if (relates_to) text(header, "a:RelatesTo", *relates_to);
    text(header, "a:To", to);
    text(header, "a:Action", action);
    auto app = header.append_child("d:AppSequence");
    app.append_attribute("InstanceId") = seq.instance_id;
    app.append_attribute("MessageNumber") = seq.message_number;
  }

  static pugi::xml_node text(pugi::xml_node parent, const char* name, std::string_view value) {
    auto n = parent.append_child(name);
    n.append_child(pugi::node_pcdata).set_value(std::string(value).c_str());
    return n;
  }

  // EndpointReference, Types, Scopes, XAddrs, MetadataVersion: the body of ProbeMatch, ResolveMatch and Hello.
  static void describe(pugi::xml_node parent, const DiscoveryInfo& info, const std::vector<std::string>& xaddrs) {
    text(parent.append_child("a:EndpointReference"), "a:Address", info.endpoint);
    text(parent, "d:Types", "dn:NetworkVideoTransmitter tds:Device");
    text(parent, "d:Scopes", join(info.scopes));
    if (!xaddrs.empty()) text(parent, "d:XAddrs", join(xaddrs));
    text(parent, "d:MetadataVersion", std::to_string(info.metadata_version));
  }

  std::string str() const {
    struct Sink : pugi::xml_writer {
      std::string out;
      void write(const void* data, size_t size) override { out.append(static_cast<const char*>(data), size); }
    } sink;
    doc.save(sink, "", pugi::format_raw, pugi::encoding_utf8);
    return std::move(sink.out);
  }
};

}  // namespace

std::string endpoint_uuid(std::string_view stable_id) {
  // A name-based UUID (RFC 4122 §4.3 layout, version 5 bits) over SHA-256 instead of SHA-1: the same device always
  // gets the same address, and the address reveals nothing about the identifier it came from.
  std::string h = crypto::sha256(std::string("freehold-onvif-endpoint:") + std::string(stable_id)).substr(0, 16);
  h[6] = static_cast<char>((static_cast<unsigned char>(h[6]) & 0x0f) | 0x50);
  h[8] = static_cast<char>((static_cast<unsigned char>(h[8]) & 0x3f) | 0x80);
  const std::string x = crypto::hex(h);
  return "urn:uuid:" + x.substr(0, 8) + "-" + x.substr(8, 4) + "-" + x.substr(12, 4) + "-" + x.substr(16, 4) + "-" +
         x.substr(20, 12);
}

std::variant<Probe, Resolve, Rejected> parse_request(std::string_view datagram) {
  if (datagram.size() > max_request_bytes) {
    return Rejected{"datagram of " + std::to_string(datagram.size()) + " bytes is over the " +
                    std::to_string(max_request_bytes) + "-byte limit"};
  }
  pugi::xml_document doc;
  // parse_default does not read DTDs or expand entities beyond the five predefined ones.
  const auto result = doc.load_buffer(datagram.data(), datagram.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!result) return Rejected{std::string("not well-formed XML: ") + result.description()};
  const pugi::xml_node env = doc.document_element();
  if (!is(env, soap_ns, "Envelope")) return Rejected{"not a SOAP 1.2 envelope"};
  const auto header = find_child(env, [](pugi::xml_node n) { return is(n, soap_ns, "Header"); });
  const auto body = find_child(env, [](pugi::xml_node n) { return is(n, soap_ns, "Body"); });
  if (!body) return Rejected{"no SOAP Body"};
  const pugi::xml_node op = first_element(body);
  const bool probe = is(op, wsd_ns, "Probe");
  const bool resolve = is(op, wsd_ns, "Resolve");
  if (!probe && !resolve) {
    return Rejected{op ? "body is " + std::string(op.name()) + ", not a WS-Discovery 2005/04 Probe or Resolve"
                       : std::string("empty SOAP Body")};
  }
  // A header Action that disagrees with the body is refused rather than guessed at.
  if (const auto action = find_child(header, [](pugi::xml_node n) { return is_wsa(n, "Action"); })) {
    const std::string expected = std::string(wsd_ns) + (probe ? "/Probe" : "/Resolve");
    if (text_of(action) != expected) return Rejected{"Action '" + text_of(action) + "' does not match the body"};
  }
  const auto id_node = find_child(header, [](pugi::xml_node n) { return is_wsa(n, "MessageID"); });
  std::string message_id = text_of(id_node);
  if (message_id.empty()) return Rejected{"no MessageID"};
  if (message_id.size() > max_message_id || !printable(message_id)) return Rejected{"unusable MessageID"};

  if (resolve) {
    const auto epr = find_child(op, [](pugi::xml_node n) { return is_wsa(n, "EndpointReference"); });
    const auto address = text_of(find_child(epr, [](pugi::xml_node n) { return is_wsa(n, "Address"); }));
    if (address.empty()) return Rejected{"Resolve without an EndpointReference Address"};
    return Resolve{std::move(message_id), address};
  }

  Probe p;
  p.message_id = std::move(message_id);
  if (const auto types = find_child(op, [](pugi::xml_node n) { return is(n, wsd_ns, "Types"); })) {
    const std::string text = text_of(types);
    const auto items = split_space(text);
    if (items.size() > max_probe_items) return Rejected{"more than " + std::to_string(max_probe_items) + " types"};
    for (std::string_view q : items) {
      auto q_name = resolve_qname(types, q);  // an undeclared prefix leaves the namespace empty
      if (q_name.local.empty()) return Rejected{"type '" + std::string(q) + "' is not a QName"};
      p.types.push_back(TypeName{std::move(q_name.ns), std::move(q_name.local)});
    }
  }
  if (const auto scopes = find_child(op, [](pugi::xml_node n) { return is(n, wsd_ns, "Scopes"); })) {
    const std::string text = text_of(scopes);
    const auto items = split_space(text);
    if (items.size() > max_probe_items) return Rejected{"more than " + std::to_string(max_probe_items) + " scopes"};
    for (std::string_view s : items) p.scopes.emplace_back(s);
    p.match_by = std::string(trim(scopes.attribute("MatchBy").value()));
  }
  return p;
}

bool probe_matches(const Probe& probe, const DiscoveryInfo& info) {
  for (const auto& t : probe.types) {
    const bool ours = std::any_of(our_types().begin(), our_types().end(), [&](const TypeName& o) {
      return o.local == t.local && (t.ns.empty() || t.ns == o.ns);
    });
    if (!ours) return false;
  }
  for (const auto& s : probe.scopes) {
    const bool any = std::any_of(info.scopes.begin(), info.scopes.end(),
                                 [&](const std::string& o) { return scope_matches(s, o, probe.match_by); });
    if (!any) return false;
  }
  return true;
}

bool resolve_matches(const Resolve& resolve, const DiscoveryInfo& info) {
  // RFC 4122: UUIDs compare case-insensitively in their text form.
  return !info.endpoint.empty() && lower(trim(resolve.endpoint)) == lower(info.endpoint);
}

std::string build_probe_match(const Probe& probe, const DiscoveryInfo& info, const std::vector<std::string>& xaddrs,
                              const Sequence& seq) {
  Writer w(std::string(wsd_ns) + "/ProbeMatches", anonymous_to, seq, &probe.message_id);
  Writer::describe(w.body.append_child("d:ProbeMatches").append_child("d:ProbeMatch"), info, xaddrs);
  return w.str();
}

std::string build_resolve_match(const Resolve& resolve, const DiscoveryInfo& info,
                                const std::vector<std::string>& xaddrs, const Sequence& seq) {
  Writer w(std::string(wsd_ns) + "/ResolveMatches", anonymous_to, seq, &resolve.message_id);
  Writer::describe(w.body.append_child("d:ResolveMatches").append_child("d:ResolveMatch"), info, xaddrs);
  return w.str();
}

std::string build_hello(const DiscoveryInfo& info, const std::vector<std::string>& xaddrs, const Sequence& seq) {
  Writer w(std::string(wsd_ns) + "/Hello", multicast_to, seq, nullptr);
  Writer::describe(w.body.append_child("d:Hello"), info, xaddrs);
  return w.str();
}

std::string build_bye(const DiscoveryInfo& info, const Sequence& seq) {
  Writer w(std::string(wsd_ns) + "/Bye", multicast_to, seq, nullptr);
  Writer::text(w.body.append_child("d:Bye").append_child("a:EndpointReference"), "a:Address", info.endpoint);
  return w.str();
}

}  // namespace freehold::onvif
