// SPDX-License-Identifier: GPL-3.0-or-later
// The TLS 1.3 record layer of an established connection, in user space (RFC 8446 §5, §7.1, §7.5, §4.6.3): what kTLS
// does in the kernel. The relay hands each link to it once the handshake is done, and frees OpenSSL's per-connection
// state (about 10 KB), so that ten thousand idle links cost little: this keeps two traffic secrets, keys and
// sequence numbers. The secrets come from OpenSSL's key log callback on the relay's server context. Suites:
// TLS_AES_128_GCM_SHA256 and TLS_CHACHA20_POLY1305_SHA256 (the relay offers no other).
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace freehold::relay {

// Records the traffic and exporter secrets of every handshake on a server context, for Records::take.
void record_secrets(SSL_CTX* ctx);

class Records final {
 public:
  // The record layer of `ssl` (a server whose handshake has just completed and which has read and written nothing
  // since); nullopt when it cannot be taken over (another suite, bytes OpenSSL already buffered): keep using OpenSSL.
  [[nodiscard]] static std::optional<Records> take(SSL* ssl);
  using Secret = std::array<unsigned char, 32>;
  // From secrets known otherwise (the fuzzer, tests): `read` is the peer's traffic secret, `write` ours.
  [[nodiscard]] static std::optional<Records> from_secrets(bool chacha, const Secret& read, const Secret& write,
                                                           const Secret& exporter);

  Records(const Records&) = default;
  Records& operator=(const Records&) = default;
  ~Records();  // wipes the secrets and keys

  // RFC 8446 §7.5 exporter, no context, `length` ≤ 32 bytes; empty once forget_exporter() was called.
  [[nodiscard]] std::string exporter(std::string_view label, size_t length) const;
  // Wipes the exporter secret (the relay needs it only to check a link's admission).
  void forget_exporter();

  // Appends `data` to `out` as application-data records of at most 16 KiB of plaintext each (false: the cipher
  // failed, and the connection cannot go on).
  [[nodiscard]] bool seal(std::string_view data, std::string& out);
  // Appends a close_notify alert record.
  [[nodiscard]] bool seal_close_notify(std::string& out);

  enum class Result { data, more, closed, failed };
  // Opens the record at the start of [p, p + n) in place. `data`: its plaintext is [p + 5, p + 5 + *plain),
  // `*used` bytes were the record; `more`: the record is not complete yet (`*used` says how many bytes it needs
  // in all, once its header is there); `closed`: close_notify; `failed`: `error` says why. A KeyUpdate is handled
  // here (data with *plain == 0); when it asks for ours, `reply` gets the record to send first. More than 32 records
  // in a row without data (empty ones, KeyUpdates) fail, as in OpenSSL: they cost the relay work and the peer none.
  Result open(unsigned char* p, size_t n, size_t* used, size_t* plain, std::string* reply, std::string* error);

  static constexpr size_t kMaxRecord = 5 + (1 << 14) + 256;

 private:
  struct Direction {
    std::array<unsigned char, 32> secret{}, key{};
    std::array<unsigned char, 12> iv{};
    uint64_t seq = 0;
  };
  Records() = default;
  [[nodiscard]] bool set_keys(Direction& d) const;
  [[nodiscard]] bool update(Direction& d) const;  // the next traffic secret (KeyUpdate)
  [[nodiscard]] bool aead(bool seal, const Direction& d, const unsigned char* header, unsigned char* text, size_t len,
                          unsigned char* tag) const;
  [[nodiscard]] bool seal_record(uint8_t type, std::string_view data, std::string& out);

  bool chacha_ = false, have_exporter_ = true;
  int without_data_ = 0;  // records in a row that carried no data
  Direction read_, write_;
  std::array<unsigned char, 32> exporter_secret_{};
};

}  // namespace freehold::relay
