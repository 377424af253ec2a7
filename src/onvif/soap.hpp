// SPDX-License-Identifier: GPL-3.0-or-later
// SOAP 1.2 as ONVIF uses it: parsing a request envelope (bounded, no DTDs, no entity expansion), resolving the
// namespace of the operation element, writing namespace-exact responses and faults. pugixml has no namespace
// support of its own, so prefixes are resolved here by walking the xmlns declarations in scope.
#pragma once

#include <pugixml.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace freehold::onvif {

namespace ns {
inline constexpr std::string_view soap = "http://www.w3.org/2003/05/soap-envelope";
inline constexpr std::string_view soap11 = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view tt = "http://www.onvif.org/ver10/schema";
inline constexpr std::string_view ter = "http://www.onvif.org/ver10/error";
inline constexpr std::string_view tds = "http://www.onvif.org/ver10/device/wsdl";
inline constexpr std::string_view trt = "http://www.onvif.org/ver10/media/wsdl";
inline constexpr std::string_view tr2 = "http://www.onvif.org/ver20/media/wsdl";
inline constexpr std::string_view tev = "http://www.onvif.org/ver10/events/wsdl";
inline constexpr std::string_view timg = "http://www.onvif.org/ver20/imaging/wsdl";
inline constexpr std::string_view tptz = "http://www.onvif.org/ver20/ptz/wsdl";
inline constexpr std::string_view tmd = "http://www.onvif.org/ver10/deviceIO/wsdl";
inline constexpr std::string_view wsnt = "http://docs.oasis-open.org/wsn/b-2";
inline constexpr std::string_view wsa = "http://www.w3.org/2005/08/addressing";
inline constexpr std::string_view wsse =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
inline constexpr std::string_view wsu =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
}  // namespace ns

// A SOAP fault: code env:Sender (HTTP 400) or env:Receiver (HTTP 500), an ONVIF subcode and sub-subcode
// ("ter:InvalidArgVal", "ter:NoProfile"), and a reason for people.
struct Fault {
  std::string code = "env:Sender";
  std::string subcode;
  std::string subsubcode;
  std::string reason;
  int http_status = 400;
};
[[nodiscard]] Fault sender_fault(std::string subcode, std::string reason, std::string subsubcode = {});
[[nodiscard]] Fault receiver_fault(std::string subcode, std::string reason, std::string subsubcode = {});

// The namespace URI of an element or attribute name, resolved against the declarations in scope; empty if the
// prefix is undeclared (or there is no default namespace).
[[nodiscard]] std::string_view namespace_of(pugi::xml_node node);
[[nodiscard]] std::string_view local_name(std::string_view qualified);
inline std::string_view local_name(pugi::xml_node node) { return local_name(node.name()); }
// The first child element with this local name (any namespace: clients disagree on prefixes for the WS-* blocks).
[[nodiscard]] pugi::xml_node child(pugi::xml_node parent, std::string_view local);
// The first element child (skipping comments and text).
[[nodiscard]] pugi::xml_node first_element(pugi::xml_node parent);
// Its character data (text and CDATA sections joined), trimmed.
[[nodiscard]] std::string text_of(pugi::xml_node node);
// A QName in element text ("tt:H264") resolved to {namespace, local}.
struct QName {
  std::string ns;
  std::string local;
};
[[nodiscard]] QName resolve_qname(pugi::xml_node context, std::string_view value);

struct Envelope {
  std::unique_ptr<pugi::xml_document> doc;
  pugi::xml_node header;     // may be empty
  pugi::xml_node operation;  // the first element child of Body
  std::string op_ns;         // its namespace URI
  std::string op_name;       // its local name
};

// Parses a request. Fails with env:Sender ter:WellFormed for broken XML, env:VersionMismatch for SOAP 1.1 or no
// envelope, ter:Tag when the Body is empty.
[[nodiscard]] std::variant<Envelope, Fault> parse_envelope(std::string_view text);

// A response under construction: an Envelope declaring every prefix the services use, with Header and Body.
class Reply final {
 public:
  Reply();
  [[nodiscard]] pugi::xml_node body() const { return body_; }
  [[nodiscard]] pugi::xml_node header();
  // Adds the response element, e.g. add("tds:GetHostnameResponse").
  pugi::xml_node add(std::string_view qualified) { return body_.append_child(std::string(qualified).c_str()); }
  [[nodiscard]] std::string str() const;

 private:
  pugi::xml_document doc_;
  pugi::xml_node envelope_, header_, body_;
};

[[nodiscard]] std::string render_fault(const Fault& fault);

// XML building helpers: a child element with text; an attribute.
pugi::xml_node add(pugi::xml_node parent, std::string_view qualified);
pugi::xml_node add(pugi::xml_node parent, std::string_view qualified, std::string_view text);
pugi::xml_node add(pugi::xml_node parent, std::string_view qualified, long long value);
void attr(pugi::xml_node node, std::string_view name, std::string_view value);
[[nodiscard]] std::string xs_bool(bool b);
[[nodiscard]] std::string xs_double(double d);

}  // namespace freehold::onvif
