// SPDX-License-Identifier: GPL-3.0-or-later
// ONVIF device discovery: the Target Service of WS-Discovery 2005/04 (SOAP 1.2 over UDP, multicast
// 239.255.255.250:3702). The device announces itself (Hello, Bye) and answers Probe and Resolve with its endpoint
// reference, its types (dn:NetworkVideoTransmitter tds:Device), its scopes and its XAddrs: the device service URLs
// on the address the request came in on, so that the prober can reach them.
// The message functions are pure and fuzzed on their own; Discovery runs them on the I/O thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace freehold::onvif {

struct DiscoveryInfo {
  std::string endpoint;                // "urn:uuid:…": stable across reboots and interfaces (see endpoint_uuid)
  std::vector<std::string> scopes;     // "onvif://www.onvif.org/name/…", matched by probes
  std::uint32_t metadata_version = 1;  // raised whenever the scopes change
};

// "urn:uuid:…" derived from something persistent and unique to the device (a key's fingerprint, a serial number).
[[nodiscard]] std::string endpoint_uuid(std::string_view stable_id);

// An XML qualified name resolved to its namespace. `ns` is empty when the client gave no prefix or did not declare
// it (some do): such a type then matches on its local name alone.
struct TypeName {
  std::string ns;
  std::string local;
  bool operator==(const TypeName&) const = default;
};

struct Probe {
  std::string message_id;           // echoed in RelatesTo
  std::vector<TypeName> types;      // every one must be ours; none: any device
  std::vector<std::string> scopes;  // every one must match one of ours; none: any device
  std::string match_by;             // empty: the RFC 3986 prefix rule
};
struct Resolve {
  std::string message_id;
  std::string endpoint;  // the endpoint address asked for
};
struct Rejected {
  std::string reason;  // why the datagram is not a request we answer (for the log)
};

// Datagrams longer than this are not parsed: a real Probe is under 1 KiB, and the limit bounds the work one
// spoofed datagram can cause. At most max_probe_items types and as many scopes.
inline constexpr std::size_t max_request_bytes = 8 * 1024;
inline constexpr std::size_t max_probe_items = 32;

// A Probe or a Resolve. Anything else (Hello, Bye, ProbeMatches, our own messages, other SOAP) is Rejected, so a
// reply can never answer a reply.
[[nodiscard]] std::variant<Probe, Resolve, Rejected> parse_request(std::string_view datagram);

// WS-Discovery §5.1 with ONVIF's rules: the types we offer, MatchBy rfc3986 (also the default), rfc2396 and strcmp0;
// any other rule matches nothing.
[[nodiscard]] bool probe_matches(const Probe& probe, const DiscoveryInfo& info);
[[nodiscard]] bool resolve_matches(const Resolve& resolve, const DiscoveryInfo& info);

// The identity of one message we send: a fresh MessageID and its place in the application sequence (InstanceId
// grows on each start of the daemon, MessageNumber with each message).
struct Sequence {
  std::string message_id;  // "urn:uuid:…"
  std::uint32_t instance_id = 1;
  std::uint32_t message_number = 1;
};

[[nodiscard]] std::string build_probe_match(const Probe& probe, const DiscoveryInfo& info,
                                            const std::vector<std::string>& xaddrs, const Sequence& seq);
[[nodiscard]] std::string build_resolve_match(const Resolve& resolve, const DiscoveryInfo& info,
                                              const std::vector<std::string>& xaddrs, const Sequence& seq);
[[nodiscard]] std::string build_hello(const DiscoveryInfo& info, const std::vector<std::string>& xaddrs,
                                      const Sequence& seq);
[[nodiscard]] std::string build_bye(const DiscoveryInfo& info, const Sequence& seq);

struct DiscoveryOptions {
  std::uint16_t port = 3702;
  // IPv4 addresses of the interfaces to serve ("127.0.0.1" for tests). Empty: every interface that is up, has an
  // IPv4 address and can multicast, looked at again every `rescan` (a new one gets a Hello).
  std::vector<std::string> interfaces;
  std::chrono::seconds rescan{10};
  std::chrono::milliseconds max_delay{500};  // APP_MAX_DELAY: a reply to a multicast probe waits 0..this
  unsigned replies_per_second = 20;          // token buckets: all sources together ...
  unsigned replies_per_source = 4;           // ... and each source address (per second)
  std::size_t max_pending = 32;              // replies waiting for their delay; more are dropped
  std::uint32_t instance_id = 0;             // 0: seconds since the epoch at construction
};

// The device service URLs ("http://192.0.2.2/onvif/device_service") reachable at `local`, the address of the
// interface a request arrived on. Empty: no reply.
using XAddrsFor = std::function<std::vector<std::string>(const boost::asio::ip::address& local)>;

struct DiscoveryStats {
  std::uint64_t requests = 0;       // Probe and Resolve received
  std::uint64_t replies = 0;        // ProbeMatches and ResolveMatches sent
  std::uint64_t rejected = 0;       // datagrams that were not a request (including our own Hello and Bye)
  std::uint64_t rate_limited = 0;   // matching requests left unanswered by the rate limits or the pending bound
  std::uint64_t announcements = 0;  // Hello and Bye sent (one per interface)
};

// Call every member on the I/O thread of `io`.
class Discovery final {
 public:
  Discovery(boost::asio::io_context& io, DiscoveryInfo info, XAddrsFor xaddrs, DiscoveryOptions options = {});
  ~Discovery();  // stop()
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Opens the socket and, when discoverable, joins the group and says Hello. The error names address and port.
  [[nodiscard]] std::optional<std::string> start();
  // Says Bye (when discoverable) and closes the socket; pending replies are dropped.
  void stop();
  // New scopes: a Hello with a MetadataVersion above the previous one.
  void set_info(DiscoveryInfo info);
  // ONVIF's NonDiscoverable mode: Bye, then neither listens nor sends until switched back (Hello again).
  [[nodiscard]] std::optional<std::string> set_discoverable(bool on);
  [[nodiscard]] bool discoverable() const;
  [[nodiscard]] DiscoveryStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace freehold::onvif
