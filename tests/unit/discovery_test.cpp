// SPDX-License-Identifier: GPL-3.0-or-later
#include "onvif/discovery.hpp"

#include <gtest/gtest.h>
#include <pugixml.hpp>

#include <boost/asio/ip/udp.hpp>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/crypto.hpp"

using namespace freehold::onvif;
namespace asio = boost::asio;

namespace {

constexpr const char* dn = "http://www.onvif.org/ver10/network/wsdl";
constexpr const char* tds = "http://www.onvif.org/ver10/device/wsdl";
constexpr const char* rfc3986 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986";

// The seed datagrams of the fuzzer, modelled on what real clients send.
std::string datagram(const std::string& name) {
  std::ifstream in(std::string(FREEHOLD_DISCOVERY_CORPUS) + "/" + name, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  EXPECT_FALSE(s.str().empty()) << name;
  return s.str();
}

Probe probe_of(const std::string& text) {
  auto r = parse_request(text);
  if (auto* rej = std::get_if<Rejected>(&r)) ADD_FAILURE() << "rejected: " << rej->reason;
  return std::holds_alternative<Probe>(r) ? std::get<Probe>(r) : Probe{};
}

std::string rejection(const std::string& text) {
  auto r = parse_request(text);
  if (!std::holds_alternative<Rejected>(r)) {
    ADD_FAILURE() << "accepted: " << text.substr(0, 200);
    return {};
  }
  return std::get<Rejected>(r).reason;
}

DiscoveryInfo camera() {
  return {"urn:uuid:6f1c2b3a-4d5e-5f60-8172-8394a5b6c7d8",
          {"onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming",
           "onvif://www.onvif.org/hardware/D1-566", "onvif://www.onvif.org/name/Front%20door",
           "onvif://www.onvif.org/location/country/china"},
          3};
}

Probe scoped(std::vector<std::string> scopes, std::string rule = {}) {
  Probe p;
  p.message_id = "urn:uuid:1";
  p.scopes = std::move(scopes);
  p.match_by = std::move(rule);
  return p;
}

// A namespace-aware view of one of our replies, to check it the way a client reads it.
struct Reply {
  pugi::xml_document doc;
  explicit Reply(const std::string& text) { EXPECT_TRUE(doc.load_string(text.c_str())) << text; }
  std::string at(const char* xpath) const {
    auto n = doc.select_node(xpath);
    return n ? n.node().text().get() : std::string("<missing>");
  }
  std::string attr(const char* xpath, const char* name) const {
    auto n = doc.select_node(xpath);
    return n ? n.node().attribute(name).value() : std::string("<missing>");
  }
  std::string ns(const char* prefix) const {
    return doc.document_element().attribute((std::string("xmlns:") + prefix).c_str()).value();
  }
};

TEST(DiscoveryParse, NpmOnvifProbeWithDefaultNamespaces) {
  const Probe p = probe_of(datagram("npm_onvif.xml"));
  EXPECT_EQ(p.message_id, "urn:uuid:0f5d2a41-6e3b-4c1a-9d7e-1a2b3c4d5e6f");
  ASSERT_EQ(p.types.size(), 1u);
  EXPECT_EQ(p.types[0], (TypeName{dn, "NetworkVideoTransmitter"}));
  EXPECT_TRUE(p.scopes.empty());
  EXPECT_TRUE(probe_matches(p, camera()));
}

TEST(DiscoveryParse, OnvifDeviceManagerProbeDeclaresItsPrefixOnTypes) {
  const Probe p = probe_of(datagram("odm.xml"));
  EXPECT_EQ(p.message_id, "uuid:7c1e5a90-3b2d-4f4e-8a61-0d9c8b7a6f50");  // echoed as sent, not rewritten
  ASSERT_EQ(p.types.size(), 1u);
  EXPECT_EQ(p.types[0], (TypeName{dn, "NetworkVideoTransmitter"}));
  EXPECT_TRUE(probe_matches(p, camera()));
}

TEST(DiscoveryParse, PythonWsdiscoveryProbeWithTdsDeviceAndScopes) {
  const Probe p = probe_of(datagram("python_wsdiscovery.xml"));
  ASSERT_EQ(p.types.size(), 1u);
  EXPECT_EQ(p.types[0], (TypeName{tds, "Device"}));
  EXPECT_EQ(p.scopes,
            (std::vector<std::string>{"onvif://www.onvif.org/name", "onvif://www.onvif.org/Profile/Streaming"}));
  EXPECT_EQ(p.match_by, rfc3986);
  EXPECT_TRUE(probe_matches(p, camera()));
  DiscoveryInfo no_profile = camera();
  no_profile.scopes = {"onvif://www.onvif.org/name/cam"};
  EXPECT_FALSE(probe_matches(p, no_profile));
}

TEST(DiscoveryParse, UntypedProbeMatchesAndPrinterProbeDoesNot) {
  const Probe any = probe_of(datagram("untyped.xml"));
  EXPECT_TRUE(any.types.empty());
  EXPECT_TRUE(probe_matches(any, camera()));
  const Probe printer = probe_of(datagram("printer.xml"));
  ASSERT_EQ(printer.types.size(), 1u);
  EXPECT_EQ(printer.types[0].local, "PrintDeviceType");
  EXPECT_FALSE(probe_matches(printer, camera()));
}

TEST(DiscoveryParse, TypesResolveByNamespaceNotPrefix) {
  auto probe_typed = [](const std::string& decl, const std::string& types) {
    return "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope' "
           "xmlns:a='http://schemas.xmlsoap.org/ws/2004/08/addressing' "
           "xmlns:d='http://schemas.xmlsoap.org/ws/2005/04/discovery' " +
           decl + "><s:Header><a:MessageID>urn:uuid:x</a:MessageID></s:Header><s:Body><d:Probe><d:Types>" + types +
           "</d:Types></d:Probe></s:Body></s:Envelope>";
  };
  // "tds" bound to another namespace is not our tds:Device.
  EXPECT_FALSE(probe_matches(probe_of(probe_typed("xmlns:tds='urn:example:other'", "tds:Device")), camera()));
  // Both of our types in one probe, under any prefixes.
  EXPECT_TRUE(probe_matches(probe_of(probe_typed(std::string("xmlns:p='") + dn + "' xmlns:q='" + tds + "'",
                                                 "p:NetworkVideoTransmitter\n q:Device")),
                            camera()));
  // An undeclared prefix (a common client bug) matches on the local name alone.
  const Probe sloppy = probe_of(probe_typed("", "dn:NetworkVideoTransmitter"));
  EXPECT_TRUE(sloppy.types.at(0).ns.empty());
  EXPECT_TRUE(probe_matches(sloppy, camera()));
  // A type we do not have fails the whole probe, even beside one we have.
  EXPECT_FALSE(probe_matches(
      probe_of(probe_typed(std::string("xmlns:dn='") + dn + "'", "dn:NetworkVideoTransmitter dn:NetworkVideoDisplay")),
      camera()));
}

TEST(DiscoveryParse, RepliesAndAnnouncementsAreNeverRequests) {
  EXPECT_NE(rejection(datagram("hello.xml")).find("Hello"), std::string::npos);
  const DiscoveryInfo info = camera();
  const Probe p = probe_of(datagram("npm_onvif.xml"));
  const Sequence seq{"urn:uuid:22222222-0000-4000-8000-000000000000", 5, 9};
  EXPECT_NE(rejection(build_probe_match(p, info, {"http://192.0.2.2/onvif/device_service"}, seq)).find("ProbeMatches"),
            std::string::npos);
  EXPECT_FALSE(rejection(build_hello(info, {"http://192.0.2.2/onvif/device_service"}, seq)).empty());
  EXPECT_FALSE(rejection(build_bye(info, seq)).empty());
  EXPECT_FALSE(rejection(build_resolve_match(Resolve{"urn:uuid:r", info.endpoint}, info, {"http://x/"}, seq)).empty());
}

TEST(DiscoveryParse, MalformedInputIsRejectedWithAReason) {
  EXPECT_NE(rejection(datagram("truncated.xml")).find("not well-formed XML"), std::string::npos);
  EXPECT_EQ(rejection(datagram("soap11.xml")), "not a SOAP 1.2 envelope");
  EXPECT_EQ(rejection(""), "not well-formed XML: No document element found");
  EXPECT_EQ(rejection("<a/>"), "not a SOAP 1.2 envelope");

  std::string big = datagram("untyped.xml");
  big.insert(big.find("<e:Body>"), std::string(max_request_bytes, ' '));
  EXPECT_NE(rejection(big).find("bytes is over the 8192-byte limit"), std::string::npos);

  std::string no_id = datagram("untyped.xml");
  no_id.erase(no_id.find("<w:MessageID>"), no_id.find("<w:To>") - no_id.find("<w:MessageID>"));
  EXPECT_EQ(rejection(no_id), "no MessageID");

  // An Action that contradicts the body is refused, whichever of them names the reply.
  std::string lying = datagram("untyped.xml");
  lying.replace(lying.find("discovery/Probe"), 15, "discovery/ProbeMatches");
  EXPECT_NE(rejection(lying).find("does not match the body"), std::string::npos);

  std::string many = datagram("untyped.xml");
  std::string scopes;
  for (std::size_t i = 0; i <= max_probe_items; ++i) scopes += "onvif://www.onvif.org/s" + std::to_string(i) + " ";
  many.replace(many.find("<d:Probe/>"), 10, "<d:Probe><d:Scopes>" + scopes + "</d:Scopes></d:Probe>");
  EXPECT_EQ(rejection(many), "more than 32 scopes");

  // Entities beyond XML's five are not expanded, and a DTD does not make them so.
  std::string entity = datagram("untyped.xml");
  entity.insert(0, "<!DOCTYPE e:Envelope [<!ENTITY x 'urn:uuid:expanded'>]>");
  entity.replace(entity.find("urn:uuid:5b6c"), 13, "&x;");
  const Probe p = probe_of(entity);
  EXPECT_EQ(p.message_id.find("expanded"), std::string::npos);
}

TEST(DiscoveryParse, Resolve) {
  const auto r = parse_request(datagram("resolve.xml"));
  ASSERT_TRUE(std::holds_alternative<Resolve>(r));
  const auto& res = std::get<Resolve>(r);
  EXPECT_EQ(res.message_id, "urn:uuid:c0ffee00-1234-4567-89ab-cdef01234567");
  DiscoveryInfo info = camera();
  EXPECT_FALSE(resolve_matches(res, info));
  info.endpoint = "urn:uuid:00000000-0000-5000-8000-000000000000";
  EXPECT_TRUE(resolve_matches(res, info));
  info.endpoint = "URN:UUID:00000000-0000-5000-8000-000000000000";
  EXPECT_TRUE(resolve_matches(res, info));
}

TEST(DiscoveryMatch, OnvifCoreScopeExamples) {
  // ONVIF Core §7.3.2.4: the device's scopes and three probes.
  const DiscoveryInfo info = camera();
  EXPECT_TRUE(probe_matches(scoped({"onvif://www.onvif.org"}), info));
  EXPECT_TRUE(probe_matches(scoped({"onvif://www.onvif.org/location/country/china"}), info));
  EXPECT_FALSE(probe_matches(scoped({"onvif://www.onvif.org/hardware/D1"}), info));
}

TEST(DiscoveryMatch, Rfc3986PrefixRule) {
  const DiscoveryInfo info = camera();
  for (const std::string& rule :
       {std::string(), std::string(rfc3986), std::string("http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc2396")}) {
    SCOPED_TRACE(rule);
    EXPECT_TRUE(probe_matches(scoped({"ONVIF://WWW.ONVIF.ORG/Profile"}, rule), info));   // scheme, host: any case
    EXPECT_FALSE(probe_matches(scoped({"onvif://www.onvif.org/profile"}, rule), info));  // path: exact case
    EXPECT_TRUE(probe_matches(scoped({"onvif://www.onvif.org/name/Front door"}, rule), info));  // %20 decoded
    EXPECT_TRUE(probe_matches(scoped({"onvif://www.onvif.org/type/"}, rule), info));
    EXPECT_TRUE(probe_matches(scoped({"onvif://www.onvif.org/type?x=1#f"}, rule), info));  // query, fragment ignored
    EXPECT_FALSE(probe_matches(scoped({"onvif://www.onvif.org/type/video_encoder/more"}, rule), info));
    EXPECT_FALSE(probe_matches(scoped({"onvif://www.onvif.org/type/../name"}, rule), info));
    EXPECT_FALSE(probe_matches(scoped({"onvif://example.com/type"}, rule), info));
    EXPECT_FALSE(probe_matches(scoped({"http://www.onvif.org/type"}, rule), info));
    // Every scope of the probe must match.
    EXPECT_TRUE(probe_matches(scoped({"onvif://www.onvif.org/type", "onvif://www.onvif.org/name"}, rule), info));
    EXPECT_FALSE(probe_matches(scoped({"onvif://www.onvif.org/type", "onvif://www.onvif.org/nope"}, rule), info));
  }
}

TEST(DiscoveryMatch, OtherRules) {
  const DiscoveryInfo info = camera();
  const std::string strcmp0 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0";
  EXPECT_TRUE(probe_matches(scoped({"onvif://www.onvif.org/hardware/D1-566"}, strcmp0), info));
  EXPECT_FALSE(probe_matches(scoped({"onvif://www.onvif.org/hardware"}, strcmp0), info));
  EXPECT_FALSE(
      probe_matches(scoped({"onvif://www.onvif.org"}, "http://schemas.xmlsoap.org/ws/2005/04/discovery/ldap"), info));
  EXPECT_FALSE(probe_matches(scoped({"onvif://www.onvif.org"}, "urn:example:unknown-rule"), info));
  EXPECT_TRUE(probe_matches(scoped({}, "urn:example:unknown-rule"), info));  // no scopes: nothing to compare
}

TEST(DiscoveryReply, ProbeMatchCarriesWhatAClientNeeds) {
  const Probe p = probe_of(datagram("odm.xml"));
  const DiscoveryInfo info = camera();
  const Sequence seq{"urn:uuid:33333333-0000-4000-8000-000000000000", 1700000000, 42};
  const Reply r(build_probe_match(
      p, info, {"http://192.0.2.2:8080/onvif/device_service", "https://192.0.2.2/onvif/device_service"}, seq));
  EXPECT_EQ(r.ns("s"), "http://www.w3.org/2003/05/soap-envelope");
  EXPECT_EQ(r.ns("a"), "http://schemas.xmlsoap.org/ws/2004/08/addressing");
  EXPECT_EQ(r.ns("d"), "http://schemas.xmlsoap.org/ws/2005/04/discovery");
  EXPECT_EQ(r.ns("dn"), dn);
  EXPECT_EQ(r.ns("tds"), tds);
  EXPECT_EQ(r.at("/s:Envelope/s:Header/a:RelatesTo"), "uuid:7c1e5a90-3b2d-4f4e-8a61-0d9c8b7a6f50");
  EXPECT_EQ(r.at("/s:Envelope/s:Header/a:MessageID"), seq.message_id);
  EXPECT_EQ(r.at("/s:Envelope/s:Header/a:To"), "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous");
  EXPECT_EQ(r.at("/s:Envelope/s:Header/a:Action"), "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches");
  EXPECT_EQ(r.attr("/s:Envelope/s:Header/d:AppSequence", "InstanceId"), "1700000000");
  EXPECT_EQ(r.attr("/s:Envelope/s:Header/d:AppSequence", "MessageNumber"), "42");
  const std::string m = "/s:Envelope/s:Body/d:ProbeMatches/d:ProbeMatch/";
  EXPECT_EQ(r.at((m + "a:EndpointReference/a:Address").c_str()), info.endpoint);
  EXPECT_EQ(r.at((m + "d:Types").c_str()), "dn:NetworkVideoTransmitter tds:Device");
  EXPECT_EQ(r.at((m + "d:Scopes").c_str()),
            "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
            "onvif://www.onvif.org/hardware/D1-566 onvif://www.onvif.org/name/Front%20door "
            "onvif://www.onvif.org/location/country/china");
  EXPECT_EQ(r.at((m + "d:XAddrs").c_str()),
            "http://192.0.2.2:8080/onvif/device_service https://192.0.2.2/onvif/device_service");
  EXPECT_EQ(r.at((m + "d:MetadataVersion").c_str()), "3");
}

TEST(DiscoveryReply, EchoedMessageIdIsEscaped) {
  Probe p;
  p.message_id = "urn:x:<a>&\"'";
  const Reply r(build_probe_match(p, camera(), {"http://192.0.2.2/"}, Sequence{"urn:uuid:4", 1, 1}));
  EXPECT_EQ(r.at("/s:Envelope/s:Header/a:RelatesTo"), p.message_id);
  EXPECT_EQ(r.doc.select_nodes("//a:RelatesTo").size(), 1u);
}

TEST(DiscoveryReply, HelloByeAndResolveMatch) {
  const DiscoveryInfo info = camera();
  const Reply hello(build_hello(info, {"http://192.0.2.2/onvif/device_service"}, Sequence{"urn:uuid:5", 9, 1}));
  EXPECT_EQ(hello.at("/s:Envelope/s:Header/a:To"), "urn:schemas-xmlsoap-org:ws:2005:04:discovery");
  EXPECT_EQ(hello.at("/s:Envelope/s:Header/a:Action"), "http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello");
  EXPECT_EQ(hello.doc.select_nodes("//a:RelatesTo").size(), 0u);
  EXPECT_EQ(hello.at("/s:Envelope/s:Body/d:Hello/d:XAddrs"), "http://192.0.2.2/onvif/device_service");
  EXPECT_EQ(hello.at("/s:Envelope/s:Body/d:Hello/d:MetadataVersion"), "3");

  const Reply bye(build_bye(info, Sequence{"urn:uuid:6", 9, 2}));
  EXPECT_EQ(bye.at("/s:Envelope/s:Header/a:Action"), "http://schemas.xmlsoap.org/ws/2005/04/discovery/Bye");
  EXPECT_EQ(bye.at("/s:Envelope/s:Body/d:Bye/a:EndpointReference/a:Address"), info.endpoint);
  EXPECT_EQ(bye.attr("/s:Envelope/s:Header/d:AppSequence", "MessageNumber"), "2");

  const Reply rm(build_resolve_match(Resolve{"urn:uuid:ask", info.endpoint}, info, {"http://192.0.2.2/"},
                                     Sequence{"urn:uuid:7", 9, 3}));
  EXPECT_EQ(rm.at("/s:Envelope/s:Header/a:RelatesTo"), "urn:uuid:ask");
  EXPECT_EQ(rm.at("/s:Envelope/s:Body/d:ResolveMatches/d:ResolveMatch/a:EndpointReference/a:Address"), info.endpoint);
}

TEST(DiscoveryEndpoint, StableUrnUuidFromAPersistentId) {
  ASSERT_TRUE(freehold::crypto::init());
  const std::string a = endpoint_uuid("device-key-fingerprint-1");
  EXPECT_EQ(a, endpoint_uuid("device-key-fingerprint-1"));
  EXPECT_NE(a, endpoint_uuid("device-key-fingerprint-2"));
  EXPECT_TRUE(
      std::regex_match(a, std::regex("urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << a;
}

// The socket, on loopback: a unicast probe is answered at once from the address it came to.
class DiscoverySocket : public ::testing::Test {
 protected:
  asio::io_context io;
  asio::ip::udp::socket client{io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::uint16_t port = 0;
  std::vector<std::string> locals;

  void SetUp() override {
    ASSERT_TRUE(freehold::crypto::init());
    asio::ip::udp::socket probe_port(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe_port.local_endpoint().port();
  }

  std::unique_ptr<Discovery> make(DiscoveryOptions o = {}) {
    o.port = port;
    o.interfaces = {"127.0.0.1"};
    return std::make_unique<Discovery>(
        io, camera(),
        [this](const asio::ip::address& local) {
          locals.push_back(local.to_string());
          return std::vector<std::string>{"http://" + local.to_string() + ":8080/onvif/device_service"};
        },
        o);
  }

  void probe(const std::string& id) {
    std::string text = datagram("npm_onvif.xml");
    text.replace(text.find("urn:uuid:0f5d2a41-6e3b-4c1a-9d7e-1a2b3c4d5e6f"), 45, id);
    client.send_to(asio::buffer(text), asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  // The replies that arrive within `wait`, running the I/O loop meanwhile.
  std::vector<std::string> replies(std::chrono::milliseconds wait) {
    io.restart();
    io.run_for(wait);
    std::vector<std::string> out;
    client.non_blocking(true);
    std::array<char, 65536> buf;
    boost::system::error_code ec;
    for (;;) {
      const auto n = client.receive(asio::buffer(buf), 0, ec);
      if (ec) break;
      out.emplace_back(buf.data(), n);
    }
    return out;
  }
};

TEST_F(DiscoverySocket, AnswersUnicastProbeWithTheLocalAddress) {
  auto d = make();
  ASSERT_EQ(d->start(), std::nullopt);
  probe("urn:uuid:aaaaaaaa-0000-4000-8000-000000000001");
  const auto got = replies(std::chrono::milliseconds(300));
  ASSERT_EQ(got.size(), 1u);
  const Reply r(got[0]);
  EXPECT_EQ(r.at("/s:Envelope/s:Header/a:RelatesTo"), "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001");
  EXPECT_EQ(r.at("/s:Envelope/s:Body/d:ProbeMatches/d:ProbeMatch/d:XAddrs"),
            "http://127.0.0.1:8080/onvif/device_service");
  EXPECT_EQ(locals.back(), "127.0.0.1");
  EXPECT_EQ(d->stats().replies, 1u);
}

TEST_F(DiscoverySocket, RepeatsAreAnsweredOnceAndASourceIsRateLimited) {
  auto d = make();
  ASSERT_EQ(d->start(), std::nullopt);
  probe("urn:uuid:repeat");
  probe("urn:uuid:repeat");
  EXPECT_EQ(replies(std::chrono::milliseconds(200)).size(), 1u);
  // Burst of 20 distinct probes from one source: only the per-source bucket's worth is answered.
  for (int i = 0; i < 20; ++i) probe("urn:uuid:flood-" + std::to_string(i));
  const auto got = replies(std::chrono::milliseconds(300));
  EXPECT_LE(got.size(), 4u);
  EXPECT_GE(got.size(), 2u);
  EXPECT_GE(d->stats().rate_limited, 16u);
}

TEST_F(DiscoverySocket, NonDiscoverableNeitherAnswersNorListens) {
  auto d = make();
  ASSERT_EQ(d->start(), std::nullopt);
  ASSERT_EQ(d->set_discoverable(false), std::nullopt);
  probe("urn:uuid:hidden");
  EXPECT_TRUE(replies(std::chrono::milliseconds(200)).empty());
  EXPECT_EQ(d->stats().requests, 0u);
  ASSERT_EQ(d->set_discoverable(true), std::nullopt);
  probe("urn:uuid:visible");
  EXPECT_EQ(replies(std::chrono::milliseconds(200)).size(), 1u);
}

TEST_F(DiscoverySocket, StartNamesAnAddressItCannotServe) {
  DiscoveryOptions o;
  o.port = port;
  o.interfaces = {"192.0.2.254"};
  Discovery d(io, camera(), nullptr, o);
  const auto error = d.start();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("found 0 of 1"), std::string::npos) << *error;
}

}  // namespace
