// SPDX-License-Identifier: GPL-3.0-or-later
#include "onvif/soap.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace freehold::onvif {

Fault sender_fault(std::string subcode, std::string reason, std::string subsubcode) {
  return Fault{"env:Sender", std::move(subcode), std::move(subsubcode), std::move(reason), 400};
}

Fault receiver_fault(std::string subcode, std::string reason, std::string subsubcode) {
  return Fault{"env:Receiver", std::move(subcode), std::move(subsubcode), std::move(reason), 500};
}

std::string_view local_name(std::string_view qualified) {
  const auto colon = qualified.find(':');
  return colon == std::string_view::npos ? qualified : qualified.substr(colon + 1);
}

namespace {

std::string_view prefix_of(std::string_view qualified) {
  const auto colon = qualified.find(':');
  return colon == std::string_view::npos ? std::string_view{} : qualified.substr(0, colon);
}

// The URI bound to `prefix` (empty: the default namespace) at `node`, walking outwards.
std::string_view lookup(pugi::xml_node node, std::string_view prefix) {
  std::string wanted = prefix.empty() ? std::string("xmlns") : "xmlns:" + std::string(prefix);
  for (auto n = node; n && n.type() == pugi::node_element; n = n.parent()) {
    if (auto a = n.attribute(wanted.c_str())) return a.value();
  }
  if (prefix == "xml") return "http://www.w3.org/XML/1998/namespace";
  return {};
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

pugi::xml_node first_element(pugi::xml_node parent) {
  for (auto c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element) return c;
  }
  return {};
}

std::string_view namespace_of(pugi::xml_node node) { return lookup(node, prefix_of(node.name())); }

pugi::xml_node child(pugi::xml_node parent, std::string_view local) {
  for (auto c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && local_name(c.name()) == local) return c;
  }
  return {};
}

std::string text_of(pugi::xml_node node) {
  std::string out;
  for (auto c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) out += c.value();
  }
  return trim(out);
}

QName resolve_qname(pugi::xml_node context, std::string_view value) {
  const std::string v = trim(value);
  return QName{std::string(lookup(context, prefix_of(v))), std::string(local_name(v))};
}

std::variant<Envelope, Fault> parse_envelope(std::string_view text) {
  Envelope env;
  env.doc = std::make_unique<pugi::xml_document>();
  // No DOCTYPE processing and only the five predefined entities and character references: nothing expands.
  const auto result = env.doc->load_buffer(text.data(), text.size(), pugi::parse_default & ~pugi::parse_doctype,
                                          pugi::encoding_utf8);
  if (!result) {
    return sender_fault("ter:WellFormed", "malformed XML: " + std::string(result.description()) + " at byte " +
                                              std::to_string(result.offset));
  }
  for (auto n = env.doc->first_child(); n; n = n.next_sibling()) {
    if (n.type() == pugi::node_doctype) return sender_fault("ter:WellFormed", "a DOCTYPE is not allowed in SOAP");
  }
  const auto root = env.doc->document_element();
  if (local_name(root) != "Envelope") {
    return Fault{"env:VersionMismatch", {}, {}, "the document element is not a SOAP Envelope", 400};
  }
  const auto root_ns = namespace_of(root);
  if (root_ns != ns::soap) {
    return Fault{"env:VersionMismatch", {}, {},
                 root_ns == ns::soap11 ? "SOAP 1.1 is not supported; ONVIF uses SOAP 1.2"
                                       : "the Envelope is not in the SOAP 1.2 namespace",
                 400};
  }
  env.header = child(root, "Header");
  const auto body = child(root, "Body");
  env.operation = first_element(body);
  if (!env.operation) return sender_fault("ter:Tag", "the SOAP Body has no operation element");
  env.op_ns = std::string(namespace_of(env.operation));
  env.op_name = std::string(local_name(env.operation));
  return env;
}

Reply::Reply() {
  envelope_ = doc_.append_child("env:Envelope");
  const std::pair<const char*, std::string_view> prefixes[] = {
      {"xmlns:env", ns::soap},   {"xmlns:ter", ns::ter},   {"xmlns:tt", ns::tt},     {"xmlns:tds", ns::tds},
      {"xmlns:trt", ns::trt},    {"xmlns:tr2", ns::tr2},   {"xmlns:tev", ns::tev},   {"xmlns:timg", ns::timg},
      {"xmlns:tptz", ns::tptz},  {"xmlns:tmd", ns::tmd},   {"xmlns:wsnt", ns::wsnt}, {"xmlns:wsa", ns::wsa},
      {"xmlns:tns1", "http://www.onvif.org/ver10/topics"},   {"xmlns:wstop", "http://docs.oasis-open.org/wsn/t-1"},
      {"xmlns:xs", "http://www.w3.org/2001/XMLSchema"},
  };
  for (const auto& [name, uri] : prefixes) envelope_.append_attribute(name) = std::string(uri).c_str();
  body_ = envelope_.append_child("env:Body");
}

pugi::xml_node Reply::header() {
  if (!header_) header_ = envelope_.insert_child_before("env:Header", body_);
  return header_;
}

std::string Reply::str() const {
  std::ostringstream out;
  doc_.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + out.str();
}

std::string render_fault(const Fault& fault) {
  Reply r;
  auto f = r.add("env:Fault");
  auto code = add(f, "env:Code");
  add(code, "env:Value", fault.code);
  if (!fault.subcode.empty()) {
    auto sub = add(code, "env:Subcode");
    add(sub, "env:Value", fault.subcode);
    if (!fault.subsubcode.empty()) add(add(sub, "env:Subcode"), "env:Value", fault.subsubcode);
  }
  auto reason = add(add(f, "env:Reason"), "env:Text", fault.reason);
  attr(reason, "xml:lang", "en");
  return r.str();
}

pugi::xml_node add(pugi::xml_node parent, std::string_view qualified) {
  return parent.append_child(std::string(qualified).c_str());
}

pugi::xml_node add(pugi::xml_node parent, std::string_view qualified, std::string_view text) {
  auto n = add(parent, qualified);
  n.text().set(std::string(text).c_str());
  return n;
}

pugi::xml_node add(pugi::xml_node parent, std::string_view qualified, long long value) {
  return add(parent, qualified, std::string_view(std::to_string(value)));
}

void attr(pugi::xml_node node, std::string_view name, std::string_view value) {
  node.append_attribute(std::string(name).c_str()) = std::string(value).c_str();
}

std::string xs_bool(bool b) { return b ? "true" : "false"; }

std::string xs_double(double d) {
  if (!std::isfinite(d)) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", d);
  return buf;
}

}  // namespace freehold::onvif
