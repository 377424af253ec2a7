// SPDX-License-Identifier: GPL-3.0-or-later
// freeholdd: the device daemon. Parses the command line, loads the configuration and state, and wires the modules
// together on one I/O thread. Business rules live in the modules, not here.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <freehold/version.hpp>
#include <cmath>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

#include "core/accounts.hpp"
#include "core/atomic_file.hpp"
#include "core/audit.hpp"
#include "core/config.hpp"
#include "core/crypto.hpp"
#include "core/db.hpp"
#include "core/device_model.hpp"
#include "core/event_store.hpp"
#include "core/events.hpp"
#include "core/legacy_auth.hpp"
#include "core/lockout.hpp"
#include "core/log.hpp"
#include "core/sessions.hpp"
#include "core/sysinfo.hpp"
#include "core/tls_cert.hpp"
#include "core/url.hpp"
#include "hal/source.hpp"
#include "onvif/discovery.hpp"
#include "onvif/service.hpp"
#include "media/encoder.hpp"
#include "analytics/engine.hpp"
#include "media/camera.hpp"
#include "media/jpeg.hpp"
#include "mqtt/adapter.hpp"
#include "relay/endpoint.hpp"
#include "relay/access.hpp"
#include "relay/identity.hpp"
#include "net/host_info.hpp"
#include "rtsp/server.hpp"
#include "web/api.hpp"
#include "web/live.hpp"
#include "web/server.hpp"
#include "web/static_files.hpp"

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace freehold;

namespace {

constexpr int kExitUsage = 2;
// A restart asked for over ONVIF or MQTT: the systemd unit restarts on this status (RestartForceExitStatus).
constexpr int kExitRestart = 75;
constexpr auto kStopGrace = std::chrono::milliseconds(1500);

struct Options {
  std::optional<fs::path> config_file;
  std::optional<fs::path> state_dir;
  std::optional<std::string> mqtt;  // --mqtt URL, with optional user:password@
  std::optional<fs::path> webui;    // --webui DIR
  bool demo = false;
};

void print_help() {
  std::cout << "Usage: freeholdd [OPTIONS]\n"
               "Freehold device daemon: video streaming, ONVIF, MQTT and a web UI under the owner's control.\n\n"
               "  --config FILE        configuration file (default: STATE_DIR/freeholdd.toml)\n"
               "  --state-dir DIR      where keys, users and the audit log live (default: /var/lib/freehold)\n"
               "  --mqtt URL           MQTT broker: mqtt[s]://[user:password@]host[:port] (sets mqtt.url,\n"
               "                       mqtt.username and mqtt.password, and saves them in the configuration)\n"
               "  --webui DIR          the web UI's files (default: ../share/freehold/webui or ../webui beside the\n"
               "                       executable)\n"
               "  --demo               try it out: a fresh state directory unless --state-dir is given, unprivileged\n"
               "                       ports, and an admin with a random password printed once\n"
               "  --check-config FILE  validate FILE; print 'file:line: message' per problem; exit 0 or 2\n"
               "  --help-config        list every setting with its default and range\n"
               "  --version            print the version\n"
               "  --help               this text\n\n"
               "Signals: SIGHUP reloads the configuration file; SIGTERM and SIGINT stop gracefully.\n";
}

void print_config_help() {
  for (const auto& s : settings_schema()) {
    std::cout << s.key << " = " << (s.kind == Kind::string || s.kind == Kind::choice ? "\"" : "")
              << display_value(s, s.default_value)
              << (s.kind == Kind::string || s.kind == Kind::choice ? "\"" : "");
    if (s.kind == Kind::integer) std::cout << "  # " << s.min << ".." << s.max << (s.unit.empty() ? "" : " " + s.unit);
    if (s.kind == Kind::choice) {
      std::cout << "  # one of";
      for (const auto& c : s.choices) std::cout << " " << c;
    }
    std::cout << "  — " << s.help << (s.restart_required ? " (applies on restart)" : "") << "\n";
  }
}

// Reads and validates a config file. A missing file means defaults. Problems go to `errors` as file:line: message.
std::optional<Config> load_config(const fs::path& file, bool must_exist, std::vector<std::string>& errors) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    if (must_exist) {
      errors.push_back(file.string() + ": no such file");
      return std::nullopt;
    }
    return Config{};
  }
  std::string err;
  auto text = read_file(file, &err, 1 << 20);
  if (!text) {
    errors.push_back(err);
    return std::nullopt;
  }
  auto parsed = parse_config(*text);
  for (const auto& d : parsed.errors) errors.push_back(format_diagnostic(file.string(), d));
  if (!parsed.ok()) return std::nullopt;
  return parsed.config;
}

int check_config(const fs::path& file) {
  std::vector<std::string> errors;
  load_config(file, true, errors);
  for (const auto& e : errors) std::cerr << e << "\n";
  if (!errors.empty()) return kExitUsage;
  std::cout << file.string() << ": ok\n";
  return 0;
}

std::optional<Options> parse_args(int argc, char** argv, int& exit_code) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        std::cerr << "freeholdd: " << name << " needs a value (see --help)\n";
        return std::nullopt;
      }
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      print_help();
      exit_code = 0;
      return std::nullopt;
    } else if (a == "--version") {
      std::cout << "freeholdd " << kVersion << (*kGitRevision ? std::string(" (") + kGitRevision + ")" : "") << "\n";
      exit_code = 0;
      return std::nullopt;
    } else if (a == "--help-config") {
      print_config_help();
      exit_code = 0;
      return std::nullopt;
    } else if (a == "--check-config") {
      auto v = value("--check-config");
      exit_code = v ? check_config(*v) : kExitUsage;
      return std::nullopt;
    } else if (a == "--config") {
      auto v = value("--config");
      if (!v) {
        exit_code = kExitUsage;
        break;
      }
      o.config_file = *v;
    } else if (a == "--state-dir") {
      auto v = value("--state-dir");
      if (!v) {
        exit_code = kExitUsage;
        break;
      }
      o.state_dir = *v;
    } else if (a == "--mqtt") {
      auto v = value("--mqtt");
      if (!v) {
        exit_code = kExitUsage;
        break;
      }
      o.mqtt = *v;
    } else if (a == "--webui") {
      auto v = value("--webui");
      if (!v) {
        exit_code = kExitUsage;
        break;
      }
      o.webui = *v;
    } else if (a == "--demo") {
      o.demo = true;
    } else {
      std::cerr << "freeholdd: unknown option '" << a << "' (see --help)\n";
      exit_code = kExitUsage;
      return std::nullopt;
    }
    continue;
  }
  if (exit_code != 0) return std::nullopt;
  return o;
}

// Everything the daemon holds, in construction order; destroyed in reverse.
class Daemon final {
 public:
  Daemon(Options opts, fs::path state_dir, fs::path config_file, Config config, crypto::DeviceKey key)
      : opts_(std::move(opts)),
        state_dir_(std::move(state_dir)),
        config_file_(std::move(config_file)),
        key_(std::move(key)),
        db_(state_dir_ / "freehold.db"),
        audit_(db_),
        accounts_(db_, key_),
        model_(std::move(config)),
        sessions_(std::chrono::minutes(cfg().get_int("security.session_idle_minutes")),
                  std::chrono::hours(cfg().get_int("security.session_max_hours"))),
        lockout_(static_cast<int>(cfg().get_int("security.lockout_threshold")),
                 std::chrono::seconds(cfg().get_int("security.lockout_seconds"))),
        tls_(asio::ssl::context::tls_server),
        signals_(io_, SIGINT, SIGTERM, SIGHUP),
        uptime_timer_(io_) {}

  int run() {
    const auto t0 = std::chrono::steady_clock::now();
    std::string err;
    auto identity = load_or_create_tls_identity(state_dir_ / "tls", local_names(), &err);
    if (!identity) {
      log::error("tls.identity_failed", {{"error", err}});
      return 1;
    }
    if (auto e = web::configure_tls(tls_, identity->cert_pem, identity->key_pem)) {
      log::error("tls.config_failed", {{"error", *e}});
      return 1;
    }
    log::info("tls.identity", {{"fingerprint_sha256", identity->fingerprint_sha256}});

    if (!prepare_accounts()) return 1;
    if (!open_events()) return 1;

    web::DeviceInfo info;
    info.firmware_version = kVersion;
    info.git_revision = kGitRevision;
    info.tls_fingerprint = identity->fingerprint_sha256;
    info.started = started_;
    load_relay_identity();
    api_.emplace(web::ApiDeps{model_, accounts_, audit_, sessions_, lockout_, slow_work_.get_executor(), info,
                              static_cast<int>(cfg().get_int("http.https_port")),
                              [this] { return streams_status(); }, [this] { return take_snapshot(); },
                              &*events_, event_store_.get(),
                              [this](std::string_view stream) -> web::FeedOrError {
                                if (!live_) return {nullptr, 503, "no_camera", "streaming is off (rtsp.enabled = false)"};
                                return live_->open(stream);
                              },
                              &tunnels_, relay_hooks()});
    web::ServerOptions so;
    so.bind_address = cfg().get_string("http.bind");
    so.https_port = static_cast<std::uint16_t>(cfg().get_int("http.https_port"));
    so.plain_enabled = cfg().get_bool("http.plain_enabled");
    so.plain_port = static_cast<std::uint16_t>(cfg().get_int("http.plain_port"));
    so.max_body_bytes = static_cast<size_t>(cfg().get_int("http.max_body_bytes"));
    so.request_timeout = std::chrono::seconds(cfg().get_int("http.request_timeout_s"));
    so.max_connections = static_cast<size_t>(cfg().get_int("http.max_connections"));
    server_.emplace(io_, tls_, *api_, so);
    mount_webui(so.https_port);
    if (cfg().get_bool("onvif.enabled")) start_onvif(info, so);
    if (auto e = server_->start()) {
      log::error("http.listen_failed", {{"error", *e}});
      return 1;
    }
    if (cfg().get_bool("rtsp.enabled") && !start_rtsp()) return 1;
    changes_ = model_.subscribe([this](const Change& c) { on_change(c); });
    handle_signals();
    tick_uptime();
    tick_sensors();
    info_ = info;
    start_mqtt();
    start_relay();

    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    log::info("http.ready", {{"https_port", server_->https_port()},
                             {"plain_port", server_->plain_port()},
                             {"startup_ms", static_cast<std::int64_t>(ms.count())}});
    if (opts_.demo) print_demo_banner();
    io_.run();
    // Queued hashes are abandoned, not run: a stop must not wait for a flood of logins. Their handlers (the
    // suspended connections) are destroyed with the pool, before io_.
    slow_work_.stop();
    slow_work_.join();
    if (analytics_) analytics_->stop();
    if (camera_) camera_->stop();
    log::info("daemon.stopped");
    return restart_requested_ ? kExitRestart : 0;
  }

 private:
  const Config& cfg() const { return model_.config(); }

  // The event history in the state directory, and the bus (ids continue after the newest one ever stored).
  bool open_events() {
    std::string err;
    event_store_ = EventStore::open(state_dir_ / "events.db", state_dir_ / "snapshots", event_limits(), &err);
    if (!event_store_) {
      log::error("events.store_failed", {{"error", err}});
      return false;
    }
    events_.emplace(event_store_->last_id() + 1);
    event_store_sub_ = events_->subscribe([this](const Event& e) {
      log::info("event.published", {{"type", e.type}, {"id", e.id}});
      (void)event_store_->add(e);  // a full queue is counted and logged by the store
    });
    return true;
  }

  EventStore::Limits event_limits() const {
    return {cfg().get_int("events.max_count"), std::chrono::hours(24 * cfg().get_int("events.retention_days")),
            cfg().get_int("events.snapshot_max_mb") << 20};
  }

  // ONVIF at /onvif/ on both HTTP listeners; the motion sensor's state feeds its events.
  void start_onvif(const web::DeviceInfo& info, const web::ServerOptions& so) {
    const std::string id = crypto::sha256("freehold-onvif-serial:" + info.tls_fingerprint);
    const std::string endpoint = onvif::endpoint_uuid(info.tls_fingerprint);
    const bool rtsp_on = cfg().get_bool("rtsp.enabled");
    onvif_.emplace(onvif::ServiceDeps{
        model_, accounts_, audit_, legacy_auth_, io_.get_executor(), slow_work_.get_executor(), info,
        crypto::hex(id.substr(0, 8)), endpoint, opts_.demo, so.https_port,
        static_cast<std::uint16_t>(so.plain_enabled ? so.plain_port : 0),
        static_cast<std::uint16_t>(rtsp_on ? cfg().get_int("rtsp.port") : 0),
        static_cast<std::uint16_t>(rtsp_on && cfg().get_bool("rtsp.tls_enabled") ? cfg().get_int("rtsp.tls_port") : 0),
        [this](const std::string& name) {
          if (!camera_) return;
          for (auto* s : camera_->streams()) {
            if (s->name() == name) s->request_keyframe();
          }
        },
        [this](const std::string&) { return take_snapshot(); },
        [this] { request_restart("onvif"); },
        [this]() -> media::PtzDriver* { return camera_ ? camera_->ptz() : nullptr; }, &*events_, &tunnels_});
    if (analytics_) onvif_->analytics_started();
    server_->mount("/onvif/", [this](web::Request r) { return onvif_->handle(std::move(r)); }, true);
    start_discovery(endpoint, info.model, so);
  }

  // WS-Discovery where the HTTP listeners are: every interface for a wildcard http.bind, else the one with that
  // address (so tests bound to 127.0.0.1 never announce on the machine's network).
  void start_discovery(const std::string& endpoint, const std::string& model, const web::ServerOptions& so) {
    onvif::DiscoveryOptions dopts;
    boost::system::error_code ec;
    const auto bind = asio::ip::make_address(so.bind_address, ec);
    if (!ec && !bind.is_unspecified()) {
      if (!bind.is_v4()) {
        log::notice("onvif.discovery_off", {{"reason", "WS-Discovery is IPv4 only and http.bind is IPv6"}});
        return;
      }
      dopts.interfaces.push_back(bind.to_string());
    }
    const std::uint16_t plain = so.plain_enabled ? so.plain_port : 0, https = so.https_port;
    auto xaddrs = [plain, https](const asio::ip::address& local) {
      const std::string host = local.is_v6() ? "[" + local.to_string() + "]" : local.to_string();
      std::vector<std::string> out;
      if (plain) out.push_back("http://" + host + ":" + std::to_string(plain) + "/onvif/device_service");
      out.push_back("https://" + host + ":" + std::to_string(https) + "/onvif/device_service");
      return out;
    };
    discovery_info_ = onvif::DiscoveryInfo{endpoint, {}, 1};
    discovery_model_ = model;
    discovery_.emplace(io_, discovery_info(), xaddrs, dopts);
    if (!cfg().get_bool("onvif.discoverable")) (void)discovery_->set_discoverable(false);
    if (auto e = discovery_->start()) {
      log::warn("onvif.discovery_failed", {{"error", *e}});
      discovery_.reset();
    }
  }

  onvif::DiscoveryInfo discovery_info() const {
    auto info = discovery_info_;
    info.scopes.clear();
    for (auto& [scope, fixed] : onvif::device_scopes(cfg(), discovery_model_)) info.scopes.push_back(scope);
    return info;
  }

  // The camera (source, capture, stream profiles) and the RTSP server over its streams.
  bool start_rtsp() {
    std::string err;
    camera_ = media::Camera::open(cfg(), &err);
    if (!camera_) {
      log::error("camera.failed", {{"error", err}});
      return false;
    }
    rtsp::ServerOptions ro;
    ro.bind_address = cfg().get_string("http.bind");
    ro.port = static_cast<std::uint16_t>(cfg().get_int("rtsp.port"));
    if (cfg().get_bool("rtsp.tls_enabled")) {
      ro.tls = &tls_;
      ro.tls_port = static_cast<std::uint16_t>(cfg().get_int("rtsp.tls_port"));
    }
    ro.max_sessions = static_cast<std::size_t>(cfg().get_int("rtsp.max_sessions"));
    ro.udp_port_first = static_cast<std::uint16_t>(cfg().get_int("rtsp.udp_port_first"));
    ro.udp_port_last = static_cast<std::uint16_t>(cfg().get_int("rtsp.udp_port_last"));
    rtsp_.emplace(io_, camera_->streams(), rtsp::Dependencies{model_, accounts_, audit_, lockout_, &tunnels_}, ro);
    live_.emplace(io_, camera_->streams(), [this](const std::string& stream) -> std::optional<std::string> {
      auto why = stream_refusal(cfg(), stream);
      return why ? std::optional(why->message) : std::nullopt;
    });
    if (auto e = rtsp_->start()) {
      log::error("rtsp.listen_failed", {{"error", *e}});
      return false;
    }
    start_analytics();
    camera_->start();
    log::info("rtsp.ready", {{"port", rtsp_->port()}, {"tls_port", rtsp_->tls_port()},
                             {"streams", camera_->streams().size()}});
    return true;
  }

  // The web UI: its files from --webui or beside the executable; without them, / says how to build them. Over
  // plain HTTP every page redirects to HTTPS.
  void mount_webui(int https_port) {
    std::vector<fs::path> candidates;
    if (opts_.webui) {
      candidates.push_back(*opts_.webui);
    } else {
      std::error_code ec;
      const fs::path exe = fs::read_symlink("/proc/self/exe", ec).parent_path();
      candidates = {exe / ".." / "share" / "freehold" / "webui", exe / ".." / "webui"};
    }
    std::string why;
    for (const auto& dir : candidates) {
      std::string err;
      if ((webui_ = web::StaticFiles::load(dir, &err))) {
        log::info("webui.ready", {{"dir", fs::weakly_canonical(dir).string()}, {"files", webui_->files()},
                                  {"compressed_bytes", webui_->compressed_bytes()}});
        break;
      }
      why += (why.empty() ? "" : "; ") + err;
    }
    if (!webui_) log::warn("webui.missing", {{"error", why}, {"hint", "cmake --build --preset release builds it"}});
    server_->mount_fallback(
        [this, https_port](web::Request req) -> asio::awaitable<web::Response> {
          if (webui_) co_return webui_->serve(req, https_port);
          if (!req.tls) co_return web::Response{308, {{"Location", web::https_location(req, https_port)}}, {}, {}, {}};
          co_return web::Response::error(404, "no_webui", "the web UI is not installed on this device; the API is");
        },
        true);
  }

  // Runs on slow_work: camera_ is set before the I/O thread starts and never changes.
  web::Snapshot take_snapshot() const {
    if (!camera_) return {"", "streaming is off (rtsp.enabled = false)", 0};
    media::PicturePtr picture = camera_->latest_picture();
    if (!picture) {
      const bool encoded = camera_->capture().format() != hal::PixelFormat::i420;
      return {"", encoded ? "snapshots need raw pictures; this source's video is passed through as it comes"
                          : "the camera has not delivered a picture yet",
              0};
    }
    std::vector<std::uint8_t> jpeg;
    if (auto e = media::encode_jpeg(*picture, 85, jpeg)) return {"", *e, 0};
    return {std::string(jpeg.begin(), jpeg.end()), "", picture->wallclock_us};
  }

  std::string streams_status() const {
    nlohmann::json streams = nlohmann::json::array();
    for (const media::VideoStream* s : camera_ ? camera_->streams() : std::vector<media::VideoStream*>{}) {
      const auto st = s->stats();
      streams.push_back({{"name", s->name()},
                         {"width", s->width()},
                         {"height", s->height()},
                         {"fps", s->fps()},
                         {"enabled", cfg().get_bool("stream." + s->name() + ".enabled")},
                         {"readers", s->readers()},
                         {"live_viewers", live_ ? live_->viewers(s->name()) : 0},
                         {"frames_encoded", st.frames_encoded},
                         {"bytes_encoded", st.bytes_encoded},
                         {"frames_skipped_idle", st.frames_skipped_idle},
                         {"frames_lost_busy", st.frames_lost_busy},
                         {"frames_dropped_resize", st.frames_dropped_resize},
                         {"encode_failures", st.encode_failures}});
    }
    nlohmann::json rtsp = nullptr;
    if (rtsp_) {
      const auto r = rtsp_->stats();
      rtsp = {{"port", rtsp_->port()},
              {"connections", r.connections},
              {"sessions_playing", r.sessions_playing},
              {"frames_sent", r.frames_sent},
              {"frames_dropped", r.frames_dropped},
              {"auth_failures", r.auth_failures},
              {"send_latency_us",
               {{"count", r.send_latency.count},
                {"p50", r.send_latency.p50_us},
                {"p99", r.send_latency.p99_us},
                {"max", r.send_latency.max_us}}}};
    }
    return nlohmann::json{{"streams", streams}, {"rtsp", rtsp}}.dump();
  }

  bool prepare_accounts() {
    if (accounts_.claimed()) return true;
    if (opts_.demo) {
      // The demo claims itself with a random password, shown once; there is never a fixed default.
      demo_password_ = crypto::base64url(crypto::random_bytes(12));
      if (auto e = accounts_.create("admin", Role::admin, crypto::hash_password(demo_password_), demo_password_)) {
        log::error("demo.admin_failed", {{"error", *e}});
        return false;
      }
      audit_.record("device", "console", "claimed", "demo admin created");
      return true;
    }
    auto code = accounts_.begin_claim();
    // The claim code is meant to be read from the console or log by whoever holds the device.
    log::notice("claim.open", {{"claim_code", *code},
                               {"hint", "POST /api/v1/claim {code, username, password}"}});
    std::fprintf(stderr, "\n  This device has no owner yet. Claim code: %s\n\n", code->c_str());
    return true;
  }

  void print_demo_banner() {
    std::string host = "localhost";
    std::printf("\nFreehold demo is running (state in %s)\n", state_dir_.c_str());
    if (webui_) {
      std::printf("  web UI:            https://%s:%u/  (self-signed certificate: accept it once)\n", host.c_str(),
                  server_->https_port());
    }
    std::printf("  REST API:          https://%s:%u/api/v1/  (self-signed certificate; fingerprint in the log)\n",
                host.c_str(), server_->https_port());
    if (server_->plain_port()) std::printf("  plain HTTP (LAN protocols): http://%s:%u/\n", host.c_str(), server_->plain_port());
    if (onvif_) {
      std::printf("  ONVIF:             %s://%s:%u/onvif/device_service\n", server_->plain_port() ? "http" : "https",
                  host.c_str(), server_->plain_port() ? server_->plain_port() : server_->https_port());
    }
    std::printf("  health:            https://%s:%u/api/v1/health\n", host.c_str(), server_->https_port());
    if (rtsp_) {
      std::printf("  RTSP:              rtsp://%s:%u/main  and  rtsp://%s:%u/sub\n", host.c_str(),
                  rtsp_->port(), host.c_str(), rtsp_->port());
      if (rtsp_->tls_port()) {
        std::printf("  RTSPS:             rtsps://%s:%u/main  and  rtsps://%s:%u/sub  (same certificate)\n",
                    host.c_str(), rtsp_->tls_port(), host.c_str(), rtsp_->tls_port());
      }
    }
    if (mqtt_) {
      std::printf("  MQTT:              %s, topics %s/#\n", cfg().get_string("mqtt.url").c_str(),
                  mqtt_->topics().base().c_str());
    }
    if (relay_ && relay_identity_) {
      std::printf("  relay:             %s, device ID %s\n", cfg().get_string("relay.url").c_str(),
                  relay::id_text(relay_identity_->id()).c_str());
    }
    if (!demo_password_.empty()) {
      std::printf("\nAdmin credentials (shown only this once):\n  username: admin\n  password: %s\n\n",
                  demo_password_.c_str());
    } else {
      std::printf("\nThis state directory is already claimed: log in with the credentials you set.\n\n");
    }
    std::printf("Press Ctrl-C to stop.\n");
    std::fflush(stdout);
  }

  void on_change(const Change& c) {
    if (c.kind == Change::Kind::action) {
      if (c.key == "restart") request_restart(c.actor);
      return;
    }
    if (c.kind != Change::Kind::setting) return;
    if (c.key.starts_with("mqtt.") && !mqtt_restart_pending_) {
      // One restart of the client for all the keys of one change, after the change is complete.
      mqtt_restart_pending_ = true;
      asio::post(io_, [this] {
        mqtt_restart_pending_ = false;
        if (mqtt_) mqtt_->stop(std::chrono::milliseconds(500));
        mqtt_.reset();
        start_mqtt();
      });
    }
    if (c.key.starts_with("relay.") && !relay_restart_pending_) {
      relay_restart_pending_ = true;
      asio::post(io_, [this] {
        relay_restart_pending_ = false;
        relay_.reset();
        start_relay();
      });
    }
    audit_.record(c.actor, c.source, "setting_changed", c.key + "=" + display_value(*find_setting(c.key), c.value));
    apply_runtime_settings();
    if (c.actor == "config-file") return;  // it came from the file: nothing to write back
    if (!save_pending_) {
      // Coalesce the keys of one set_many() into one atomic write.
      save_pending_ = true;
      asio::post(io_, [this] {
        save_pending_ = false;
        if (auto e = write_file_atomic(config_file_, serialize_config(cfg()))) {
          log::error("config.save_failed", {{"file", config_file_.string()}, {"error", *e}});
        } else {
          log::info("config.saved", {{"file", config_file_.string()}});
        }
      });
    }
  }

  void apply_runtime_settings() {
    if (discovery_) {
      if (discovery_->discoverable() != cfg().get_bool("onvif.discoverable")) {
        if (auto e = discovery_->set_discoverable(cfg().get_bool("onvif.discoverable"))) {
          log::warn("onvif.discovery_failed", {{"error", *e}});
        }
      }
      discovery_->set_info(discovery_info());  // a Hello, with a new MetadataVersion, only if the scopes changed
    }
    if (auto l = log::parse_level(cfg().get_string("log.level"))) log::set_level(*l);
    sessions_.configure(std::chrono::minutes(cfg().get_int("security.session_idle_minutes")),
                        std::chrono::hours(cfg().get_int("security.session_max_hours")));
    lockout_.configure(static_cast<int>(cfg().get_int("security.lockout_threshold")),
                       std::chrono::seconds(cfg().get_int("security.lockout_seconds")));
    if (camera_) camera_->apply(cfg());
    if (analytics_) analytics_->configure(analytics::analytics_settings(cfg()));
    if (event_store_) event_store_->set_limits(event_limits());
    if (server_) {
      server_->set_limits(static_cast<size_t>(cfg().get_int("http.max_body_bytes")),
                          std::chrono::seconds(cfg().get_int("http.request_timeout_s")));
    }
  }

  void reload() {
    std::vector<std::string> errors;
    auto next = load_config(config_file_, false, errors);
    if (!next) {
      for (const auto& e : errors) log::error("config.reload_rejected", {{"problem", e}});
      log::warn("config.reload_kept_running_config", {{"file", config_file_.string()}});
      return;
    }
    auto result = model_.replace(*next, Requester{"config-file", "config-file", std::nullopt});
    for (const auto& k : result.restart_required) log::warn("config.restart_required", {{"key", k}});
    log::info("config.reloaded", {{"file", config_file_.string()}, {"changed", result.changed.size()}});
  }

  void handle_signals() {
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload();
        handle_signals();
        return;
      }
      log::info("daemon.stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      stop();
    });
  }

  void request_restart(const std::string& by) {
    log::notice("daemon.reboot_requested", {{"by", by}, {"exit_status", kExitRestart}});
    restart_requested_ = true;
    asio::post(io_, [this] { stop(); });
  }

  void stop() {
    uptime_timer_.cancel();
    sensor_timer_.cancel();
    if (mqtt_) mqtt_->stop(std::chrono::milliseconds(1000));
    relay_.reset();
    if (onvif_) onvif_->stop();
    if (discovery_) discovery_->stop();  // Bye
    server_->stop();
    if (rtsp_) rtsp_->stop();
    stop_deadline_ = std::chrono::steady_clock::now() + kStopGrace;
    wait_for_connections();
  }

  void wait_for_connections() {
    const size_t open = server_->connections() + (rtsp_ ? rtsp_->connections() : 0);
    if (open == 0 || std::chrono::steady_clock::now() >= stop_deadline_) {
      io_.stop();
      return;
    }
    uptime_timer_.expires_after(std::chrono::milliseconds(20));
    uptime_timer_.async_wait([this](const boost::system::error_code&) { wait_for_connections(); });
  }

  // Analytics on the camera's raw pictures; their events and sensor states are handed to the I/O thread, where the
  // bus and the device model live. An encoded source (passthrough) has no raw pictures to analyse.
  void start_analytics() {
    if (camera_->capture().format() != hal::PixelFormat::i420) {
      log::notice("analytics.off", {{"reason", "the source gives encoded pictures (passthrough); set source.decode = "
                                               "true to decode a file for analytics"}});
      return;
    }
    analytics::AnalyticsSink sink;
    sink.event = [this](Event e) { asio::post(io_, [this, e = std::move(e)]() mutable { publish_event(std::move(e)); }); };
    sink.state = [this](std::string_view entity, bool on) {
      asio::post(io_, [this, entity = std::string(entity), on] { model_.publish_state(entity, on); });
    };
    analytics_ = std::make_unique<analytics::Engine>(camera_->capture(), analytics::analytics_settings(cfg()),
                                                     std::move(sink));
    analytics_->start();
    if (onvif_) onvif_->analytics_started();
  }

  void publish_event(Event e) {
    const bool start = e.type == event_type::motion_start;
    if (e.type == event_type::motion_end) e.related = motion_start_id_;
    const std::int64_t id = events_->publish(std::move(e));
    if (start) motion_start_id_ = id;
  }

  // The link to the owner's relay, when the owner named one: nothing connects out otherwise. Sessions reach the
  // local services on loopback, where their own authentication still applies.
  void start_relay() {
    const std::string url = cfg().get_string("relay.url");
    if (url.empty()) return;
    std::string error;
    auto address = relay::parse_relay_url(url, &error);
    if (!address || !relay_identity_ || !relay_access_) {
      log::error("relay.not_started", {{"error", address ? "no relay identity (see relay.identity_failed)" : error}});
      return;
    }
    address->fingerprint = cfg().get_string("relay.fingerprint");
    relay::DeviceLinkOptions o;
    o.relay = *address;
    o.tunnels = &tunnels_;
    // The services listen on http.bind: the link reaches them on loopback when that is a wildcard.
    const std::string bind = cfg().get_string("http.bind");
    if (bind != "::" && bind != "0.0.0.0" && !bind.empty()) o.service_address = bind;
    o.services["https"] = server_->https_port();
    if (server_->plain_port()) o.services["http"] = server_->plain_port();
    if (onvif_) o.services["onvif"] = server_->plain_port() ? server_->plain_port() : server_->https_port();
    if (rtsp_ && rtsp_->port()) o.services["rtsp"] = rtsp_->port();
    o.admit = [this](const relay::PublicKey& key, const std::string&, const std::string& grant) {
      std::vector<relay::PublicKey> owners;
      std::istringstream words(cfg().get_string("relay.owners"));
      for (std::string w; words >> w;)
        if (auto k = relay::parse_key(w)) owners.push_back(*k);
      const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
      return relay_access_->admit(key, grant, relay_identity_->id(), owners, now);
    };
    relay_.emplace(io_, *relay_identity_, std::move(o));
    relay_->start();
  }

  // The device's relay identity exists from the first start, so that a client can pair before any relay is set up;
  // it opens no connection by itself.
  void load_relay_identity() {
    std::string error;
    auto identity = relay::Identity::load(state_dir_ / "relay_key", true, &error);
    auto access = identity ? relay::ClientAccess::load(state_dir_ / "relay_clients.json", &error) : std::nullopt;
    if (!identity || !access) {
      log::error("relay.identity_failed", {{"error", error}});
      return;
    }
    relay_identity_ = *identity;
    relay_access_ = std::move(*access);
    log::info("relay.identity", {{"device_id", relay::id_text(identity->id())},
                                 {"key", relay::key_text(identity->public_key())},
                                 {"relay", cfg().get_string("relay.url")}});
  }

  web::RelayHooks relay_hooks() {
    if (!relay_identity_) return {};
    web::RelayHooks h;
    h.status = [this] {
      nlohmann::json clients = nlohmann::json::array();
      for (const auto& c : relay_access_->clients())
        clients.push_back({{"id", relay::id_text(c.id)}, {"key", relay::key_text(c.key)}, {"name", c.name},
                           {"role", std::string(role_name(c.role))}, {"added", c.added}});
      nlohmann::json blocked = nlohmann::json::array();
      for (const auto& b : relay_access_->blocked()) blocked.push_back(relay::id_text(b));
      return nlohmann::json{{"device", {{"id", relay::id_text(relay_identity_->id())},
                                        {"key", relay::key_text(relay_identity_->public_key())}}},
                            {"relay", {{"url", cfg().get_string("relay.url")},
                                       {"fingerprint", cfg().get_string("relay.fingerprint")},
                                       {"connected", relay_ && relay_->connected()},
                                       {"sessions", relay_ ? relay_->sessions() : 0}}},
                            {"clients", clients}, {"blocked", blocked}}
          .dump();
    };
    h.pair = [this](const std::string& key_text, const std::string& name, Role role) {
      const auto key = relay::parse_key(key_text);
      if (!key || !relay::x25519_of(*key))
        return web::Response::error(400, "invalid_key", "key: not a client public key (43 base64url characters)");
      const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
      if (auto e = relay_access_->pair(*key, name, role, now)) return web::Response::error(500, "storage", *e);
      return web::Response::json(
          201, nlohmann::json{{"client", relay::id_text(relay::id_of(*key))}, {"role", std::string(role_name(role))},
                              {"device", {{"id", relay::id_text(relay_identity_->id())},
                                          {"key", relay::key_text(relay_identity_->public_key())}}},
                              {"relay", {{"url", cfg().get_string("relay.url")},
                                         {"fingerprint", cfg().get_string("relay.fingerprint")}}}}
                   .dump());
    };
    h.revoke = [this](const std::string& id_text) {
      const auto id = relay::parse_id(id_text);
      if (!id) return web::Response::error(400, "invalid_id", "not a client ID (32 base32 characters)");
      if (auto e = relay_access_->revoke(*id)) return web::Response::error(500, "storage", *e);
      if (relay_) relay_->end_sessions_of(*id);
      web::Response r;
      r.status = 204;
      return r;
    };
    return h;
  }

  // MQTT, when the owner named a broker: nothing connects out otherwise.
  void start_mqtt() {
    if (cfg().get_string("mqtt.url").empty()) return;
    std::string mac;
    for (const auto& i : net::interfaces()) {
      if (!i.mac.empty()) {
        mac = i.mac;
        break;
      }
    }
    mqtt::DeviceIdentity device;
    const std::string configured = cfg().get_string("mqtt.device_id");
    device.id = configured.empty()
                    ? mqtt::default_device_id(info_.model, mac, crypto::hex(crypto::sha256(info_.tls_fingerprint)))
                    : configured;
    device.name = cfg().get_string("device.name");
    device.manufacturer = info_.manufacturer;
    device.model = info_.model;
    device.sw_version = kVersion;
    device.mac = mac;
    device.configuration_url = "https://" + net::hostname() + ":" + std::to_string(server_->https_port()) + "/";
    std::vector<std::string> caps{"rest"};
    if (rtsp_) caps.push_back("rtsp");
    if (onvif_) caps.push_back("onvif");
    if (analytics_) caps.insert(caps.end(), {"motion", "person", "tamper"});
    if (camera_ && camera_->ptz()) caps.push_back("ptz");
    mqtt_.emplace(mqtt::AdapterDeps{model_, *events_, io_.get_executor(), device,
                                    [this](std::function<void(std::string)> done) {
                                      asio::post(slow_work_, [this, done = std::move(done)]() mutable {
                                        std::string jpeg = take_snapshot().jpeg;
                                        asio::post(io_, [done = std::move(done), jpeg = std::move(jpeg)] { done(jpeg); });
                                      });
                                    },
                                    [this] { return telemetry(); }, caps,
                                    state_dir_ / "mqtt-outbox.cursor",
                                    [this](std::int64_t after, int limit) {
                                      // Events still in the writer's queue must be readable.
                                      (void)event_store_->flush(std::chrono::milliseconds(1000));
                                      EventStore::Query q;
                                      q.after_id = after;
                                      q.limit = limit;
                                      return event_store_->query(q).events;
                                    }});
    if (auto e = mqtt_->start()) {
      log::error("mqtt.config_invalid", {{"error", *e}});
      mqtt_.reset();
    }
  }

  nlohmann::json telemetry() {
    nlohmann::json t{{"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                                  started_)
                                      .count()}};
    if (auto v = model_.state("cpu")) t["cpu_percent"] = std::get<std::int64_t>(*v);
    if (auto rss = process_rss_bytes()) t["memory_rss_bytes"] = *rss;
    if (auto avail = memory_available_bytes()) t["memory_available_bytes"] = *avail;
    if (auto c = temperature_c()) t["temperature_c"] = *c;
    nlohmann::json streams = nlohmann::json::array();
    for (const media::VideoStream* s : camera_ ? camera_->streams() : std::vector<media::VideoStream*>{}) {
      const auto rate = stream_rates_.find(s->name());
      streams.push_back({{"name", s->name()},
                         {"width", s->width()},
                         {"height", s->height()},
                         {"fps_configured", s->fps()},
                         {"fps", rate == stream_rates_.end() ? 0.0 : rate->second.fps},
                         {"bitrate_kbps", rate == stream_rates_.end() ? 0.0 : rate->second.kbps},
                         {"readers", s->readers()}});
    }
    t["streams"] = streams;
    std::error_code ec;
    const auto space = fs::space(state_dir_, ec);
    if (!ec) t["storage"] = {{"free_bytes", space.available}, {"total_bytes", space.capacity}};
    return t;
  }

  // The diagnostic sensors (CPU, memory, the main stream's frame rate and bitrate), every 10 s.
  void tick_sensors() {
    constexpr auto kInterval = std::chrono::seconds(10);
    model_.publish_state("cpu", static_cast<std::int64_t>(std::lround(cpu_.sample())));
    if (auto rss = process_rss_bytes()) model_.publish_state("memory", *rss >> 20);
    const auto now = std::chrono::steady_clock::now();
    for (const media::VideoStream* s : camera_ ? camera_->streams() : std::vector<media::VideoStream*>{}) {
      const auto st = s->stats();
      auto& r = stream_rates_[s->name()];
      const double dt = std::chrono::duration<double>(now - r.at).count();
      if (r.at != std::chrono::steady_clock::time_point{} && dt > 0) {
        r.fps = static_cast<double>(st.frames_encoded - r.frames) / dt;
        r.kbps = static_cast<double>(st.bytes_encoded - r.bytes) * 8 / 1000 / dt;
      }
      r.at = now;
      r.frames = st.frames_encoded;
      r.bytes = st.bytes_encoded;
    }
    if (auto main = stream_rates_.find("main"); main != stream_rates_.end()) {
      model_.publish_state("fps", static_cast<std::int64_t>(std::lround(main->second.fps)));
      model_.publish_state("bitrate", static_cast<std::int64_t>(std::lround(main->second.kbps)));
    }
    sensor_timer_.expires_after(kInterval);
    sensor_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick_sensors();
    });
  }

  void tick_uptime() {
    model_.publish_state("uptime", static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                                 std::chrono::steady_clock::now() - started_)
                                                                 .count()));
    uptime_timer_.expires_after(std::chrono::seconds(60));
    uptime_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick_uptime();
    });
  }

  Options opts_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();  // the one uptime origin
  fs::path state_dir_;
  fs::path config_file_;
  crypto::DeviceKey key_;
  Database db_;
  Audit audit_;
  Accounts accounts_;
  DeviceModel model_;
  Sessions sessions_;
  Lockout lockout_;
  Tunnels tunnels_;  // the relay link's connections to the local services, and whose they are
  std::unique_ptr<EventStore> event_store_;
  std::optional<EventBus> events_;  // detectors publish here (on the I/O thread)
  EventBus::EventSignal::Subscription event_store_sub_;
  asio::io_context io_{1};
  asio::thread_pool slow_work_{1};  // after io_: destroyed first, with the coroutines its queue may still hold
  asio::ssl::context tls_;
  asio::signal_set signals_;
  asio::steady_timer uptime_timer_;
  std::optional<web::Api> api_;
  LegacyAuth legacy_auth_{accounts_, lockout_, audit_};
  std::optional<onvif::Service> onvif_;
  onvif::DiscoveryInfo discovery_info_;
  std::string discovery_model_;
  std::optional<onvif::Discovery> discovery_;
  std::optional<web::Server> server_;
  std::unique_ptr<media::Camera> camera_;
  std::optional<rtsp::Server> rtsp_;  // after camera_: destroyed first, detaching from its streams
  std::optional<web::LiveHub> live_;  // likewise
  std::unique_ptr<web::StaticFiles> webui_;
  std::unique_ptr<analytics::Engine> analytics_;  // after camera_: stopped first
  std::int64_t motion_start_id_ = 0;              // the motion_end that follows refers to it
  struct StreamRate {
    std::chrono::steady_clock::time_point at;
    std::uint64_t frames = 0, bytes = 0;
    double fps = 0, kbps = 0;
  };
  std::map<std::string, StreamRate> stream_rates_;
  CpuMeter cpu_;
  asio::steady_timer sensor_timer_{io_};
  web::DeviceInfo info_;
  std::optional<relay::DeviceLink> relay_;
  std::optional<relay::Identity> relay_identity_;
  std::optional<relay::ClientAccess> relay_access_;
  bool relay_restart_pending_ = false;
  std::optional<mqtt::Adapter> mqtt_;  // after the bus, the model and the camera: stopped and destroyed first
  bool mqtt_restart_pending_ = false;
  bool restart_requested_ = false;
  DeviceModel::ChangeSignal::Subscription changes_;
  std::string demo_password_;
  bool save_pending_ = false;
  std::chrono::steady_clock::time_point stop_deadline_;
};

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  auto opts = parse_args(argc, argv, exit_code);
  if (!opts) return exit_code;
  std::signal(SIGPIPE, SIG_IGN);
  if (!crypto::init()) {
    std::cerr << "freeholdd: cannot initialise libsodium (no entropy source?)\n";
    return 1;
  }
  umask(077);

  fs::path state_dir;
  if (opts->state_dir) {
    state_dir = *opts->state_dir;
  } else if (opts->demo) {
    char tmpl[] = "/tmp/freehold-demo-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("freeholdd: cannot create a demo state directory");
      return 1;
    }
    state_dir = tmpl;
  } else {
    state_dir = "/var/lib/freehold";
  }
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec || !fs::is_directory(state_dir)) {
    std::cerr << "freeholdd: cannot create state directory " << state_dir << ": " << ec.message() << "\n";
    return 1;
  }
  fs::permissions(state_dir, fs::perms::owner_all, ec);

  const fs::path config_file = opts->config_file.value_or(state_dir / "freeholdd.toml");
  std::vector<std::string> errors;
  auto config = load_config(config_file, opts->config_file.has_value(), errors);
  if (!config) {
    for (const auto& e : errors) std::cerr << e << "\n";
    return kExitUsage;
  }
  if (opts->demo) {
    // Unprivileged ports, so the demo runs as any user beside other services, unless the file chose others.
    for (auto [key, port] :
         {std::pair{"http.https_port", 8443}, std::pair{"http.plain_port", 8080}, std::pair{"rtsp.port", 8554},
          std::pair{"rtsp.tls_port", 8322}}) {
      if (config->get(key) == find_setting(key)->default_value) config->set_validated(key, std::int64_t{port});
    }
    // NVRs speak ONVIF over plain HTTP on the LAN: the demo opens that listener, unless it was given a
    // configuration file (which then decides).
    if (!opts->config_file && !config->get_bool("http.plain_enabled")) {
      config->set_validated("http.plain_enabled", true);
    }
  }
  if (opts->mqtt) {
    std::string why;
    auto url = parse_service_url(*opts->mqtt, mqtt_schemes(), true, &why);
    if (!url) {
      std::cerr << "freeholdd: --mqtt: " << why << "\n";
      return kExitUsage;
    }
    config->set_validated("mqtt.url", url->scheme + "://" + host_port(*url));
    if (!url->username.empty()) {
      config->set_validated("mqtt.username", url->username);
      config->set_validated("mqtt.password", url->password);
    }
  }
  if (auto l = log::parse_level(config->get_string("log.level"))) log::set_level(*l);
  log::info("daemon.starting", {{"version", kVersion}, {"state_dir", state_dir.string()},
                                {"config", config_file.string()}, {"demo", opts->demo}});

  std::string err;
  auto key = crypto::DeviceKey::load_or_create(state_dir / "device.key", &err);
  if (!key) {
    log::error("device_key.failed", {{"error", err}});
    return 1;
  }
  try {
    Daemon daemon(*opts, state_dir, config_file, std::move(*config), std::move(*key));
    return daemon.run();
  } catch (const std::exception& e) {
    log::error("daemon.failed", {{"error", e.what()}});
    return 1;
  }
}
