// SPDX-License-Identifier: GPL-3.0-or-later
// RTSP 1.0 (RFC 2326) on the wire, without sockets: an incremental request parser that also separates the
// interleaved RTP/RTCP frames a client sends on the same TCP stream (§10.12; receiver reports arrive this way), a
// response builder, and the header values SETUP and PLAY need (Transport §12.39, Session §12.37, Range §12.29).
// Every input is bounded; a bad one gives a value naming the problem, never an exception.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace freehold::rtsp {

struct Header {
  std::string name;   // as sent
  std::string value;  // surrounding spaces removed, folded lines joined with one space
};

struct Request {
  std::string method;  // case-sensitive (§6.1): "OPTIONS", "DESCRIBE", "SETUP", ...
  std::string uri;     // as sent: "rtsp://host/stream/trackID=0" or "*"
  std::string cseq;    // the digits as sent, echoed in the response
  std::vector<Header> headers;  // in order; repeated headers kept
  std::string body;

  // The first header with this name, compared without regard to case.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
  [[nodiscard]] std::vector<std::string_view> header_values(std::string_view name) const;
};

// '$', channel, 16-bit length, payload: RTP or RTCP sent by the client inside the RTSP stream.
struct InterleavedFrame {
  std::uint8_t channel = 0;
  std::vector<std::uint8_t> payload;
};

using Message = std::variant<Request, InterleavedFrame>;

enum class ParseError : std::uint8_t {
  bad_request_line,    // 400
  bad_version,         // 505: not RTSP/1.0 (HTTP, RTSP 2.0)
  bad_header,          // 400
  bad_cseq,            // 400: missing, repeated or not a number
  bad_content_length,  // 400
  head_too_large,      // 431: request line and headers over the limit
  too_many_headers,    // 431
  body_too_large,      // 413
};

// The stream cannot be read past this point: answer `status` and close.
struct ParseFailure {
  ParseError error = ParseError::bad_request_line;
  int status = 400;
  std::string message;  // names the problem, for the log and the response body
};

struct ParserLimits {
  std::size_t head = 8 * 1024;   // request line + headers + the blank line
  std::size_t body = 64 * 1024;  // Content-Length
  std::size_t headers = 64;
};

// Bytes go in as they come off the socket; complete requests and interleaved frames come out in order.
// Usage: feed() what was read, then next() until it returns nothing; repeat with whatever feed() did not take.
// The buffer never holds more than one largest message, and whenever feed() takes less than it was given, next()
// yields a message or a failure, so that loop always progresses.
class MessageParser final {
 public:
  MessageParser() : MessageParser(ParserLimits{}) {}
  explicit MessageParser(ParserLimits limits);

  // How many of `bytes` were taken (0 once the stream has failed).
  [[nodiscard]] std::size_t feed(std::string_view bytes);
  // The next complete message; nullopt when more bytes are needed or after a failure.
  [[nodiscard]] std::optional<Message> next();

  [[nodiscard]] const std::optional<ParseFailure>& failure() const { return failure_; }
  [[nodiscard]] std::size_t buffered() const { return buffer_.size() - start_; }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }

 private:
  std::optional<Message> fail(ParseError error, std::string message);
  std::optional<Message> parse_head(std::size_t head_end);
  void consume(std::size_t n);

  ParserLimits limits_;
  std::size_t capacity_;
  std::string buffer_;
  std::size_t start_ = 0;       // where the current message begins in buffer_
  std::size_t scan_ = 0;        // how far (from start_) the search for the end of the head got
  std::optional<Request> pending_;  // head parsed, waiting for the body
  std::size_t body_length_ = 0;
  std::optional<ParseFailure> failure_;
};

// RFC 2326 §7.1.1 (plus 431 from RFC 6585); "Unknown" for codes it does not name.
[[nodiscard]] std::string_view reason_phrase(int status);

struct Response {
  int status = 200;
  std::vector<Header> headers;  // besides CSeq, Date, Server and Content-Length, which serialize() writes
  std::string body;

  Response& header(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
    return *this;
  }
};

// Status line, CSeq (left out when empty: the request's could not be read), Date (RFC 1123), Server, the extra
// headers, Content-Length when there is a body, the body. Extra headers with an invalid name or one that
// serialize() writes itself are dropped, and CR, LF and NUL are removed from values, so echoed client text cannot
// add headers.
[[nodiscard]] std::string serialize(const Response& response, std::string_view cseq, std::string_view server,
                                    std::chrono::system_clock::time_point now);

// "a-b", or "a" alone (then last == first; RTCP's port or channel is the caller's choice, usually first + 1).
struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

enum class LowerTransport : std::uint8_t { udp, tcp };

// One transport-spec of a Transport header (RFC 2326 §12.39).
struct Transport {
  LowerTransport lower = LowerTransport::udp;
  bool multicast = false;
  bool record = false;  // mode=RECORD; mode=PLAY is the default
  std::optional<PortRange> client_port, server_port, interleaved, port;
  std::optional<std::uint32_t> ssrc;
  std::optional<std::uint8_t> ttl;
  // Kept for the log only: sending media to an address the client names would make the camera a traffic cannon.
  std::optional<std::string> destination;
  friend bool operator==(const Transport&, const Transport&) = default;
};

// One alternative; nullopt if it is malformed or not RTP/AVP[/UDP|/TCP].
[[nodiscard]] std::optional<Transport> parse_transport_spec(std::string_view spec, std::string* error = nullptr);

struct TransportSupport {
  bool udp = true;
  bool tcp = true;
  bool multicast = false;
  bool record = false;
};

// The first alternative of a Transport header that is well-formed and supported (clients list them in order of
// preference). UDP unicast needs client_port. nullopt (answer 461 Unsupported Transport) with `error` naming why
// the last alternative was turned down.
[[nodiscard]] std::optional<Transport> choose_transport(std::string_view value, const TransportSupport& support = {},
                                                        std::string* error = nullptr);

// The Transport header of a SETUP response, e.g. "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=1A2B3C4D".
[[nodiscard]] std::string format_transport(const Transport& transport);

struct SessionHeader {
  std::string id;                        // 1-128 of [A-Za-z0-9$-_.+]
  std::optional<std::uint32_t> timeout;  // seconds
};

[[nodiscard]] std::optional<SessionHeader> parse_session(std::string_view value);
[[nodiscard]] std::string format_session(const SessionHeader& session);

// Only npt (normal play time) means anything for live video; smpte= and clock= give nullopt.
struct NptRange {
  std::optional<std::chrono::milliseconds> start;  // nullopt: "now" or not given
  std::optional<std::chrono::milliseconds> end;    // nullopt: open-ended
  friend bool operator==(const NptRange&, const NptRange&) = default;
};

[[nodiscard]] std::optional<NptRange> parse_range(std::string_view value);
// "npt=0.000-" style, for PLAY responses.
[[nodiscard]] std::string format_range(const NptRange& range);

}  // namespace freehold::rtsp
