// SPDX-License-Identifier: GPL-3.0-or-later
#include "mqtt/client.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>

#include "core/log.hpp"

namespace freehold::mqtt {
namespace asio = boost::asio;

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(15);
constexpr auto kMiscInterval = std::chrono::seconds(1);

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

std::optional<std::string> decode_hex(std::string_view text) {
  std::string out;
  int high = -1;
  for (char c : text) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    const int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
    if (high < 0) {
      high = v;
    } else {
      out += static_cast<char>(high * 16 + v);
      high = -1;
    }
  }
  if (high >= 0) return std::nullopt;
  return out;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// What the TLS verification learned, for the log line that explains a refused broker.
struct TlsPolicy {
  std::string host;  // the name the certificate must carry (also sent as SNI)
  std::string pin;   // raw SHA-256, or empty
  std::string failure;
};

int tls_policy_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

TlsPolicy* policy_of(const SSL* ssl) {
  return static_cast<TlsPolicy*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_policy_index()));
}

int verify_callback(int ok, X509_STORE_CTX* store) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  TlsPolicy* policy = ssl ? policy_of(ssl) : nullptr;
  if (!policy) return ok;
  if (!ok) {
    const int err = X509_STORE_CTX_get_error(store);
    policy->failure = std::string("certificate not trusted: ") + X509_verify_cert_error_string(err);
    return 0;
  }
  if (X509_STORE_CTX_get_error_depth(store) == 0 && !policy->pin.empty()) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    if (!X509_digest(cert, EVP_sha256(), digest, &len) || len != policy->pin.size() ||
        CRYPTO_memcmp(digest, policy->pin.data(), len) != 0) {
      policy->failure = "certificate does not match mqtt.fingerprint";
      return 0;
    }
  }
  return 1;
}

// libmosquitto sends the address it connects to as SNI; we connect to an address we resolved ourselves, so the
// real name is set here, as the handshake starts (before the ClientHello is written).
void info_callback(const SSL* ssl, int where, int) {
  if (!(where & SSL_CB_HANDSHAKE_START)) return;
  TlsPolicy* policy = policy_of(ssl);
  boost::system::error_code ec;
  (void)asio::ip::make_address(policy ? policy->host : "", ec);
  if (policy && ec) {
    // SSL_set_tlsext_host_name() without its C cast.
    SSL_ctrl(const_cast<SSL*>(ssl), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, policy->host.data());
  }
}

}  // namespace

struct Client::Impl {
  asio::any_io_executor executor;
  ClientOptions options;
  ClientHandlers handlers;
  mosquitto* mosq = nullptr;
  SSL_CTX* ssl_ctx = nullptr;
  TlsPolicy tls_policy;
  asio::ip::tcp::resolver resolver;
  asio::steady_timer retry_timer;
  asio::steady_timer misc_timer;
  std::optional<asio::posix::stream_descriptor> socket;
  std::uint64_t generation = 0;  // bumped per connection: handlers of an older one do nothing
  bool write_armed = false;
  bool is_connected = false;
  bool connecting = false;
  bool stopping = false;
  bool ever_connected = false;  // a CONNACK accepted once: the protocol version is settled
  int protocol = MQTT_PROTOCOL_V5;
  int attempts = 0;
  std::string last_error;
  std::string lib_error;  // libmosquitto's last error log line
  std::mt19937 rng{std::random_device{}()};
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(asio::any_io_executor ex, ClientOptions o, ClientHandlers h)
      : executor(ex), options(std::move(o)), handlers(std::move(h)), resolver(ex), retry_timer(ex), misc_timer(ex) {}

  ~Impl() {
    *alive = false;
    release_socket();
    if (mosq) mosquitto_destroy(mosq);
    if (ssl_ctx) SSL_CTX_free(ssl_ctx);
  }

  std::optional<std::string> make_tls_context() {
    ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!ssl_ctx) return "cannot create a TLS context: " + openssl_error();
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_COMPRESSION);
    if (options.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(ssl_ctx) != 1) return "cannot load the system's CAs: " + openssl_error();
    } else if (SSL_CTX_load_verify_locations(ssl_ctx, options.ca_file.c_str(), nullptr) != 1) {
      return "mqtt.ca_file " + options.ca_file + ": cannot load (" + openssl_error() + ")";
    }
    if (!options.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ssl_ctx, options.cert_file.c_str()) != 1) {
        return "mqtt.cert_file " + options.cert_file + ": cannot load (" + openssl_error() + ")";
      }
      if (SSL_CTX_use_PrivateKey_file(ssl_ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(ssl_ctx) != 1) {
        return "mqtt.key_file " + options.key_file + ": cannot load, or not the certificate's key (" +
               openssl_error() + ")";
      }
    }
    tls_policy.host = options.host;
    if (!options.fingerprint.empty()) {
      auto pin = decode_hex(options.fingerprint);
      if (!pin || pin->size() != 32) return "mqtt.fingerprint is not a SHA-256 in hex";
      tls_policy.pin = *pin;
    }
    // The name (or address) in the URL must be in the certificate: OpenSSL checks it during the handshake.
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ssl_ctx);
    boost::system::error_code ec;
    (void)asio::ip::make_address(options.host, ec);
    if (!ec) {
      X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, options.host.c_str(), 0);
    }
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, verify_callback);
    SSL_CTX_set_ex_data(ssl_ctx, tls_policy_index(), &tls_policy);
    SSL_CTX_set_info_callback(ssl_ctx, info_callback);
    return std::nullopt;
  }

  std::optional<std::string> setup() {
    init_library();
    mosq = mosquitto_new(options.client_id.c_str(), true, this);
    if (!mosq) return "cannot create the MQTT client (out of memory, or a bad client id)";
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, protocol);
    mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (!options.username.empty() &&
        mosquitto_username_pw_set(mosq, options.username.c_str(),
                                  options.password.empty() ? nullptr : options.password.c_str()) != MOSQ_ERR_SUCCESS) {
      return "mqtt.username or mqtt.password is not valid UTF-8";
    }
    if (!options.will_topic.empty() &&
        mosquitto_will_set(mosq, options.will_topic.c_str(), static_cast<int>(options.will_payload.size()),
                           options.will_payload.data(), 1, true) != MOSQ_ERR_SUCCESS) {
      return "cannot set the last will on " + options.will_topic;
    }
    if (options.tls) {
      if (auto e = make_tls_context()) return e;
      mosquitto_void_option(mosq, MOSQ_OPT_SSL_CTX, ssl_ctx);
      mosquitto_int_option(mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
    }
    mosquitto_connect_v5_callback_set(mosq, [](mosquitto*, void* self, int rc, int flags, const mosquitto_property*) {
      static_cast<Impl*>(self)->on_connack(rc, flags);
    });
    mosquitto_disconnect_v5_callback_set(mosq, [](mosquitto*, void* self, int rc, const mosquitto_property*) {
      static_cast<Impl*>(self)->on_lost(rc);
    });
    mosquitto_publish_v5_callback_set(mosq, [](mosquitto*, void* self, int mid, int, const mosquitto_property*) {
      auto* impl = static_cast<Impl*>(self);
      if (impl->handlers.acknowledged) impl->handlers.acknowledged(mid);
    });
    mosquitto_message_v5_callback_set(
        mosq, [](mosquitto*, void* self, const mosquitto_message* m, const mosquitto_property* props) {
          static_cast<Impl*>(self)->on_message(m, props);
        });
    mosquitto_log_callback_set(mosq, [](mosquitto*, void* self, int level, const char* text) {
      if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) static_cast<Impl*>(self)->lib_error = text;
    });
    return std::nullopt;
  }

  void connect() {
    if (stopping) return;
    connecting = true;
    last_error.clear();
    lib_error.clear();
    tls_policy.failure.clear();
    const std::uint64_t gen = ++generation;
    resolver.async_resolve(
        options.host, std::to_string(options.port),
        [this, gen, alive = alive](const boost::system::error_code& ec, asio::ip::tcp::resolver::results_type r) {
          if (!*alive || gen != generation || stopping) return;
          if (ec || r.empty()) {
            fail("cannot resolve " + options.host + ": " + (ec ? ec.message() : "no address"));
            return;
          }
          const std::string address = r.begin()->endpoint().address().to_string();
          const int rc = mosquitto_connect_bind_async(mosq, address.c_str(), options.port,
                                                      static_cast<int>(options.keepalive.count()), nullptr);
          if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING) {
            // On loopback the TCP connection, and so the TLS handshake, can complete inside the call.
            const std::string why = failure_text(rc);
            fail(why.starts_with("TLS: ") ? why : "cannot connect to " + address + ": " + why);
            return;
          }
          attach_socket();
          arm_deadline(gen);
        });
  }

  static std::string error_text(int rc) {
    if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
    return mosquitto_strerror(rc);
  }

  // Why a connection failed: what the certificate check found, else libmosquitto's TLS complaint, else its error.
  std::string failure_text(int rc) const {
    if (!tls_policy.failure.empty()) return "TLS: " + tls_policy.failure;
    if (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_TLS_HANDSHAKE) {
      return "TLS: " + (lib_error.empty() ? std::string(mosquitto_strerror(rc)) : lib_error);
    }
    return rc == MOSQ_ERR_SUCCESS ? "disconnected" : error_text(rc);
  }

  void arm_deadline(std::uint64_t gen) {
    retry_timer.expires_after(kConnectTimeout);
    retry_timer.async_wait([this, gen, alive = alive](const boost::system::error_code& ec) {
      if (ec || !*alive || gen != generation || is_connected) return;
      fail("no answer from the broker within " + std::to_string(kConnectTimeout.count()) + " s");
    });
  }

  void attach_socket() {
    release_socket();
    const int fd = mosquitto_socket(mosq);
    if (fd < 0) return;
    socket.emplace(executor, fd);
    wait_read(generation);
    update_write_interest();
  }

  // The descriptor belongs to libmosquitto: we only watch it, and let go before the library closes it.
  void release_socket() {
    if (socket) {
      (void)socket->release();
      socket.reset();
    }
    write_armed = false;
  }

  void wait_read(std::uint64_t gen) {
    socket->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, gen, alive = alive](const boost::system::error_code& ec) {
                         if (ec || !*alive || gen != generation || !socket) return;
                         const int rc = mosquitto_loop_read(mosq, 1);
                         if (gen != generation) return;  // the callbacks ended this connection
                         if (rc != MOSQ_ERR_SUCCESS) {
                           on_lost(rc);
                           return;
                         }
                         wait_read(gen);
                         update_write_interest();
                       });
  }

  void update_write_interest() {
    if (!socket || write_armed || !mosquitto_want_write(mosq)) return;
    write_armed = true;
    const std::uint64_t gen = generation;
    socket->async_wait(asio::posix::stream_descriptor::wait_write,
                       [this, gen, alive = alive](const boost::system::error_code& ec) {
                         if (!*alive || gen != generation) return;
                         write_armed = false;
                         if (ec || !socket) return;
                         const int rc = mosquitto_loop_write(mosq, 1);
                         if (gen != generation) return;
                         if (rc != MOSQ_ERR_SUCCESS) {
                           on_lost(rc);
                           return;
                         }
                         update_write_interest();
                       });
  }

  void tick_misc() {
    misc_timer.expires_after(kMiscInterval);
    misc_timer.async_wait([this, alive = alive](const boost::system::error_code& ec) {
      if (ec || !*alive) return;
      if (socket) {
        const std::uint64_t gen = generation;
        const int rc = mosquitto_loop_misc(mosq);  // keep-alive PINGREQ, and its timeout
        if (gen == generation && rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) on_lost(rc);
        update_write_interest();
      }
      tick_misc();
    });
  }

  void set_protocol(int version) {
    protocol = version;
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, protocol);
  }

  void on_connack(int rc, int) {
    if (rc == 0) {
      connecting = false;
      is_connected = true;
      ever_connected = true;
      attempts = 0;
      last_error.clear();
      retry_timer.cancel();
      log::info("mqtt.connected", {{"broker", options.host + ":" + std::to_string(options.port)},
                                   {"protocol", protocol == MQTT_PROTOCOL_V5 ? "5" : "3.1.1"},
                                   {"tls", options.tls}});
      if (handlers.connected) handlers.connected();
      update_write_interest();
      return;
    }
    // MQTT 5 "unsupported protocol version" (0x84), or 3.1.1's refusal code 1: speak 3.1.1 instead.
    if (protocol == MQTT_PROTOCOL_V5 && (rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION || rc == 1)) {
      set_protocol(MQTT_PROTOCOL_V311);
      log::notice("mqtt.protocol_fallback", {{"broker", options.host}, {"protocol", "3.1.1"},
                                             {"reason", "unsupported protocol version"}});
      attempts = -1;  // the retry that follows is immediate
    }
    last_error = std::string("broker refused the connection: ") +
                 (protocol == MQTT_PROTOCOL_V5 && rc > 5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
  }

  void on_lost(int rc) {
    const bool was_connected = is_connected;
    if (!connecting && !was_connected) return;  // already handled for this connection
    ++generation;
    release_socket();
    is_connected = false;
    connecting = false;
    if (stopping) return;
    if (last_error.empty() || was_connected) last_error = failure_text(rc);
    if (was_connected) {
      log::warn("mqtt.disconnected", {{"broker", options.host}, {"reason", last_error}});
      if (handlers.disconnected) handlers.disconnected();
    } else if (tls_policy.failure.empty() && !ever_connected &&
               (rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_PROTOCOL || rc == MOSQ_ERR_MALFORMED_PACKET)) {
      // A 3.1.1-only broker (RabbitMQ's MQTT plugin, older mosquitto) may hang up on an MQTT 5 CONNECT, or answer
      // with a CONNACK that is not MQTT 5's, instead of the "unsupported protocol version" reason: try the other
      // version next, at once. Both failing this way is a broker that hangs up: keep alternating, with backoff.
      const bool to_311 = protocol == MQTT_PROTOCOL_V5;
      set_protocol(to_311 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5);
      if (to_311) {
        log::notice("mqtt.protocol_fallback", {{"broker", options.host}, {"protocol", "3.1.1"}, {"reason", last_error}});
        attempts = -1;
      }
    }
    schedule_retry(was_connected);
  }

  void fail(std::string reason) {
    ++generation;
    release_socket();
    if (mosq) mosquitto_disconnect(mosq);
    connecting = false;
    is_connected = false;
    last_error = std::move(reason);
    schedule_retry(false);
  }

  void schedule_retry(bool was_connected) {
    if (stopping) return;
    // 1 s, 2 s, 4 s ... up to the maximum, each scaled by a random factor in [0.5, 1] so that a fleet of devices
    // does not return to a restarted broker in step.
    const int n = std::max(0, attempts);
    auto base = options.backoff_min * (1LL << std::min(n, 16));
    if (base > options.backoff_max) base = options.backoff_max;
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    const auto delay = attempts < 0 ? std::chrono::milliseconds(0)
                                    : std::chrono::milliseconds(static_cast<std::int64_t>(base.count() * jitter(rng)));
    attempts = std::max(0, attempts) + 1;
    if (!was_connected) {
      log::warn("mqtt.connect_failed", {{"broker", options.host + ":" + std::to_string(options.port)},
                                        {"error", last_error},
                                        {"retry_in_ms", static_cast<std::int64_t>(delay.count())}});
    }
    const std::uint64_t gen = generation;
    retry_timer.expires_after(delay);
    retry_timer.async_wait([this, gen, alive = alive](const boost::system::error_code& ec) {
      if (ec || !*alive || gen != generation) return;
      connect();
    });
  }

  void on_message(const mosquitto_message* m, const mosquitto_property* props) {
    if (!handlers.message || !m || !m->topic) return;
    Message msg;
    msg.topic = m->topic;
    if (m->payload && m->payloadlen > 0) msg.payload.assign(static_cast<const char*>(m->payload), m->payloadlen);
    msg.retain = m->retain;
    char* response = nullptr;
    if (mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response, false)) {
      msg.response_topic = response;
      std::free(response);
    }
    void* data = nullptr;
    std::uint16_t len = 0;
    if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &len, false)) {
      msg.correlation.assign(static_cast<const char*>(data), len);
      std::free(data);
    }
    handlers.message(msg);
  }
};

Client::Client(asio::any_io_executor executor, ClientOptions options, ClientHandlers handlers)
    : impl_(std::make_unique<Impl>(executor, std::move(options), std::move(handlers))) {}

Client::~Client() = default;

std::optional<std::string> Client::start() {
  if (auto e = impl_->setup()) return e;
  impl_->tick_misc();
  impl_->connect();
  return std::nullopt;
}

void Client::stop(std::chrono::milliseconds grace) {
  Impl& d = *impl_;
  d.stopping = true;
  d.retry_timer.cancel();
  d.misc_timer.cancel();
  d.resolver.cancel();
  if (!d.is_connected) {
    d.release_socket();
    return;
  }
  d.release_socket();
  mosquitto_disconnect(d.mosq);  // a normal DISCONNECT: the broker drops the will
  const int fd = mosquitto_socket(d.mosq);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (fd >= 0 && mosquitto_want_write(d.mosq) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 50) > 0 && mosquitto_loop_write(d.mosq, 1) != MOSQ_ERR_SUCCESS) break;
  }
  d.is_connected = false;
}

int Client::publish(std::string_view topic, std::string_view payload, int qos, bool retain,
                    std::string_view correlation) {
  Impl& d = *impl_;
  if (!d.is_connected) return 0;
  mosquitto_property* props = nullptr;
  if (!correlation.empty() && d.protocol == MQTT_PROTOCOL_V5) {
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation.data(),
                                  static_cast<std::uint16_t>(std::min<size_t>(correlation.size(), 65535)));
  }
  int mid = 0;
  const std::string t(topic);
  const int rc = mosquitto_publish_v5(d.mosq, &mid, t.c_str(), static_cast<int>(payload.size()), payload.data(), qos,
                                      retain, props);
  mosquitto_property_free_all(&props);
  if (rc != MOSQ_ERR_SUCCESS) {
    log::warn("mqtt.publish_failed", {{"topic", t}, {"error", mosquitto_strerror(rc)}});
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) d.on_lost(rc);
    return 0;
  }
  d.update_write_interest();
  return mid > 0 ? mid : 1;
}

bool Client::subscribe(std::string_view filter, int qos) {
  Impl& d = *impl_;
  if (!d.is_connected) return false;
  const std::string f(filter);
  // Retain As Published (MQTT 5): a retained message keeps its flag even when it arrives live, so that the adapter
  // can tell a retained command from a fresh one. 3.1.1 brokers reject the option bits: none there.
  const int options = d.protocol == MQTT_PROTOCOL_V5 ? MQTT_SUB_OPT_RETAIN_AS_PUBLISHED : 0;
  const int rc = mosquitto_subscribe_v5(d.mosq, nullptr, f.c_str(), qos, options, nullptr);
  d.update_write_interest();
  return rc == MOSQ_ERR_SUCCESS;
}

bool Client::connected() const { return impl_->is_connected; }
int Client::protocol_version() const { return impl_->protocol; }
std::string_view Client::last_error() const { return impl_->last_error; }

}  // namespace freehold::mqtt
