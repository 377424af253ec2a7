// SPDX-License-Identifier: GPL-3.0-or-later
// The device management service (ver10): identity, services and capabilities, time, scopes, network (read-only),
// discovery mode, users (through the accounts module and its password policy), reboot and factory default.
#include <boost/asio/awaitable.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <variant>
#include <sstream>

#include "core/crypto.hpp"
#include "core/settings.hpp"
#include "net/host_info.hpp"
#include "onvif/ops.hpp"
#include "onvif/service.hpp"
#include "web/offload.hpp"

namespace freehold::onvif {

namespace {

struct ServiceEntry {
  std::string_view ns;
  std::string_view path;
  int major, minor;
};

// Every service we answer; GetServices and GetCapabilities list exactly these.
constexpr ServiceEntry kServices[] = {
    {ns::tds, "device_service", 21, 12}, {ns::trt, "media_service", 21, 12},   {ns::tr2, "media2_service", 21, 12},
    {ns::tev, "events_service", 21, 12}, {ns::timg, "imaging_service", 21, 12}, {ns::tptz, "ptz_service", 21, 12},
    {ns::tmd, "deviceio_service", 21, 12},
};

std::string_view user_level(Role r) {
  switch (r) {
    case Role::admin: return "Administrator";
    case Role::operator_: return "Operator";
    case Role::viewer: return "User";
  }
  return "User";
}

std::optional<Role> role_of_level(std::string_view level) {
  if (level == "Administrator") return Role::admin;
  if (level == "Operator") return Role::operator_;
  if (level == "User") return Role::viewer;
  return std::nullopt;
}

OpResult get_device_information(Call& c) {
  auto r = c.reply.add("tds:GetDeviceInformationResponse");
  add(r, "tds:Manufacturer", c.deps.info.manufacturer);
  add(r, "tds:Model", c.deps.info.model);
  add(r, "tds:FirmwareVersion", c.deps.info.firmware_version);
  add(r, "tds:SerialNumber", c.deps.serial_number);
  add(r, "tds:HardwareId", c.deps.info.model);
  return std::nullopt;
}

void device_capabilities(pugi::xml_node caps) {
  auto net = add(caps, "tds:Network");
  attr(net, "IPFilter", "false");
  attr(net, "ZeroConfiguration", "false");
  attr(net, "IPVersion6", "true");
  attr(net, "DynDNS", "false");
  attr(net, "Dot11Configuration", "false");
  attr(net, "HostnameFromDHCP", "false");
  attr(net, "NTP", "0");
  auto sec = add(caps, "tds:Security");
  attr(sec, "TLS1.0", "false");
  attr(sec, "TLS1.1", "false");
  attr(sec, "TLS1.2", "true");
  attr(sec, "OnboardKeyGeneration", "false");
  attr(sec, "AccessPolicyConfig", "false");
  attr(sec, "DefaultAccessPolicy", "false");
  attr(sec, "Dot1X", "false");
  attr(sec, "RemoteUserHandling", "false");
  attr(sec, "X.509Token", "false");
  attr(sec, "SAMLToken", "false");
  attr(sec, "KerberosToken", "false");
  attr(sec, "UsernameToken", "true");
  attr(sec, "HttpDigest", "true");
  attr(sec, "RELToken", "false");
  attr(sec, "MaxUsers", "32");
  attr(sec, "MaxUserNameLength", "32");
  attr(sec, "MaxPasswordLength", "128");
  auto sys = add(caps, "tds:System");
  attr(sys, "DiscoveryResolve", "false");
  attr(sys, "DiscoveryBye", "true");
  attr(sys, "RemoteDiscovery", "false");
  attr(sys, "SystemBackup", "false");
  attr(sys, "SystemLogging", "false");
  attr(sys, "FirmwareUpgrade", "false");
  attr(sys, "HttpFirmwareUpgrade", "false");
  attr(sys, "HttpSystemBackup", "false");
  attr(sys, "HttpSystemLogging", "false");
  attr(sys, "HttpSupportInformation", "false");
  attr(sys, "StorageConfiguration", "false");
}

OpResult get_service_capabilities(Call& c) {
  device_capabilities(add(c.reply.add("tds:GetServiceCapabilitiesResponse"), "tds:Capabilities"));
  return std::nullopt;
}

OpResult get_services(Call& c) {
  const bool with_caps = text_of(child(c.req, "IncludeCapability")) == "true";
  auto r = c.reply.add("tds:GetServicesResponse");
  for (const auto& s : kServices) {
    auto svc = add(r, "tds:Service");
    add(svc, "tds:Namespace", s.ns);
    add(svc, "tds:XAddr", service_url(c, s.path));
    if (with_caps && s.ns == ns::tds) device_capabilities(add(add(svc, "tds:Capabilities"), "tds:Capabilities"));
    auto v = add(svc, "tds:Version");
    add(v, "tt:Major", s.major);
    add(v, "tt:Minor", s.minor);
  }
  return std::nullopt;
}

OpResult get_capabilities(Call& c) {
  std::string category = "All";
  for (auto n = c.req.first_child(); n; n = n.next_sibling()) {
    if (local_name(n) == "Category") category = text_of(n);
  }
  static constexpr std::string_view known[] = {"All", "Analytics", "Device", "Events", "Imaging", "Media", "PTZ"};
  if (std::find(std::begin(known), std::end(known), category) == std::end(known)) {
    return invalid_arg("unknown capability category " + category.substr(0, 40));
  }
  if (category == "Analytics") {
    return receiver_fault("ter:ActionNotSupported", "no analytics service", "ter:NoSuchService");
  }
  const auto want = [&](std::string_view cat) { return category == "All" || category == cat; };
  auto caps = add(c.reply.add("tds:GetCapabilitiesResponse"), "tds:Capabilities");
  if (want("Device")) {
    auto d = add(caps, "tt:Device");
    add(d, "tt:XAddr", service_url(c, "device_service"));
    auto net = add(d, "tt:Network");
    add(net, "tt:IPFilter", "false");
    add(net, "tt:ZeroConfiguration", "false");
    add(net, "tt:IPVersion6", "true");
    add(net, "tt:DynDNS", "false");
    auto sys = add(d, "tt:System");
    add(sys, "tt:DiscoveryResolve", "false");
    add(sys, "tt:DiscoveryBye", "true");
    add(sys, "tt:RemoteDiscovery", "false");
    add(sys, "tt:SystemBackup", "false");
    add(sys, "tt:SystemLogging", "false");
    add(sys, "tt:FirmwareUpgrade", "false");
    for (auto [major, minor] : {std::pair{2, 0}, std::pair{21, 12}}) {
      auto v = add(sys, "tt:SupportedVersions");
      add(v, "tt:Major", major);
      add(v, "tt:Minor", minor);
    }
    auto io = add(d, "tt:IO");
    add(io, "tt:InputConnectors", 0);
    add(io, "tt:RelayOutputs", 0);
    auto sec = add(d, "tt:Security");
    add(sec, "tt:TLS1.1", "false");
    add(sec, "tt:TLS1.2", "true");
    add(sec, "tt:OnboardKeyGeneration", "false");
    add(sec, "tt:AccessPolicyConfig", "false");
    add(sec, "tt:X.509Token", "false");
    add(sec, "tt:SAMLToken", "false");
    add(sec, "tt:KerberosToken", "false");
    add(sec, "tt:RELToken", "false");
  }
  if (want("Events")) {
    auto e = add(caps, "tt:Events");
    add(e, "tt:XAddr", service_url(c, "events_service"));
    add(e, "tt:WSSubscriptionPolicySupport", "false");
    add(e, "tt:WSPullPointSupport", "true");
    add(e, "tt:WSPausableSubscriptionManagerInterfaceSupport", "false");
  }
  if (want("Imaging")) add(add(caps, "tt:Imaging"), "tt:XAddr", service_url(c, "imaging_service"));
  if (want("Media")) {
    auto m = add(caps, "tt:Media");
    add(m, "tt:XAddr", service_url(c, "media_service"));
    auto sc = add(m, "tt:StreamingCapabilities");
    add(sc, "tt:RTPMulticast", "false");
    add(sc, "tt:RTP_TCP", "false");
    add(sc, "tt:RTP_RTSP_TCP", "true");
  }
  if (want("PTZ")) add(add(caps, "tt:PTZ"), "tt:XAddr", service_url(c, "ptz_service"));
  if (category == "All") {
    auto ext = add(caps, "tt:Extension");
    auto io = add(ext, "tt:DeviceIO");
    add(io, "tt:XAddr", service_url(c, "deviceio_service"));
    add(io, "tt:VideoSources", 1);
    add(io, "tt:VideoOutputs", 0);
    add(io, "tt:AudioSources", 0);
    add(io, "tt:AudioOutputs", 0);
    add(io, "tt:RelayOutputs", 0);
  }
  return std::nullopt;
}

void write_datetime(pugi::xml_node parent, std::string_view name, const std::tm& tm) {
  auto dt = add(parent, name);
  auto t = add(dt, "tt:Time");
  add(t, "tt:Hour", tm.tm_hour);
  add(t, "tt:Minute", tm.tm_min);
  add(t, "tt:Second", tm.tm_sec);
  auto d = add(dt, "tt:Date");
  add(d, "tt:Year", tm.tm_year + 1900);
  add(d, "tt:Month", tm.tm_mon + 1);
  add(d, "tt:Day", tm.tm_mday);
}

OpResult get_system_date_and_time(Call& c) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  auto sdt = add(c.reply.add("tds:GetSystemDateAndTimeResponse"), "tds:SystemDateAndTime");
  add(sdt, "tt:DateTimeType", "Manual");
  add(sdt, "tt:DaylightSavings", "false");
  add(add(sdt, "tt:TimeZone"), "tt:TZ", "UTC0");
  write_datetime(sdt, "tt:UTCDateTime", utc);
  write_datetime(sdt, "tt:LocalDateTime", utc);
  return std::nullopt;
}

int field(pugi::xml_node parent, std::string_view name) {
  try {
    return std::stoi(text_of(child(parent, name)));
  } catch (...) {
    return -1;
  }
}

OpResult set_system_date_and_time(Call& c) {
  const std::string type = text_of(child(c.req, "DateTimeType"));
  if (type != "Manual" && type != "NTP") return invalid_arg("DateTimeType must be Manual or NTP");
  if (type == "NTP") {
    return invalid_arg("no NTP server is configured: the device makes no connection its owner did not configure",
                       "ter:NtpServerUndefined");
  }
  const std::string tz = text_of(child(child(c.req, "TimeZone"), "TZ"));
  if (!tz.empty() && tz != "UTC0" && tz != "UTC" && tz != "GMT0" && tz != "GMT") {
    return invalid_arg("the device keeps UTC; set the time zone in the client", "ter:InvalidTimeZone");
  }
  const auto utc = child(c.req, "UTCDateTime");
  if (!utc) return invalid_arg("UTCDateTime is required for Manual", "ter:InvalidDateTime");
  const auto t = child(utc, "Time"), d = child(utc, "Date");
  std::tm tm{};
  tm.tm_hour = field(t, "Hour");
  tm.tm_min = field(t, "Minute");
  tm.tm_sec = field(t, "Second");
  tm.tm_year = field(d, "Year") - 1900;
  tm.tm_mon = field(d, "Month") - 1;
  tm.tm_mday = field(d, "Day");
  if (tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60 ||
      tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31) {
    return invalid_arg("UTCDateTime is not a valid date and time", "ter:InvalidDateTime");
  }
  if (c.deps.host_is_not_device) {
    return sender_fault("ter:OperationProhibited",
                        "this freeholdd runs on a host it does not own (demo): it does not set the host's clock");
  }
  const std::time_t when = timegm(&tm);
  timespec ts{when, 0};
  if (clock_settime(CLOCK_REALTIME, &ts) != 0) {
    return receiver_fault("ter:Action", std::string("setting the clock failed: ") + std::strerror(errno));
  }
  c.reply.add("tds:SetSystemDateAndTimeResponse");
  return std::nullopt;
}

OpResult get_scopes(Call& c) {
  auto r = c.reply.add("tds:GetScopesResponse");
  for (const auto& [uri, fixed] : device_scopes(c.deps.model.config(), c.deps.info.model)) {
    auto s = add(r, "tds:Scopes");
    add(s, "tt:ScopeDef", fixed ? "Fixed" : "Configurable");
    add(s, "tt:ScopeItem", uri);
  }
  return std::nullopt;
}

std::vector<std::string> configurable_scopes(const Call& c) {
  std::vector<std::string> out;
  std::istringstream words(c.deps.model.config().get_string("onvif.scopes"));
  std::string s;
  while (words >> s) out.push_back(s);
  return out;
}

OpResult save_scopes(Call& c, const std::vector<std::string>& list, std::string_view response) {
  std::string joined;
  for (const auto& s : list) joined += (joined.empty() ? "" : " ") + s;
  if (auto f = apply_settings(c, {{"onvif.scopes", Value{joined}}})) return f;
  c.reply.add(response);
  return std::nullopt;
}

std::vector<std::string> scope_items(pugi::xml_node req) {
  std::vector<std::string> out;
  for (auto n = req.first_child(); n; n = n.next_sibling()) {
    if (local_name(n) == "Scopes" || local_name(n) == "ScopeItem") out.push_back(text_of(n));
  }
  return out;
}

OpResult set_scopes(Call& c) { return save_scopes(c, scope_items(c.req), "tds:SetScopesResponse"); }

OpResult add_scopes(Call& c) {
  auto list = configurable_scopes(c);
  for (auto& s : scope_items(c.req)) {
    if (std::find(list.begin(), list.end(), s) == list.end()) list.push_back(std::move(s));
  }
  return save_scopes(c, list, "tds:AddScopesResponse");
}

OpResult remove_scopes(Call& c) {
  auto list = configurable_scopes(c);
  const auto gone = scope_items(c.req);
  for (const auto& s : gone) {
    auto it = std::find(list.begin(), list.end(), s);
    if (it == list.end()) {
      return invalid_arg("not a configurable scope of this device: " + s.substr(0, 120), "ter:NoScope");
    }
    list.erase(it);
  }
  if (auto f = save_scopes(c, list, "tds:RemoveScopesResponse")) return f;
  auto r = c.reply.body().first_child();
  for (const auto& s : gone) add(r, "tds:ScopeItem", s);
  return std::nullopt;
}

OpResult get_hostname(Call& c) {
  auto h = add(c.reply.add("tds:GetHostnameResponse"), "tds:HostnameInformation");
  add(h, "tt:FromDHCP", "false");
  add(h, "tt:Name", net::hostname());
  return std::nullopt;
}

OpResult get_network_interfaces(Call& c) {
  auto r = c.reply.add("tds:GetNetworkInterfacesResponse");
  for (const auto& i : net::interfaces()) {
    auto n = add(r, "tds:NetworkInterfaces");
    attr(n, "token", i.name);
    add(n, "tt:Enabled", xs_bool(i.up));
    auto info = add(n, "tt:Info");
    add(info, "tt:Name", i.name);
    add(info, "tt:HwAddress", i.mac.empty() ? "00:00:00:00:00:00" : i.mac);
    add(info, "tt:MTU", i.mtu);
    bool any_v4 = false;
    for (const auto& a : i.addresses) any_v4 = any_v4 || !a.v6;
    auto v4 = add(n, "tt:IPv4");
    add(v4, "tt:Enabled", xs_bool(any_v4));
    auto cfg = add(v4, "tt:Config");
    for (const auto& a : i.addresses) {
      if (a.v6) continue;
      auto m = add(cfg, "tt:Manual");
      add(m, "tt:Address", a.address);
      add(m, "tt:PrefixLength", a.prefix_length);
    }
    add(cfg, "tt:DHCP", "false");
  }
  return std::nullopt;
}

OpResult get_dns(Call& c) {
  auto d = add(c.reply.add("tds:GetDNSResponse"), "tds:DNSInformation");
  add(d, "tt:FromDHCP", "false");
  for (const auto& s : net::dns_servers()) {
    auto m = add(d, "tt:DNSManual");
    const bool v6 = s.find(':') != std::string::npos;
    add(m, "tt:Type", v6 ? "IPv6" : "IPv4");
    add(m, v6 ? "tt:IPv6Address" : "tt:IPv4Address", s);
  }
  return std::nullopt;
}

OpResult get_ntp(Call& c) {
  // No NTP server unless the owner configures one: the device makes no connection it was not told to make.
  auto n = add(c.reply.add("tds:GetNTPResponse"), "tds:NTPInformation");
  add(n, "tt:FromDHCP", "false");
  return std::nullopt;
}

OpResult get_default_gateway(Call& c) {
  auto g = add(c.reply.add("tds:GetNetworkDefaultGatewayResponse"), "tds:NetworkGateway");
  for (const auto& a : net::default_gateways()) add(g, "tt:IPv4Address", a);
  return std::nullopt;
}

OpResult get_network_protocols(Call& c) {
  auto r = c.reply.add("tds:GetNetworkProtocolsResponse");
  auto proto = [&](std::string_view name, bool on, int port) {
    auto p = add(r, "tds:NetworkProtocols");
    add(p, "tt:Name", name);
    add(p, "tt:Enabled", xs_bool(on));
    add(p, "tt:Port", port);
  };
  proto("HTTP", c.deps.plain_port != 0, c.deps.plain_port != 0 ? c.deps.plain_port : 80);
  proto("HTTPS", true, c.deps.https_port);
  proto("RTSP", c.deps.rtsp_port != 0, c.deps.rtsp_port != 0 ? c.deps.rtsp_port : 554);
  return std::nullopt;
}

OpResult refuse_network_change(Call&) {
  return sender_fault("ter:OperationProhibited",
                      "the network is configured by the operating system, not over ONVIF; nothing was changed");
}

OpResult get_discovery_mode(Call& c) {
  const bool on = c.deps.model.config().get_bool("onvif.discoverable");
  add(c.reply.add("tds:GetDiscoveryModeResponse"), "tds:DiscoveryMode", on ? "Discoverable" : "NonDiscoverable");
  return std::nullopt;
}

OpResult set_discovery_mode(Call& c) {
  const std::string mode = text_of(child(c.req, "DiscoveryMode"));
  if (mode != "Discoverable" && mode != "NonDiscoverable") {
    return invalid_arg("DiscoveryMode must be Discoverable or NonDiscoverable");
  }
  if (auto f = apply_settings(c, {{"onvif.discoverable", Value{mode == "Discoverable"}}})) return f;
  c.reply.add("tds:SetDiscoveryModeResponse");
  return std::nullopt;
}

OpResult get_wsdl_url(Call& c) {
  add(c.reply.add("tds:GetWsdlUrlResponse"), "tds:WsdlUrl", "https://www.onvif.org/profiles/specifications/");
  return std::nullopt;
}

OpResult get_endpoint_reference(Call& c) {
  add(c.reply.add("tds:GetEndpointReferenceResponse"), "tds:GUID", c.deps.endpoint_uuid);
  return std::nullopt;
}

OpResult system_reboot(Call& c) {
  add(c.reply.add("tds:SystemRebootResponse"), "tds:Message", "Rebooting in 1 second");
  if (c.deps.reboot) c.deps.reboot();
  return std::nullopt;
}

OpResult set_factory_default(Call& c) {
  const std::string kind = text_of(child(c.req, "FactoryDefault"));
  if (kind == "Hard") {
    return sender_fault("ter:OperationProhibited",
                        "a hard reset (users and keys too) needs physical access: the reset button, or "
                        "deleting the state directory");
  }
  if (kind != "Soft") return invalid_arg("FactoryDefault must be Soft or Hard");
  // Soft: every setting back to its default, apart from those that decide how this client reaches the device.
  std::vector<std::pair<std::string, Value>> values;
  for (const auto& spec : settings_schema()) {
    if (spec.key.starts_with("http.") || spec.key.starts_with("rtsp.") || spec.key.starts_with("onvif.enabled")) {
      continue;
    }
    values.emplace_back(spec.key, spec.default_value);
  }
  if (auto f = apply_settings(c, values)) return f;
  c.reply.add("tds:SetSystemFactoryDefaultResponse");
  return std::nullopt;
}

OpResult get_users(Call& c) {
  auto r = c.reply.add("tds:GetUsersResponse");
  for (const auto& u : c.deps.accounts.list()) {
    auto n = add(r, "tds:User");
    add(n, "tt:Username", u.username);
    add(n, "tt:UserLevel", user_level(u.role));
  }
  return std::nullopt;
}

struct NewUser {
  std::string username, password;
  std::optional<Role> role;
};

// Not a coroutine: GCC 12 mishandles a capturing lambda built inside a co_await operand.
boost::asio::awaitable<std::string> hash_off_thread(const Call& c, std::string password) {
  return web::offload<std::string>(c.deps.slow_work, [pw = std::move(password)] { return crypto::hash_password(pw); });
}

std::variant<std::vector<NewUser>, Fault> users_of(const Call& c, bool need_password) {
  std::vector<NewUser> out;
  for (auto n = c.req.first_child(); n; n = n.next_sibling()) {
    if (local_name(n) != "User") continue;
    NewUser u{text_of(child(n, "Username")), child(n, "Password").text().get(),
              role_of_level(text_of(child(n, "UserLevel")))};
    if (auto e = check_username(u.username)) return invalid_arg(*e, "ter:UsernameTooLong");
    if (!u.role) return invalid_arg("UserLevel must be Administrator, Operator or User", "ter:AnonymousNotAllowed");
    if (need_password || !u.password.empty()) {
      if (auto e = check_password_policy(u.username, u.password)) return invalid_arg(*e, "ter:PasswordTooWeak");
    }
    out.push_back(std::move(u));
  }
  if (out.empty()) return invalid_arg("no User given");
  if (out.size() > 32) return invalid_arg("too many users in one request");
  return out;
}

boost::asio::awaitable<OpResult> create_users(Call& c) {
  auto parsed = users_of(c, true);
  if (auto* f = std::get_if<Fault>(&parsed)) co_return *f;
  auto& users = std::get<std::vector<NewUser>>(parsed);
  for (const auto& u : users) {
    if (c.deps.accounts.find(u.username)) {
      co_return sender_fault("ter:OperationProhibited", "user " + u.username + " already exists", "ter:UsernameClash");
    }
  }
  for (const auto& u : users) {
    std::string hash = co_await hash_off_thread(c, u.password);
    if (auto e = c.deps.accounts.create(u.username, *u.role, hash, u.password)) co_return invalid_arg(*e);
    c.deps.audit.record(c.who.actor, c.who.source, "user_created", u.username + " (ONVIF)");
  }
  c.reply.add("tds:CreateUsersResponse");
  co_return std::nullopt;
}

boost::asio::awaitable<OpResult> set_user(Call& c) {
  auto parsed = users_of(c, false);
  if (auto* f = std::get_if<Fault>(&parsed)) co_return *f;
  auto& users = std::get<std::vector<NewUser>>(parsed);
  for (const auto& u : users) {
    auto existing = c.deps.accounts.find(u.username);
    if (!existing) co_return invalid_arg("no user named " + u.username, "ter:UsernameMissing");
    if (existing->user.role == Role::admin && *u.role != Role::admin && c.deps.accounts.admin_count() <= 1) {
      co_return sender_fault("ter:OperationProhibited", "the last administrator cannot lose the role",
                             "ter:FixedUser");
    }
  }
  for (const auto& u : users) {
    if (auto e = c.deps.accounts.set_role(u.username, *u.role)) co_return invalid_arg(*e);
    if (!u.password.empty()) {
      std::string hash = co_await hash_off_thread(c, u.password);
      if (auto e = c.deps.accounts.set_password(u.username, hash, u.password)) co_return invalid_arg(*e);
    }
    c.deps.audit.record(c.who.actor, c.who.source, "user_updated", u.username + " (ONVIF)");
  }
  c.reply.add("tds:SetUserResponse");
  co_return std::nullopt;
}

OpResult delete_users(Call& c) {
  std::vector<std::string> names;
  for (auto n = c.req.first_child(); n; n = n.next_sibling()) {
    if (local_name(n) == "Username") names.push_back(text_of(n));
  }
  if (names.empty()) return invalid_arg("no Username given");
  for (const auto& name : names) {
    if (!c.deps.accounts.find(name)) return invalid_arg("no user named " + name, "ter:UsernameMissing");
  }
  for (const auto& name : names) {
    if (auto e = c.deps.accounts.remove(name)) return sender_fault("ter:OperationProhibited", *e, "ter:FixedUser");
    c.deps.audit.record(c.who.actor, c.who.source, "user_deleted", name + " (ONVIF)");
  }
  c.reply.add("tds:DeleteUsersResponse");
  return std::nullopt;
}

}  // namespace

const std::vector<Op>& device_ops() {
  constexpr auto pre = std::nullopt;
  static const std::vector<Op> ops = {
      {ns::tds, "GetSystemDateAndTime", pre, &get_system_date_and_time},
      {ns::tds, "GetCapabilities", pre, &get_capabilities},
      {ns::tds, "GetServices", pre, &get_services},
      {ns::tds, "GetServiceCapabilities", pre, &get_service_capabilities},
      {ns::tds, "GetWsdlUrl", pre, &get_wsdl_url},
      {ns::tds, "GetHostname", pre, &get_hostname},
      {ns::tds, "GetEndpointReference", pre, &get_endpoint_reference},
      {ns::tds, "GetDeviceInformation", Role::viewer, &get_device_information},
      {ns::tds, "GetScopes", Role::viewer, &get_scopes},
      {ns::tds, "SetScopes", Role::admin, &set_scopes},
      {ns::tds, "AddScopes", Role::admin, &add_scopes},
      {ns::tds, "RemoveScopes", Role::admin, &remove_scopes},
      {ns::tds, "GetNetworkInterfaces", Role::viewer, &get_network_interfaces},
      {ns::tds, "GetDNS", Role::viewer, &get_dns},
      {ns::tds, "GetNTP", Role::viewer, &get_ntp},
      {ns::tds, "GetNetworkDefaultGateway", Role::viewer, &get_default_gateway},
      {ns::tds, "GetNetworkProtocols", Role::viewer, &get_network_protocols},
      {ns::tds, "SetNetworkInterfaces", Role::admin, &refuse_network_change},
      {ns::tds, "SetDNS", Role::admin, &refuse_network_change},
      {ns::tds, "SetNTP", Role::admin, &refuse_network_change},
      {ns::tds, "SetHostname", Role::admin, &refuse_network_change},
      {ns::tds, "SetNetworkDefaultGateway", Role::admin, &refuse_network_change},
      {ns::tds, "SetNetworkProtocols", Role::admin, &refuse_network_change},
      {ns::tds, "GetDiscoveryMode", Role::viewer, &get_discovery_mode},
      {ns::tds, "SetDiscoveryMode", Role::admin, &set_discovery_mode},
      {ns::tds, "SetSystemDateAndTime", Role::admin, &set_system_date_and_time},
      {ns::tds, "SystemReboot", Role::admin, &system_reboot},
      {ns::tds, "SetSystemFactoryDefault", Role::admin, &set_factory_default},
      {ns::tds, "GetUsers", Role::admin, &get_users},
      {ns::tds, "CreateUsers", Role::admin, nullptr, &create_users},
      {ns::tds, "SetUser", Role::admin, nullptr, &set_user},
      {ns::tds, "DeleteUsers", Role::admin, &delete_users},
  };
  return ops;
}

}  // namespace freehold::onvif
