// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the RTSP request parser (and, on every request it yields, the Transport, Session, Range and Authorization
// parsers and the response builder): the bytes are what a client sends on the TCP stream.
// Oracle: never crash; the buffer, every request and every frame stay within the limits; the feed/next loop always
// progresses; the same bytes in one piece, split in two at an input-chosen point, or (if small) one byte at a time
// give the same messages and the same failure; formatted Transport/Session/Range values parse back to themselves;
// an echoed header value cannot add a line to a response.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/crypto.hpp"
#include "rtsp/digest.hpp"
#include "rtsp/message.hpp"

using namespace freehold::rtsp;

namespace {

struct Outcome {
  std::vector<Message> messages;
  std::optional<ParseFailure> failure;
};

bool is_ctl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

void check(const Message& m, const ParserLimits& limits) {
  if (const auto* r = std::get_if<Request>(&m)) {
    if (r->headers.size() > limits.headers || r->body.size() > limits.body) std::abort();
    if (r->method.empty() || r->uri.empty() || r->method.size() + r->uri.size() > limits.head) std::abort();
    if (r->cseq.empty() || r->cseq.size() > 10) std::abort();
    for (const auto& h : r->headers) {
      if (h.name.empty()) std::abort();
      for (char c : h.value) {
        if (is_ctl(c) && c != '\t') std::abort();
      }
    }
  } else if (std::get<InterleavedFrame>(m).payload.size() > 0xffff) {
    std::abort();
  }
}

// Feeds the pieces in order, draining after each as a server does.
Outcome run(const std::vector<std::string_view>& pieces, const ParserLimits& limits) {
  MessageParser p(limits);
  Outcome out;
  for (std::string_view chunk : pieces) {
    while (!chunk.empty() && !p.failure()) {
      const std::size_t n = p.feed(chunk);
      chunk.remove_prefix(n);
      if (p.buffered() > p.capacity()) std::abort();
      bool progressed = n > 0;
      while (auto m = p.next()) {
        check(*m, limits);
        out.messages.push_back(std::move(*m));
        progressed = true;
      }
      if (!progressed && !p.failure()) std::abort();  // the loop would spin forever
    }
  }
  out.failure = p.failure();
  if (out.failure) {
    const int s = out.failure->status;
    if (s != 400 && s != 413 && s != 431 && s != 505) std::abort();
    if (out.failure->message.empty() || out.failure->message.find('\n') != std::string::npos) std::abort();
    if (p.feed("x") != 0 || p.next()) std::abort();  // a failed stream stays failed
  }
  return out;
}

bool same(const Message& a, const Message& b) {
  if (a.index() != b.index()) return false;
  if (const auto* ra = std::get_if<Request>(&a)) {
    const auto& rb = std::get<Request>(b);
    if (ra->method != rb.method || ra->uri != rb.uri || ra->cseq != rb.cseq || ra->body != rb.body ||
        ra->headers.size() != rb.headers.size()) {
      return false;
    }
    for (std::size_t i = 0; i < ra->headers.size(); ++i) {
      if (ra->headers[i].name != rb.headers[i].name || ra->headers[i].value != rb.headers[i].value) return false;
    }
    return true;
  }
  const auto &fa = std::get<InterleavedFrame>(a), &fb = std::get<InterleavedFrame>(b);
  return fa.channel == fb.channel && fa.payload == fb.payload;
}

void expect_same(const Outcome& a, const Outcome& b) {
  if (a.messages.size() != b.messages.size()) std::abort();
  for (std::size_t i = 0; i < a.messages.size(); ++i) {
    if (!same(a.messages[i], b.messages[i])) std::abort();
  }
  if (a.failure.has_value() != b.failure.has_value()) std::abort();
  if (a.failure && (a.failure->error != b.failure->error || a.failure->message != b.failure->message)) std::abort();
}

void exercise_headers(const Request& r) {
  static const DigestAuth auth("Freehold", std::string(32, 'k'));
  const auto now = DigestAuth::Clock::now();

  if (auto v = r.header("Transport")) {
    TransportSupport all;
    all.multicast = all.record = true;
    for (const auto& support : {TransportSupport{}, all}) {
      if (auto t = choose_transport(*v, support)) {
        if (parse_transport_spec(format_transport(*t)) != t) std::abort();
      }
    }
  }
  if (auto v = r.header("Session")) {
    if (auto s = parse_session(*v)) {
      auto again = parse_session(format_session(*s));
      if (!again || again->id != s->id || again->timeout != s->timeout) std::abort();
    }
  }
  if (auto v = r.header("Range")) {
    if (auto range = parse_range(*v)) {
      if (parse_range(format_range(*range)) != range) std::abort();
    }
  }
  for (auto v : r.header_values("Authorization")) {
    std::string error;
    if (auto c = parse_digest_authorization(v, &error)) {
      if (c->response.size() != 32) std::abort();
      (void)auth.verify(*c, r.method, r.uri, "correct horse battery", now);
      if (digest_response(*c, r.method, digest_ha1(c->username, c->realm, "pw")).size() != 32) std::abort();
    } else if (error.empty()) {
      std::abort();
    }
    (void)parse_basic_authorization(v);
  }

  // Echo Session and the URI (under the first header's name) as a server might: every header value is client text,
  // yet the response must have exactly one line per header it was given.
  Response resp;
  if (auto v = r.header("Session")) resp.header("Session", std::string(*v));
  const std::string echo_name = r.headers.empty() ? std::string("X-Echo") : r.headers.front().name;
  resp.header(echo_name, r.uri);
  auto ieq = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
    }
    return true;
  };
  const bool echo_dropped = ieq(echo_name, "CSeq") || ieq(echo_name, "Date") || ieq(echo_name, "Server") ||
                            ieq(echo_name, "Content-Length");
  const std::size_t expected = 5 /* status, CSeq, Date, Server, blank */ + resp.headers.size() - (echo_dropped ? 1 : 0);
  const std::string out = serialize(resp, r.cseq, "Freehold", std::chrono::system_clock::time_point{});
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = out.find('\n', at)) != std::string::npos; ++at, ++lines) {
    if (at == 0 || out[at - 1] != '\r') std::abort();
  }
  if (lines != expected || static_cast<std::size_t>(std::count(out.begin(), out.end(), '\r')) != lines) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  static const bool ready = freehold::crypto::init();
  if (!ready) std::abort();
  if (size > 256 * 1024) return -1;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // The default limits, and small ones so that every limit is reached by short inputs too.
  ParserLimits small;
  small.head = 200;
  small.body = 300;
  small.headers = 6;
  for (int pass = 0; pass < 2; ++pass) {
    const ParserLimits limits = pass == 0 ? ParserLimits{} : small;
    const Outcome whole = run({input}, limits);
    std::size_t cut = 0;
    for (std::size_t i = 0; i < size && i < 8; ++i) cut = cut * 131 + data[i];
    cut = size == 0 ? 0 : cut % (size + 1);
    expect_same(whole, run({input.substr(0, cut), input.substr(cut)}, limits));
    if (size <= 4096) {
      std::vector<std::string_view> bytes;
      for (std::size_t i = 0; i < size; ++i) bytes.push_back(input.substr(i, 1));
      expect_same(whole, run(bytes, limits));
    }
    if (pass == 1) break;
    for (const auto& m : whole.messages) {
      if (const auto* r = std::get_if<Request>(&m)) exercise_headers(*r);
    }
  }
  return 0;
}
