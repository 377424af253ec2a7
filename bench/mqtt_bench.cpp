// SPDX-License-Identifier: GPL-3.0-or-later
// MQTT benchmark (docs/performance.md, "MQTT"): through a real mosquitto on loopback, started here,
//  1. latency from an event published on the device's bus to a subscriber holding it (p50/p99), beside the peer:
//     a bare libmosquitto publisher sending the same payload at the same rate to the same subscriber;
//  2. the rate the adapter sustains for a burst of events (its outbox drains at most 32 unacknowledged messages),
//     beside the bare publisher sending the same burst as fast as libmosquitto takes it;
//  3. the CPU cost of one telemetry message (the figures the daemon gathers, to JSON), against a 1 % budget.
// Usage: mqtt_bench [--events 400] [--rate 50] [--burst 20000] [--smoke]
#include <mosquitto.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/device_model.hpp"
#include "core/events.hpp"
#include "core/sysinfo.hpp"
#include "mqtt/adapter.hpp"

namespace asio = boost::asio;
using namespace freehold;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

std::uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// The subscriber both sides are measured with: a libmosquitto client on its own thread that records, per
// message, the latency from the send time carried in the payload ("detail" for events, the payload for the peer).
class Subscriber {
 public:
  explicit Subscriber(std::uint16_t port) {
    m_ = mosquitto_new("bench-subscriber", true, this);
    mosquitto_int_option(m_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_message_v5_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg,
                                             const mosquitto_property*) {
      static_cast<Subscriber*>(self)->on_message(msg);
    });
    if (mosquitto_connect(m_, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
      std::fprintf(stderr, "subscriber: cannot connect\n");
      std::exit(1);
    }
    mosquitto_subscribe(m_, nullptr, "bench/#", 1);
    mosquitto_subscribe(m_, nullptr, "freehold/bench/event/#", 1);
    mosquitto_loop_start(m_);
  }
  ~Subscriber() {
    mosquitto_disconnect(m_);
    mosquitto_loop_stop(m_, true);
    mosquitto_destroy(m_);
  }

  void reset() {
    std::lock_guard l(mu_);
    latencies_us_.clear();
    count_ = 0;
  }
  // Waits until `n` messages arrived since reset(); returns when the last one did (or nullopt on timeout).
  std::optional<Clock::time_point> wait(size_t n, std::chrono::seconds timeout) {
    std::unique_lock l(mu_);
    if (!cv_.wait_for(l, timeout, [&] { return count_ >= n; })) return std::nullopt;
    return last_;
  }
  std::vector<double> latencies() {
    std::lock_guard l(mu_);
    return latencies_us_;
  }

 private:
  void on_message(const mosquitto_message* msg) {
    const auto t = now_ns();
    std::string payload(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
    std::int64_t sent = 0;
    if (std::string_view(msg->topic).starts_with("freehold/")) {
      auto j = nlohmann::json::parse(payload, nullptr, false);
      if (j.is_object() && j.contains("detail")) sent = std::stoll(j["detail"].get<std::string>());
    } else {
      sent = std::stoll(payload.substr(0, payload.find(' ')));
    }
    std::lock_guard l(mu_);
    if (sent > 0) latencies_us_.push_back(static_cast<double>(t - sent) / 1000.0);
    ++count_;
    last_ = Clock::now();
    cv_.notify_all();
  }

  mosquitto* m_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<double> latencies_us_;
  size_t count_ = 0;
  Clock::time_point last_;
};

// The device side: the adapter on its own I/O thread, as in freeholdd.
class Device {
 public:
  Device(std::uint16_t port, size_t outbox) {
    Config c;
    c.set_validated("mqtt.url", "mqtt://127.0.0.1:" + std::to_string(port));
    c.set_validated("mqtt.device_id", std::string("bench"));
    c.set_validated("mqtt.discovery", std::string("off"));
    c.set_validated("mqtt.telemetry_s", std::int64_t{86400});
    c.set_validated("mqtt.outbox_max", static_cast<std::int64_t>(outbox));
    model_.emplace(std::move(c));
    mqtt::DeviceIdentity id{"bench", "bench", "Freehold", "bench", "0", "", ""};
    adapter_.emplace(mqtt::AdapterDeps{*model_, bus_, io_.get_executor(), id, [](std::function<void(std::string)> done) { done(""); },
                                       [] { return nlohmann::json::object(); }, {}, {}, nullptr});
    if (auto e = adapter_->start()) {
      std::fprintf(stderr, "adapter: %s\n", e->c_str());
      std::exit(1);
    }
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Device() {
    asio::post(io_, [this] {
      adapter_->stop(std::chrono::milliseconds(500));
      io_.stop();
    });
    thread_.join();
  }
  // Publishes `n` events on the bus in one go (from the I/O thread), each carrying its send time.
  void publish(size_t n) {
    asio::post(io_, [this, n] {
      for (size_t i = 0; i < n; ++i) {
        Event e;
        e.type = "person";
        e.time = std::chrono::system_clock::now();
        e.objects.push_back({"person", 0.9f, {0.4f, 0.3f, 0.1f, 0.3f}});
        e.detail = std::to_string(now_ns());
        bus_.publish(std::move(e));
      }
    });
  }
  mqtt::AdapterStats stats() {
    std::promise<mqtt::AdapterStats> p;
    asio::post(io_, [&] { p.set_value(adapter_->stats()); });
    return p.get_future().get();
  }

 private:
  asio::io_context io_;
  EventBus bus_;
  std::optional<DeviceModel> model_;
  std::optional<mqtt::Adapter> adapter_;
  std::thread thread_;
};

// The peer: a bare libmosquitto publisher with its own network thread.
class Peer {
 public:
  explicit Peer(std::uint16_t port) {
    m_ = mosquitto_new("bench-peer", true, nullptr);
    mosquitto_int_option(m_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect(m_, "127.0.0.1", port, 30);
    mosquitto_loop_start(m_);
  }
  ~Peer() {
    mosquitto_disconnect(m_);
    mosquitto_loop_stop(m_, true);
    mosquitto_destroy(m_);
  }
  void publish(const std::string& padding) {
    const std::string payload = std::to_string(now_ns()) + " " + padding;
    mosquitto_publish(m_, nullptr, "bench/peer", static_cast<int>(payload.size()), payload.data(), 1, false);
  }

 private:
  mosquitto* m_;
};

struct Summary {
  double p50 = 0, p99 = 0, max = 0;
};

Summary summarize(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  return {at(0.5), at(0.99), v.back()};
}

pid_t start_broker(std::uint16_t port, const std::filesystem::path& dir) {
  const auto conf = dir / "mosquitto.conf";
  std::ofstream(conf) << "listener " << port << " 127.0.0.1\nallow_anonymous true\nuser "
                      << (getenv("USER") ? getenv("USER") : "root") << "\nmax_inflight_messages 0\n"
                      << "max_queued_messages 0\n";
  pid_t pid = fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen((dir / "mosquitto.log").c_str(), "w", stderr);
    execlp("mosquitto", "mosquitto", "-c", conf.c_str(), nullptr);
    execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf.c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 50; ++i) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "mosquitto did not start (see %s)\n", (dir / "mosquitto.log").c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  size_t events = 400, burst = 20000;
  double rate = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--events" && i + 1 < argc) events = std::stoul(argv[++i]);
    else if (a == "--rate" && i + 1 < argc) rate = std::stod(argv[++i]);
    else if (a == "--burst" && i + 1 < argc) burst = std::stoul(argv[++i]);
    else if (a == "--smoke") events = 40, burst = 500;
    else {
      std::fprintf(stderr, "usage: mqtt_bench [--events N] [--rate PER_S] [--burst N] [--smoke]\n");
      return 2;
    }
  }
  mosquitto_lib_init();
  char tmpl[] = "/tmp/freehold-mqtt-bench-XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  const std::uint16_t port = free_port();
  const pid_t broker = start_broker(port, dir);
  int rc = 0;
  {
    Subscriber sub(port);
    Device device(port, burst);
    Peer peer(port);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // all three connected and subscribed

    // 1. Latency at a steady rate: ours, then the peer with a payload of the same size.
    const auto gap = std::chrono::duration<double>(1.0 / rate);
    sub.reset();
    for (size_t i = 0; i < events; ++i) {
      device.publish(1);
      std::this_thread::sleep_for(gap);
    }
    const bool ours_ok = sub.wait(events, std::chrono::seconds(10)).has_value();
    const Summary ours = summarize(sub.latencies());
    sub.reset();
    const std::string padding(200, 'x');  // about the size of a person event's JSON
    for (size_t i = 0; i < events; ++i) {
      peer.publish(padding);
      std::this_thread::sleep_for(gap);
    }
    const bool peer_ok = sub.wait(events, std::chrono::seconds(10)).has_value();
    const Summary theirs = summarize(sub.latencies());
    std::printf("event -> subscriber latency, %zu events at %.0f/s, QoS 1, loopback mosquitto\n", events, rate);
    std::printf("  freehold adapter: p50 %.3f ms  p99 %.3f ms  max %.3f ms%s\n", ours.p50 / 1000, ours.p99 / 1000,
                ours.max / 1000, ours_ok ? "" : "  (SOME LOST)");
    std::printf("  bare libmosquitto publisher (peer): p50 %.3f ms  p99 %.3f ms  max %.3f ms%s\n", theirs.p50 / 1000,
                theirs.p99 / 1000, theirs.max / 1000, peer_ok ? "" : "  (SOME LOST)");
    std::printf("  ratio ours/peer: p50 %.2fx  p99 %.2fx   (goal: p99 <= 20 ms)\n", ours.p50 / theirs.p50,
                ours.p99 / theirs.p99);
    if (!ours_ok || !peer_ok) rc = 1;

    // 2. A burst: how fast the outbox drains into the broker and on to the subscriber.
    sub.reset();
    auto t0 = Clock::now();
    device.publish(burst);
    auto done = sub.wait(burst, std::chrono::seconds(120));
    const double ours_s = done ? std::chrono::duration<double>(*done - t0).count() : 0;
    const auto st = device.stats();
    sub.reset();
    t0 = Clock::now();
    for (size_t i = 0; i < burst; ++i) peer.publish(padding);
    auto peer_done = sub.wait(burst, std::chrono::seconds(120));
    const double peer_s = peer_done ? std::chrono::duration<double>(*peer_done - t0).count() : 0;
    std::printf("burst of %zu events, QoS 1\n", burst);
    std::printf("  freehold adapter: %.0f msg/s (%.2f s), dropped %llu\n", done ? burst / ours_s : 0.0, ours_s,
                static_cast<unsigned long long>(st.events_dropped));
    std::printf("  bare libmosquitto publisher (peer): %.0f msg/s (%.2f s)\n", peer_done ? burst / peer_s : 0.0,
                peer_s);
    if (done && peer_done) std::printf("  ratio ours/peer: %.2fx\n", peer_s / ours_s);
    if (!done || !peer_done || st.events_dropped) rc = 1;
  }

  // 3. Telemetry: gathering the daemon's figures and writing the JSON, per message.
  CpuMeter cpu;
  const int reps = 2000;
  const auto t0 = Clock::now();
  size_t bytes = 0;
  for (int i = 0; i < reps; ++i) {
    nlohmann::json t{{"uptime_s", i}, {"cpu_percent", cpu.sample()}};
    if (auto v = process_rss_bytes()) t["memory_rss_bytes"] = *v;
    if (auto v = memory_available_bytes()) t["memory_available_bytes"] = *v;
    if (auto v = temperature_c()) t["temperature_c"] = *v;
    t["streams"] = nlohmann::json::array({{{"name", "main"}, {"fps", 15.0}, {"bitrate_kbps", 1500.0}}});
    bytes += t.dump().size();
  }
  const double per_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / reps;
  std::printf("telemetry message: %.1f us of CPU each (%zu bytes); at the default 60 s interval %.5f %% of a core\n",
              per_us, bytes / reps, per_us / 60e6 * 100);
  std::printf("  budget 1 %% of a core: ratio %.6f of the budget\n", per_us / 60e6 * 100 / 1.0);

  kill(broker, SIGTERM);
  waitpid(broker, nullptr, 0);
  std::filesystem::remove_all(dir);
  mosquitto_lib_cleanup();
  return rc;
}
