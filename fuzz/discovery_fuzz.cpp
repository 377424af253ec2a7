// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the WS-Discovery request parser with what arrives on UDP 3702, and the replies built from what it accepts.
// Oracle: never crash; oversize input is refused; an accepted request has a usable MessageID and bounded lists;
// the reply to it is well-formed XML whose RelatesTo is that MessageID, and is itself never taken for a request
// (no reply loops); with strcmp0 a probe's scopes match a device that has exactly them.
#include <pugixml.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "onvif/discovery.hpp"

using namespace freehold::onvif;

namespace {

void expect_reply(const std::string& reply, const std::string& relates_to) {
  pugi::xml_document doc;
  if (!doc.load_string(reply.c_str())) std::abort();
  const auto r = doc.select_node("/s:Envelope/s:Header/a:RelatesTo");
  if (!r || std::string(r.node().text().get()) != relates_to) std::abort();
  if (!std::holds_alternative<Rejected>(parse_request(reply))) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size > 2 * max_request_bytes) return -1;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_request(input);
  if (const auto* rej = std::get_if<Rejected>(&parsed)) {
    if (rej->reason.empty()) std::abort();
    return 0;
  }
  if (size > max_request_bytes) std::abort();

  DiscoveryInfo info{"urn:uuid:6f1c2b3a-4d5e-5f60-8172-8394a5b6c7d8",
                     {"onvif://www.onvif.org/name/cam", "onvif://www.onvif.org/Profile/Streaming"},
                     1};
  const std::vector<std::string> xaddrs{"http://192.0.2.2/onvif/device_service"};
  const Sequence seq{"urn:uuid:11111111-2222-4333-8444-555555555555", 1, 1};
  if (const auto* probe = std::get_if<Probe>(&parsed)) {
    const auto& id = probe->message_id;
    if (id.empty() || id.size() > 256) std::abort();
    for (char c : id) {
      if (static_cast<unsigned char>(c) < 0x20) std::abort();
    }
    if (probe->types.size() > max_probe_items || probe->scopes.size() > max_probe_items) std::abort();
    for (const auto& t : probe->types) {
      if (t.local.empty()) std::abort();
    }
    for (const auto& s : probe->scopes) {
      if (s.empty() || s.find_first_of(" \t\r\n") != std::string::npos) std::abort();
    }
    (void)probe_matches(*probe, info);
    expect_reply(build_probe_match(*probe, info, xaddrs, seq), id);

    Probe exact = *probe;
    exact.types.clear();
    exact.match_by = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0";
    DiscoveryInfo same = info;
    same.scopes = exact.scopes;
    if (!probe_matches(exact, same)) std::abort();
  } else {
    const auto& resolve = std::get<Resolve>(parsed);
    if (resolve.endpoint.empty()) std::abort();
    (void)resolve_matches(resolve, info);
    expect_reply(build_resolve_match(resolve, info, xaddrs, seq), resolve.message_id);
  }
  return 0;
}
