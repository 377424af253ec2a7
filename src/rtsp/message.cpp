// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/message.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

namespace freehold::rtsp {
namespace {

constexpr std::size_t kMaxFrame = 4 + 0xffff;  // '$', channel, 16-bit length, payload
constexpr std::size_t kMaxAlternatives = 16;
constexpr std::size_t kMaxParameters = 32;
constexpr std::size_t kMaxSessionId = 128;

bool is_ctl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// RFC 2616 §2.2 token characters (RTSP 1.0 borrows HTTP/1.1's grammar).
bool is_token_char(char c) {
  if (is_ctl(c) || static_cast<unsigned char>(c) >= 0x80) return false;
  return std::strchr("()<>@,;:\\\"/[]?={} \t", c) == nullptr;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower(x) == lower(y);
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Unsigned decimal of at most `max_digits` digits and no larger than `max`.
template <typename T>
std::optional<T> parse_number(std::string_view s, std::size_t max_digits, std::uint64_t max) {
  if (s.empty() || s.size() > max_digits || !std::all_of(s.begin(), s.end(), is_digit)) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  if (v > max) return std::nullopt;
  return static_cast<T>(v);
}

// Client text shown in a message: short and printable, so logs stay one line.
std::string excerpt(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (char c : s.substr(0, kMax)) out += is_ctl(c) || static_cast<unsigned char>(c) >= 0x80 ? '?' : c;
  if (s.size() > kMax) out += "...";
  return out;
}

// Splits on `sep` outside double quotes (mode="PLAY,RECORD" must not split a Transport list).
std::vector<std::string_view> split_unquoted(std::string_view s, char sep, std::size_t max_parts) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= s.size() && parts.size() < max_parts; ++i) {
    if (i == s.size() || (s[i] == sep && !quoted)) {
      parts.push_back(s.substr(begin, i - begin));
      begin = i + 1;
    } else if (s[i] == '"') {
      quoted = !quoted;
    }
  }
  return parts;
}

std::string_view unquote(std::string_view s) {
  return s.size() >= 2 && s.front() == '"' && s.back() == '"' ? s.substr(1, s.size() - 2) : s;
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::vector<std::string_view> Request::header_values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& h : headers) {
    if (iequals(h.name, name)) out.emplace_back(h.value);
  }
  return out;
}

MessageParser::MessageParser(ParserLimits limits)
    : limits_(limits), capacity_(std::max(limits.head + limits.body, kMaxFrame)) {}

std::size_t MessageParser::feed(std::string_view bytes) {
  if (failure_) return 0;
  if (start_ > 0) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  const std::size_t n = std::min(capacity_ - buffer_.size(), bytes.size());
  buffer_.append(bytes.data(), n);
  return n;
}

void MessageParser::consume(std::size_t n) {
  start_ += n;
  scan_ = 0;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
}

std::optional<Message> MessageParser::fail(ParseError error, std::string message) {
  int status = 400;
  switch (error) {
    case ParseError::bad_version: status = 505; break;
    case ParseError::head_too_large:
    case ParseError::too_many_headers: status = 431; break;
    case ParseError::body_too_large: status = 413; break;
    case ParseError::bad_request_line:
    case ParseError::bad_header:
    case ParseError::bad_cseq:
    case ParseError::bad_content_length: break;
  }
  failure_ = ParseFailure{error, status, std::move(message)};
  pending_.reset();
  return std::nullopt;
}

std::optional<Message> MessageParser::next() {
  if (failure_) return std::nullopt;
  if (pending_) {
    if (buffered() < body_length_) return std::nullopt;
    Request r = std::move(*pending_);
    pending_.reset();
    r.body.assign(buffer_, start_, body_length_);
    consume(body_length_);
    return r;
  }
  // Receivers ignore empty lines between messages (§4; some clients end a body with an extra CRLF).
  while (start_ < buffer_.size() && (buffer_[start_] == '\r' || buffer_[start_] == '\n')) consume(1);
  const std::size_t avail = buffered();
  if (avail == 0) return std::nullopt;
  const char* p = buffer_.data() + start_;

  if (p[0] == '$') {  // §10.12: the length field bounds the frame, whatever the channel
    if (avail < 4) return std::nullopt;
    const std::size_t length = static_cast<std::size_t>(static_cast<unsigned char>(p[2]) << 8) |
                               static_cast<unsigned char>(p[3]);
    if (avail < 4 + length) return std::nullopt;
    InterleavedFrame frame;
    frame.channel = static_cast<std::uint8_t>(p[1]);
    const auto* payload = reinterpret_cast<const std::uint8_t*>(p + 4);
    frame.payload.assign(payload, payload + length);
    consume(4 + length);
    return frame;
  }

  // The head ends at the first empty line; lines end in CRLF or, leniently (§4), a bare LF. Only the first
  // `limits_.head` bytes are searched, so a head that ends past the limit fails however the bytes were split.
  const std::size_t window = std::min(avail, limits_.head);
  while (scan_ < window) {
    const void* found = std::memchr(p + scan_, '\n', window - scan_);
    if (found == nullptr) {
      scan_ = window;
      break;
    }
    const std::size_t i = static_cast<std::size_t>(static_cast<const char*>(found) - p);
    if (i + 1 < window && p[i + 1] == '\n') return parse_head(i + 2);
    if (i + 2 < window && p[i + 1] == '\r' && p[i + 2] == '\n') return parse_head(i + 3);
    if (i + 1 >= window || (p[i + 1] == '\r' && i + 2 >= window)) {
      scan_ = i;  // look again once the next bytes are here
      break;
    }
    scan_ = i + 1;
  }
  if (avail >= limits_.head) {
    return fail(ParseError::head_too_large,
                "request line and headers exceed " + std::to_string(limits_.head) + " bytes");
  }
  return std::nullopt;
}

std::optional<Message> MessageParser::parse_head(std::size_t head_end) {
  std::string_view head(buffer_.data() + start_, head_end);
  auto take_line = [&head]() {
    const std::size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };

  Request r;
  const std::string_view line = take_line();
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    return fail(ParseError::bad_request_line, "request line is not 'METHOD URI RTSP/1.0': " + excerpt(line));
  }
  const std::string_view method = line.substr(0, sp1), uri = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (!is_token(method)) return fail(ParseError::bad_request_line, "bad method: " + excerpt(method));
  if (uri.empty() || std::any_of(uri.begin(), uri.end(), is_ctl)) {
    return fail(ParseError::bad_request_line, "bad request URI: " + excerpt(uri));
  }
  if (version != "RTSP/1.0") {
    if (version.starts_with("RTSP/") || version.starts_with("HTTP/")) {
      return fail(ParseError::bad_version, "only RTSP/1.0 is spoken here, not " + excerpt(version));
    }
    return fail(ParseError::bad_request_line, "request line is not 'METHOD URI RTSP/1.0': " + excerpt(line));
  }
  r.method = method;
  r.uri = uri;

  for (std::string_view h = take_line(); !h.empty(); h = take_line()) {
    if (h.front() == ' ' || h.front() == '\t') {  // obsolete line folding (RFC 2616 §2.2)
      if (r.headers.empty()) return fail(ParseError::bad_header, "continuation line before the first header");
      const std::string_view more = trim(h);
      if (std::any_of(more.begin(), more.end(), [](char c) { return is_ctl(c) && c != '\t'; })) {
        return fail(ParseError::bad_header, "control character in header " + excerpt(r.headers.back().name));
      }
      auto& value = r.headers.back().value;
      if (!more.empty()) value += value.empty() ? std::string(more) : " " + std::string(more);
      continue;
    }
    const std::size_t colon = h.find(':');
    const std::string_view name = h.substr(0, colon);
    if (colon == std::string_view::npos || !is_token(name)) {
      return fail(ParseError::bad_header, "header line is not 'Name: value': " + excerpt(h));
    }
    if (r.headers.size() == limits_.headers) {
      return fail(ParseError::too_many_headers, "more than " + std::to_string(limits_.headers) + " headers");
    }
    const std::string_view value = trim(h.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), [](char c) { return is_ctl(c) && c != '\t'; })) {
      return fail(ParseError::bad_header, "control character in header " + excerpt(name));
    }
    r.headers.push_back({std::string(name), std::string(value)});
  }

  const auto cseqs = r.header_values("CSeq");
  if (cseqs.size() != 1) {
    return fail(ParseError::bad_cseq, cseqs.empty() ? "missing CSeq header" : "more than one CSeq header");
  }
  if (!parse_number<std::uint64_t>(cseqs[0], 10, std::numeric_limits<std::uint64_t>::max())) {
    return fail(ParseError::bad_cseq, "CSeq is not a number of at most 10 digits: " + excerpt(cseqs[0]));
  }
  r.cseq = cseqs[0];

  std::optional<std::size_t> length;
  for (auto v : r.header_values("Content-Length")) {
    const auto n = parse_number<std::size_t>(v, 19, std::numeric_limits<std::int64_t>::max());
    if (!n) return fail(ParseError::bad_content_length, "Content-Length is not a number: " + excerpt(v));
    if (length && *length != *n) return fail(ParseError::bad_content_length, "conflicting Content-Length headers");
    length = n;
  }
  if (length && *length > limits_.body) {
    return fail(ParseError::body_too_large, "body of " + std::to_string(*length) + " bytes exceeds " +
                                                std::to_string(limits_.body));
  }

  consume(head_end);
  if (!length || *length == 0) return r;
  pending_ = std::move(r);
  body_length_ = *length;
  return next();
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 250: return "Low on Storage Space";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Moved Temporarily";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Time-out";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Parameter Not Understood";
    case 452: return "Conference Not Found";
    case 453: return "Not Enough Bandwidth";
    case 454: return "Session Not Found";
    case 455: return "Method Not Valid in This State";
    case 456: return "Header Field Not Valid for Resource";
    case 457: return "Invalid Range";
    case 458: return "Parameter Is Read-Only";
    case 459: return "Aggregate operation not allowed";
    case 460: return "Only aggregate operation allowed";
    case 461: return "Unsupported transport";
    case 462: return "Destination unreachable";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Time-out";
    case 505: return "RTSP Version not supported";
    case 551: return "Option not supported";
    default: return "Unknown";
  }
}

namespace {

// RFC 1123 date as HTTP/1.1 §3.3.1 prefers it: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto day = floor<days>(now);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<seconds>(now - day)};
  char out[96];
  std::snprintf(out, sizeof out, "%s, %02u %s %04d %02d:%02d:%02d GMT", kDays[weekday{day}.c_encoding()],
                static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return out;
}

bool written_by_serialize(std::string_view name) {
  return iequals(name, "CSeq") || iequals(name, "Date") || iequals(name, "Server") || iequals(name, "Content-Length");
}

void put_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  for (char c : value) {
    if (c != '\r' && c != '\n' && c != '\0') out += c;
  }
  out += "\r\n";
}

}  // namespace

std::string serialize(const Response& response, std::string_view cseq, std::string_view server,
                      std::chrono::system_clock::time_point now) {
  const int status = response.status >= 100 && response.status <= 999 ? response.status : 500;
  std::string out;
  out.reserve(256 + response.body.size());
  out += "RTSP/1.0 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\n";
  if (!cseq.empty()) put_header(out, "CSeq", cseq);
  put_header(out, "Date", http_date(now));
  if (!server.empty()) put_header(out, "Server", server);
  for (const auto& h : response.headers) {
    if (is_token(h.name) && !written_by_serialize(h.name)) put_header(out, h.name, h.value);
  }
  if (!response.body.empty()) put_header(out, "Content-Length", std::to_string(response.body.size()));
  out += "\r\n";
  out += response.body;
  return out;
}

namespace {

std::optional<PortRange> parse_port_range(std::string_view s, std::uint64_t max) {
  const std::size_t dash = s.find('-');
  const auto first = parse_number<std::uint16_t>(trim(s.substr(0, dash)), 5, max);
  if (!first) return std::nullopt;
  if (dash == std::string_view::npos) return PortRange{*first, *first};
  const auto last = parse_number<std::uint16_t>(trim(s.substr(dash + 1)), 5, max);
  if (!last || *last < *first) return std::nullopt;
  return PortRange{*first, *last};
}

std::optional<std::uint32_t> parse_hex32(std::string_view s) {
  if (s.empty() || s.size() > 8) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    const char l = lower(c);
    if (is_digit(l)) {
      v = v << 4 | static_cast<std::uint32_t>(l - '0');
    } else if (l >= 'a' && l <= 'f') {
      v = v << 4 | static_cast<std::uint32_t>(l - 'a' + 10);
    } else {
      return std::nullopt;
    }
  }
  return v;
}

// Host names and IPv4/IPv6 literals; anything else has no business in a destination.
bool is_address(std::string_view s) {
  return !s.empty() && s.size() <= 255 && std::all_of(s.begin(), s.end(), [](char c) {
    return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'z') || std::strchr(".:-_[]", c) != nullptr;
  });
}

void set_error(std::string* error, std::string message) {
  if (error) *error = std::move(message);
}

}  // namespace

std::optional<Transport> parse_transport_spec(std::string_view spec, std::string* error) {
  const auto params = split_unquoted(spec, ';', kMaxParameters + 1);
  if (params.size() > kMaxParameters) {
    set_error(error, "more than " + std::to_string(kMaxParameters) + " transport parameters");
    return std::nullopt;
  }
  Transport t;
  const std::string_view protocol = trim(params.empty() ? std::string_view() : params[0]);
  if (iequals(protocol, "RTP/AVP/TCP")) {
    t.lower = LowerTransport::tcp;
  } else if (!iequals(protocol, "RTP/AVP") && !iequals(protocol, "RTP/AVP/UDP")) {
    set_error(error, "transport " + excerpt(protocol) + " is not RTP/AVP, RTP/AVP/UDP or RTP/AVP/TCP");
    return std::nullopt;
  }
  bool seen_ports[4] = {};
  for (std::size_t i = 1; i < params.size(); ++i) {
    const std::string_view param = trim(params[i]);
    if (param.empty()) continue;
    const std::size_t eq = param.find('=');
    const std::string_view name = trim(param.substr(0, eq));
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : unquote(trim(param.substr(eq + 1)));
    auto bad = [&](std::string_view why) {
      set_error(error, "transport parameter " + excerpt(param) + ": " + std::string(why));
      return std::nullopt;
    };
    static constexpr std::string_view kPortNames[] = {"client_port", "server_port", "interleaved", "port"};
    std::optional<PortRange>* const port_fields[] = {&t.client_port, &t.server_port, &t.interleaved, &t.port};
    const auto* port_name = std::find_if(std::begin(kPortNames), std::end(kPortNames),
                                         [&](std::string_view n) { return iequals(name, n); });
    if (port_name != std::end(kPortNames)) {
      const auto k = static_cast<std::size_t>(port_name - std::begin(kPortNames));
      if (seen_ports[k]) return bad("given twice");
      seen_ports[k] = true;
      // Interleaved channels are one byte on the wire (§10.12).
      *port_fields[k] = parse_port_range(value, k == 2 ? 0xff : 0xffff);
      if (!*port_fields[k]) return bad(k == 2 ? "expected channels 'a-b' in 0-255" : "expected ports 'a-b' in 0-65535");
    } else if (iequals(name, "unicast")) {
      t.multicast = false;
    } else if (iequals(name, "multicast")) {
      t.multicast = true;
    } else if (iequals(name, "ssrc")) {
      if (!(t.ssrc = parse_hex32(value))) return bad("expected up to 8 hex digits");
    } else if (iequals(name, "ttl")) {
      if (!(t.ttl = parse_number<std::uint8_t>(value, 3, 255))) return bad("expected 0-255");
    } else if (iequals(name, "destination")) {
      if (!is_address(value)) return bad("expected a host name or address");
      t.destination = std::string(value);
    } else if (iequals(name, "mode")) {
      if (iequals(value, "PLAY")) {
        t.record = false;
      } else if (iequals(value, "RECORD")) {
        t.record = true;
      } else {
        return bad("expected PLAY or RECORD");
      }
    }
    // Others (source, append, layers, extensions) are ignored, as §12.39 asks.
  }
  return t;
}

std::optional<Transport> choose_transport(std::string_view value, const TransportSupport& support,
                                          std::string* error) {
  std::string why = "empty Transport header";
  for (std::string_view spec : split_unquoted(value, ',', kMaxAlternatives)) {
    auto t = parse_transport_spec(spec, &why);
    if (!t) continue;
    if (t->lower == LowerTransport::tcp && (!support.tcp || t->multicast)) {
      why = t->multicast ? "multicast over TCP is meaningless" : "RTP over TCP is not offered";
    } else if (t->lower == LowerTransport::udp && !support.udp) {
      why = "RTP over UDP is not offered";
    } else if (t->multicast && !support.multicast) {
      why = "multicast is not offered";
    } else if (t->record && !support.record) {
      why = "mode=RECORD is not offered";
    } else if (t->lower == LowerTransport::udp && !t->multicast && !t->client_port) {
      why = "UDP unicast without client_port";
    } else {
      return t;
    }
  }
  set_error(error, "no supported transport: " + why);
  return std::nullopt;
}

namespace {

void put_range(std::string& out, std::string_view name, const std::optional<PortRange>& r) {
  if (!r) return;
  out += ';';
  out += name;
  out += '=';
  out += std::to_string(r->first);
  if (r->last != r->first) out += '-' + std::to_string(r->last);
}

}  // namespace

std::string format_transport(const Transport& t) {
  std::string out = t.lower == LowerTransport::tcp ? "RTP/AVP/TCP" : "RTP/AVP";
  out += t.multicast ? ";multicast" : ";unicast";
  if (t.destination) out += ";destination=" + *t.destination;
  put_range(out, "client_port", t.client_port);
  put_range(out, "server_port", t.server_port);
  put_range(out, "interleaved", t.interleaved);
  put_range(out, "port", t.port);
  if (t.ttl) out += ";ttl=" + std::to_string(*t.ttl);
  if (t.ssrc) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08X", static_cast<unsigned>(*t.ssrc));
    out += ";ssrc=";
    out += hex;
  }
  if (t.record) out += ";mode=RECORD";
  return out;
}

std::optional<SessionHeader> parse_session(std::string_view value) {
  const auto params = split_unquoted(value, ';', kMaxParameters + 1);
  if (params.empty() || params.size() > kMaxParameters) return std::nullopt;
  SessionHeader s;
  const std::string_view id = trim(params[0]);
  const bool id_ok = !id.empty() && id.size() <= kMaxSessionId && std::all_of(id.begin(), id.end(), [](char c) {
    return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'z') || std::strchr("$-_.+", c) != nullptr;
  });
  if (!id_ok) return std::nullopt;
  s.id = id;
  for (std::size_t i = 1; i < params.size(); ++i) {
    const std::string_view param = trim(params[i]);
    if (!istarts_with(param, "timeout")) continue;
    const std::string_view rest = trim(param.substr(7));
    if (rest.empty() || rest.front() != '=') continue;
    s.timeout = parse_number<std::uint32_t>(trim(rest.substr(1)), 10, std::numeric_limits<std::uint32_t>::max());
    if (!s.timeout) return std::nullopt;
  }
  return s;
}

std::string format_session(const SessionHeader& session) {
  std::string out = session.id;
  if (session.timeout) out += ";timeout=" + std::to_string(*session.timeout);
  return out;
}

namespace {

struct NptTime {
  bool now = false;
  std::chrono::milliseconds at{0};
};

// npt-time (§3.6): "now" | seconds[.fraction] | h:mm:ss[.fraction]; fractions beyond milliseconds are dropped.
std::optional<NptTime> parse_npt_time(std::string_view s) {
  if (iequals(s, "now")) return NptTime{true, {}};
  std::int64_t ms = 0;
  const std::size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  if (dot != std::string_view::npos) {
    const std::string_view fraction = s.substr(dot + 1);
    if (fraction.size() > 9 || !std::all_of(fraction.begin(), fraction.end(), is_digit)) return std::nullopt;
    std::int64_t scale = 100;
    for (std::size_t i = 0; i < fraction.size() && i < 3; ++i, scale /= 10) ms += (fraction[i] - '0') * scale;
  }
  const std::size_t c1 = whole.find(':');
  if (c1 == std::string_view::npos) {
    const auto sec = parse_number<std::int64_t>(whole, 12, 999'999'999'999);
    if (!sec) return std::nullopt;
    return NptTime{false, std::chrono::milliseconds(*sec * 1000 + ms)};
  }
  const std::size_t c2 = whole.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return std::nullopt;
  // Six digits of hours (114 years) keep every time within the 12 digits of seconds format_range() writes.
  const auto h = parse_number<std::int64_t>(whole.substr(0, c1), 6, 999'999);
  const auto m = parse_number<std::int64_t>(whole.substr(c1 + 1, c2 - c1 - 1), 2, 59);
  const auto sec = parse_number<std::int64_t>(whole.substr(c2 + 1), 2, 59);
  if (!h || !m || !sec) return std::nullopt;
  return NptTime{false, std::chrono::milliseconds(((*h * 60 + *m) * 60 + *sec) * 1000 + ms)};
}

std::string format_npt(std::chrono::milliseconds t) {
  char out[64];
  std::snprintf(out, sizeof out, "%lld.%03lld", static_cast<long long>(t.count() / 1000),
                static_cast<long long>(t.count() % 1000));
  return out;
}

}  // namespace

std::optional<NptRange> parse_range(std::string_view value) {
  std::string_view v = trim(value.substr(0, value.find(';')));  // ";time=..." says when, not what: ignored
  if (!istarts_with(v, "npt")) return std::nullopt;
  v = trim(v.substr(3));
  if (v.empty() || v.front() != '=') return std::nullopt;
  v = trim(v.substr(1));
  const std::size_t dash = v.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view from = trim(v.substr(0, dash)), to = trim(v.substr(dash + 1));
  if (from.empty() && to.empty()) return std::nullopt;
  NptRange r;
  if (!from.empty()) {
    const auto t = parse_npt_time(from);
    if (!t) return std::nullopt;
    if (!t->now) r.start = t->at;
  }
  if (!to.empty()) {
    const auto t = parse_npt_time(to);
    if (!t) return std::nullopt;
    if (!t->now) r.end = t->at;
  }
  if (r.start && r.end && *r.end < *r.start) return std::nullopt;
  return r;
}

std::string format_range(const NptRange& range) {
  std::string out = "npt=" + (range.start ? format_npt(*range.start) : std::string("now")) + "-";
  if (range.end) out += format_npt(*range.end);
  return out;
}

}  // namespace freehold::rtsp
