// SPDX-License-Identifier: GPL-3.0-or-later
#include "web/api.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "web/event_json.hpp"
#include "web/settings_json.hpp"
#include "web/offload.hpp"

namespace freehold::web {

namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kCookie = "fh_session";
constexpr int kReplayMax = 100;  // stored events replayed to a stream reconnecting with Last-Event-ID
constexpr size_t kHeldMax = 128;  // live events held back while the replay is read
constexpr auto kEventFlushWait = std::chrono::seconds(1);
constexpr std::string_view kMjpegBoundary = "freehold-frame";
constexpr auto kMjpegInterval = std::chrono::milliseconds(200);  // 5 pictures a second at most

enum class Access { open, claim, viewer, operator_, admin };

json user_json(const User& u) {
  return {{"username", u.username}, {"role", role_name(u.role)}, {"created", u.created}};
}

// Parses a JSON object body; on failure sets `err` to the response to send.
std::optional<json> object_body(const Request& req, Response& err) {
  if (!req.header("content-type").starts_with("application/json")) {
    err = Response::error(415, "unsupported_media_type", "send the body as application/json");
    return std::nullopt;
  }
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    err = Response::error(400, "bad_json", "the body must be a JSON object");
    return std::nullopt;
  }
  return j;
}

std::optional<std::string> string_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// The rules a new account must meet, answered before any slow hashing is spent on it.
std::optional<Response> check_new_credentials(std::string_view username, std::string_view password) {
  if (auto e = check_username(username)) return Response::error(400, "invalid_username", *e);
  if (auto e = check_password_policy(username, password)) return Response::error(400, "weak_password", *e);
  return std::nullopt;
}

const std::string& dummy_hash() {
  static const std::string dummy = crypto::hash_password("freehold-dummy-password");
  return dummy;
}

Response missing(std::string_view fields) {
  return Response::error(400, "missing_field", "the body must have the string fields " + std::string(fields));
}

bool match(std::string_view pattern, std::string_view path, std::vector<std::string>& params) {
  params.clear();
  while (!pattern.empty() && !path.empty()) {
    auto ps = pattern.find('/', 1), qs = path.find('/', 1);
    std::string_view pseg = pattern.substr(0, ps), qseg = path.substr(0, qs);
    if (pseg == "/{}") {
      if (qseg.size() < 2) return false;
      params.emplace_back(qseg.substr(1));
    } else if (pseg != qseg) {
      return false;
    }
    pattern.remove_prefix(pseg.size());
    path.remove_prefix(qseg.size());
  }
  return pattern.empty() && path.empty();
}

std::string session_cookie(std::string_view value, std::int64_t max_age) {
  return std::string(kCookie) + "=" + std::string(value) + "; Path=/; Max-Age=" + std::to_string(max_age) +
         "; HttpOnly; Secure; SameSite=Strict";
}

}  // namespace

struct Api::Context {
  // A copy, not a pointer into the session table: a handler that awaits (hashing) must not see it dangle when
  // the session is revoked meanwhile.
  std::optional<Session> session;
  std::string token;
  std::vector<std::string> params;
  Clock::time_point now;
};

struct Api::Route {
  std::string_view method;
  std::string_view pattern;
  Access access;
  awaitable<Response> (Api::*fn)(Request&, Context&);
  bool plain_http = false;  // also answered on the plain-HTTP listener (nothing that carries a secret)
};

Api::Api(ApiDeps deps) : d_(std::move(deps)) {
  // Build the dummy hash at start-up, so the first unknown-user login costs no more than any other.
  asio::post(d_.slow_work, [] { (void)dummy_hash(); });
}

awaitable<Response> Api::handle(Request req) {
  Response res;
  try {
    res = co_await dispatch(req);
  } catch (const std::exception& e) {
    log::error("api.internal_error", {{"method", req.method}, {"path", req.path}, {"error", e.what()}});
    res = Response::error(500, "internal", "internal error; see the device log");
  }
  co_return res;
}

// One table for every endpoint: the access rule is enforced in dispatch(), before any handler runs.
const std::vector<Api::Route>& Api::routes() {
  static const std::vector<Route> table = {
      {"GET", "/api/v1/health", Access::open, &Api::health, true},
      {"POST", "/api/v1/claim", Access::claim, &Api::claim},
      {"POST", "/api/v1/session", Access::open, &Api::login},
      {"GET", "/api/v1/session", Access::viewer, &Api::session_get},
      {"DELETE", "/api/v1/session", Access::viewer, &Api::logout},
      {"GET", "/api/v1/users", Access::admin, &Api::users_list},
      {"POST", "/api/v1/users", Access::admin, &Api::user_create},
      {"PATCH", "/api/v1/users/{}", Access::viewer, &Api::user_update},  // admin, or oneself for the password
      {"DELETE", "/api/v1/users/{}", Access::admin, &Api::user_delete},
      {"GET", "/api/v1/config", Access::viewer, &Api::config_get},
      {"GET", "/api/v1/config/schema", Access::viewer, &Api::config_schema},
      {"PATCH", "/api/v1/config", Access::operator_, &Api::config_patch},
      {"GET", "/api/v1/device", Access::viewer, &Api::device},
      {"GET", "/api/v1/entities", Access::viewer, &Api::entities},
      {"GET", "/api/v1/events", Access::viewer, &Api::events},
      {"GET", "/api/v1/events/{}/snapshot", Access::viewer, &Api::event_snapshot},
      {"GET", "/api/v1/audit", Access::admin, &Api::audit_list},
      {"GET", "/api/v1/streams", Access::viewer, &Api::streams},
      {"GET", "/api/v1/snapshot", Access::viewer, &Api::snapshot},
      {"GET", "/api/v1/live/{}", Access::viewer, &Api::live},
      {"POST", "/api/v1/entities/{}/press", Access::operator_, &Api::press},
      {"GET", "/api/v1/relay", Access::admin, &Api::relay_get},
      {"POST", "/api/v1/relay/clients", Access::admin, &Api::relay_pair},
      {"DELETE", "/api/v1/relay/clients/{}", Access::admin, &Api::relay_revoke},
  };
  return table;
}

bool Api::served_on_plain_http(std::string_view method, std::string_view path) {
  std::vector<std::string> params;
  for (const auto& r : routes()) {
    if (r.method == method && match(r.pattern, path, params)) return r.plain_http;
  }
  return false;
}

awaitable<Response> Api::dispatch(Request& req) {
  const auto& table = routes();

  Context ctx;
  ctx.now = Clock::now();
  const Route* route = nullptr;
  std::string allowed;
  for (const auto& r : table) {
    if (!match(r.pattern, req.path, ctx.params)) continue;
    allowed += (allowed.empty() ? "" : ", ") + std::string(r.method);
    if (r.method == req.method) {
      route = &r;
      break;
    }
  }
  if (route == nullptr) {
    if (!allowed.empty()) co_return Response::error(405, "method_not_allowed", "allowed: " + allowed).header("Allow", allowed);
    co_return Response::error(404, "not_found", "no such endpoint: " + req.path);
  }
  if (!req.tls && !route->plain_http) {
    co_return Response::error(404, "https_required",
                              "the REST API is served over HTTPS on port " + std::to_string(d_.https_port));
  }

  // Credentials: a bearer token (CLI, scripts) or the session cookie (browser).
  bool via_cookie = false;
  if (auto auth = req.header("authorization"); auth.starts_with("Bearer ")) {
    ctx.token = std::string(auth.substr(7));
  } else if (auto c = req.cookie(kCookie)) {
    ctx.token = *c;
    via_cookie = true;
  }
  if (!ctx.token.empty()) {
    if (const Session* s = d_.sessions.find(ctx.token, ctx.now)) ctx.session = *s;
  }
  if (!ctx.session && d_.tunnels) {
    if (const auto* t = d_.tunnels->find(req.remote, req.remote_port, req.local_port))
      ctx.session = Session{t->user(), t->role, {}, "relay", ctx.now, ctx.now};
  }

  const bool needs_auth = route->access != Access::open && !(route->access == Access::claim && !d_.accounts.claimed());
  if (!needs_auth) co_return co_await (this->*route->fn)(req, ctx);

  if (!ctx.session) {
    co_return Response::error(401, "unauthorized", "log in first: POST /api/v1/session")
        .header("WWW-Authenticate", "Bearer realm=\"freehold\"");
  }
  const Role need = route->access == Access::admin       ? Role::admin
                    : route->access == Access::operator_ ? Role::operator_
                                                         : Role::viewer;
  if (!role_at_least(ctx.session->role, need)) {
    co_return Response::error(403, "forbidden", "this needs the " + std::string(role_name(need)) + " role");
  }
  // A browser attaches the cookie to cross-site requests; only our own page knows the CSRF token.
  const bool unsafe = req.method != "GET" && req.method != "HEAD";
  if (via_cookie && unsafe) {
    if (!crypto::equal_constant_time(req.header("x-csrf-token"), ctx.session->csrf_token)) {
      co_return Response::error(403, "csrf", "missing or wrong X-CSRF-Token header");
    }
    if (auto origin = req.header("origin"); !origin.empty() && origin != "https://" + std::string(req.header("host"))) {
      co_return Response::error(403, "csrf", "cross-origin request refused");
    }
  }
  co_return co_await (this->*route->fn)(req, ctx);
}

// Plain functions returning the awaitable, not coroutines: GCC 12 destroys the captures of a lambda (or a
// std::function temporary) built inside a co_await operand of a coroutine twice.
awaitable<std::string> Api::hash_off_thread(std::string password) {
  return offload<std::string>(d_.slow_work, [pw = std::move(password)] { return crypto::hash_password(pw); });
}

awaitable<EventStore::Page> Api::query_off_thread(EventStore::Query q, bool flush_first) {
  return offload<EventStore::Page>(d_.slow_work, [store = d_.event_store, q = std::move(q), flush_first] {
    if (flush_first) (void)store->flush(kEventFlushWait);
    return store->query(q);
  });
}

awaitable<std::optional<std::string>> Api::snapshot_off_thread(std::int64_t id) {
  return offload<std::optional<std::string>>(d_.slow_work, [store = d_.event_store, id] {
    auto jpeg = store->snapshot(id);
    // A client that follows the URL of a live event at once may be ahead of the store's writer.
    if (!jpeg && id > 0 && store->flush(kEventFlushWait)) jpeg = store->snapshot(id);
    return jpeg;
  });
}

awaitable<bool> Api::verify_off_thread(std::string hash, std::string password) {
  return offload<bool>(d_.slow_work, [h = std::move(hash), pw = std::move(password)] {
    // Unknown users cost the same time as known ones, so timing does not reveal which names exist.
    return crypto::verify_password(h.empty() ? dummy_hash() : h, pw) && !h.empty();
  });
}

std::optional<Response> Api::still_allowed(const Context& ctx, Role need) {
  // The caller's session may have ended, or its role changed, while we awaited a hash.
  const Session* now = d_.sessions.peek(ctx.token, Clock::now());
  if (now == nullptr) return Response::error(401, "unauthorized", "the session ended during the request");
  if (!role_at_least(now->role, need)) {
    return Response::error(403, "forbidden", "this needs the " + std::string(role_name(need)) + " role");
  }
  return std::nullopt;
}

Api::Counted Api::count_failure(const Request& req, std::string_view username) {
  const auto now = Clock::now();
  Counted c;
  c.ip_locked = d_.lockout.failure(lockout_source_key(req.remote), now);
  c.user_locked = !username.empty() && d_.lockout.failure("user:" + std::string(username), now);
  return c;
}

void Api::audit_lockouts(const Request& req, std::string_view username, Counted c) {
  if (c.ip_locked) d_.audit.record("anonymous", req.remote, "locked_out", "source address locked");
  if (c.user_locked) d_.audit.record("user:" + std::string(username), req.remote, "locked_out", "user locked");
}

void Api::clear_failures(const Request& req, std::string_view username) {
  d_.lockout.success(lockout_source_key(req.remote));
  if (!username.empty()) d_.lockout.success("user:" + std::string(username));
}

std::optional<Response> Api::locked_out(const Request& req, std::string_view username) {
  const auto now = Clock::now();
  std::int64_t wait = d_.lockout.retry_after(lockout_source_key(req.remote), now);
  if (!username.empty()) wait = std::max(wait, d_.lockout.retry_after("user:" + std::string(username), now));
  if (wait == 0) return std::nullopt;
  log::info("auth.locked_out", {{"source", req.remote}, {"user", username}, {"retry_after_s", wait}});
  json j{{"error", "locked_out"},
         {"message", "too many failed attempts; try again in " + std::to_string(wait) + " seconds"},
         {"retry_after_s", wait}};
  return Response::json(429, j.dump()).header("Retry-After", std::to_string(wait));
}

Response Api::start_session(const User& user, const Request& req, int status) {
  auto issued = d_.sessions.create(user.username, user.role, Clock::now());
  d_.audit.record("user:" + user.username, req.remote, "login", "session=" + issued.session.id);
  const auto max_age = d_.model.config().get_int("security.session_max_hours") * 3600;
  json j{{"username", user.username},
         {"role", role_name(user.role)},
         {"token", issued.token},
         {"csrf_token", issued.session.csrf_token},
         {"idle_timeout_s", d_.model.config().get_int("security.session_idle_minutes") * 60}};
  return Response::json(status, j.dump()).header("Set-Cookie", session_cookie(issued.token, max_age));
}

awaitable<Response> Api::health(Request&, Context&) {
  // Whether the device is claimed is no secret (a claim attempt tells as much); the web UI picks its first page by it.
  co_return Response::json(200, json{{"status", "ok"}, {"claimed", d_.accounts.claimed()}}.dump());
}

awaitable<Response> Api::claim(Request& req, Context& ctx) {
  if (ctx.session) co_return Response::error(409, "already_claimed", "this device already has an owner");
  if (auto locked = locked_out(req, "")) co_return *locked;
  Response err;
  auto body = object_body(req, err);
  if (!body) co_return err;
  auto code = string_field(*body, "code");
  auto username = string_field(*body, "username");
  auto password = string_field(*body, "password");
  if (!code || !username || !password) co_return missing("code, username and password");
  if (!d_.accounts.claim_code_matches(*code)) {
    audit_lockouts(req, "", count_failure(req, ""));
    d_.audit.record("anonymous", req.remote, "claim_failed", "wrong claim code");
    co_return Response::error(403, "wrong_code", "the claim code is wrong; it is printed in the device log");
  }
  if (auto bad = check_new_credentials(*username, *password)) co_return *bad;
  std::string hash = co_await hash_off_thread(*password);
  // Another claim may have won while we were hashing.
  if (d_.accounts.claimed() || !d_.accounts.claim_code_matches(*code)) {
    co_return Response::error(409, "already_claimed", "this device already has an owner");
  }
  if (auto e = d_.accounts.create(*username, Role::admin, hash, *password)) {
    co_return Response::error(400, "invalid_user", *e);
  }
  d_.accounts.end_claim();
  clear_failures(req, "");
  d_.audit.record("user:" + *username, req.remote, "claimed", "admin created");
  log::notice("device.claimed", {{"admin", *username}, {"source", req.remote}});
  co_return start_session(User{*username, Role::admin, static_cast<std::int64_t>(std::time(nullptr))}, req, 201);
}

awaitable<Response> Api::login(Request& req, Context&) {
  Response err;
  auto body = object_body(req, err);
  if (!body) co_return err;
  auto username = string_field(*body, "username");
  auto password = string_field(*body, "password");
  if (!username || !password) co_return missing("username and password");
  if (username->size() > 64 || password->size() > 1024) {
    co_return Response::error(400, "too_long", "user name or password is too long");
  }
  if (auto locked = locked_out(req, *username)) co_return *locked;

  // Count the attempt before the slow check, so parallel guesses cannot all slip past one lockout check;
  // a success clears it again.
  const Counted counted = count_failure(req, *username);
  auto stored = d_.accounts.find(*username);
  // Named, not a conditional temporary inside co_await: GCC 12 destroys such temporaries twice (PR 101367).
  std::string stored_hash = stored ? stored->password_hash : std::string();
  const bool ok = co_await verify_off_thread(stored_hash, *password);
  // The user may have been changed, demoted or deleted while we were hashing: decide on what is there now.
  auto current = d_.accounts.find(*username);
  if (!ok || !current || current->password_hash != stored_hash) {
    audit_lockouts(req, *username, counted);
    d_.audit.record("user:" + *username, req.remote, "login_failed", "wrong user name or password");
    co_return Response::error(401, "invalid_credentials", "wrong user name or password");
  }
  clear_failures(req, *username);
  co_return start_session(current->user, req, 200);
}

awaitable<Response> Api::session_get(Request&, Context& ctx) {
  json j{{"username", ctx.session->username},
         {"role", role_name(ctx.session->role)},
         {"csrf_token", ctx.session->csrf_token}};
  co_return Response::json(200, j.dump());
}

awaitable<Response> Api::logout(Request& req, Context& ctx) {
  d_.audit.record("user:" + ctx.session->username, req.remote, "logout", "session=" + ctx.session->id);
  d_.sessions.revoke(ctx.token);
  Response r;
  r.status = 204;
  r.header("Set-Cookie", session_cookie("", 0));
  co_return r;
}

awaitable<Response> Api::users_list(Request&, Context&) {
  json arr = json::array();
  for (const auto& u : d_.accounts.list()) arr.push_back(user_json(u));
  co_return Response::json(200, json{{"users", arr}}.dump());
}

awaitable<Response> Api::user_create(Request& req, Context& ctx) {
  Response err;
  auto body = object_body(req, err);
  if (!body) co_return err;
  auto username = string_field(*body, "username");
  auto password = string_field(*body, "password");
  auto role_s = string_field(*body, "role");
  if (!username || !password || !role_s) co_return missing("username, password and role");
  auto role = parse_role(*role_s);
  if (!role) co_return Response::error(400, "invalid_role", "role must be admin, operator or viewer");
  if (auto bad = check_new_credentials(*username, *password)) co_return *bad;
  if (d_.accounts.find(*username)) co_return Response::error(409, "exists", "user '" + *username + "' already exists");
  std::string hash = co_await hash_off_thread(*password);
  if (auto stale = still_allowed(ctx, Role::admin)) co_return *stale;
  if (auto e = d_.accounts.create(*username, *role, hash, *password)) co_return Response::error(409, "exists", *e);
  d_.audit.record("user:" + ctx.session->username, req.remote, "user_created",
                  *username + " role=" + std::string(role_name(*role)));
  auto u = d_.accounts.find(*username);
  co_return Response::json(201, user_json(u->user).dump());
}

awaitable<Response> Api::relay_get(Request&, Context&) {
  if (!d_.relay.status) co_return Response::error(503, "no_relay", "remote access is not available on this device");
  co_return Response::json(200, d_.relay.status());
}

awaitable<Response> Api::relay_pair(Request& req, Context& ctx) {
  if (!d_.relay.pair) co_return Response::error(503, "no_relay", "remote access is not available on this device");
  Response err;
  auto body = object_body(req, err);
  if (!body) co_return err;
  auto key = string_field(*body, "key");
  if (!key) co_return missing("key");
  const auto name = string_field(*body, "name").value_or("");
  const auto role = parse_role(string_field(*body, "role").value_or("admin"));
  if (!role) co_return Response::error(400, "invalid_role", "role must be admin, operator or viewer");
  if (name.size() > 64) co_return Response::error(400, "invalid_name", "name: at most 64 characters");
  Response r = d_.relay.pair(*key, name, *role);
  if (r.status < 300)
    d_.audit.record("user:" + ctx.session->username, req.remote, "relay_client_paired",
                    *key + " role=" + std::string(role_name(*role)));
  co_return r;
}

awaitable<Response> Api::relay_revoke(Request& req, Context& ctx) {
  if (!d_.relay.revoke) co_return Response::error(503, "no_relay", "remote access is not available on this device");
  const std::string id = ctx.params.at(0);
  Response r = d_.relay.revoke(id);
  if (r.status < 300) d_.audit.record("user:" + ctx.session->username, req.remote, "relay_client_revoked", id);
  co_return r;
}

awaitable<Response> Api::user_update(Request& req, Context& ctx) {
  const std::string target = ctx.params.at(0);
  const std::string actor = ctx.session->username;
  const bool admin = ctx.session->role == Role::admin;
  const bool self = actor == target;
  if (!admin && !self) co_return Response::error(403, "forbidden", "only an admin can change other users");
  Response err;
  auto body = object_body(req, err);
  if (!body) co_return err;
  auto target_user = d_.accounts.find(target);
  if (!target_user) co_return Response::error(404, "no_such_user", "no user named '" + target + "'");

  auto role_s = string_field(*body, "role");
  auto password = string_field(*body, "password");
  if (!role_s && !password) co_return missing("role or password");
  if (role_s && !admin) co_return Response::error(403, "forbidden", "only an admin can change roles");
  std::optional<Role> role;
  if (role_s) {
    role = parse_role(*role_s);
    if (!role) co_return Response::error(400, "invalid_role", "role must be admin, operator or viewer");
  }
  if (password) {
    if (auto e = check_password_policy(target, *password)) co_return Response::error(400, "weak_password", *e);
    if (self) {
      // Changing one's own password proves knowledge of the current one (a stolen session is not enough).
      auto current = string_field(*body, "current_password");
      if (!current) co_return missing("current_password");
      if (auto locked = locked_out(req, target)) co_return *locked;
      const Counted counted = count_failure(req, target);  // a stolen session must not become a password oracle
      if (!co_await verify_off_thread(target_user->password_hash, *current)) {
        audit_lockouts(req, target, counted);
        d_.audit.record("user:" + actor, req.remote, "password_change_failed", "wrong current_password");
        co_return Response::error(403, "wrong_password", "current_password is wrong");
      }
      clear_failures(req, target);
    }
  }
  // Every slow step is done before anything changes, so a refusal never leaves half an update behind.
  std::string hash;
  if (password) hash = co_await hash_off_thread(*password);
  if (auto stale = still_allowed(ctx, (role || !self) ? Role::admin : Role::viewer)) co_return *stale;
  if (role) {
    if (auto e = d_.accounts.set_role(target, *role)) co_return Response::error(409, "conflict", *e);
    d_.sessions.set_role(target, *role);
    d_.audit.record("user:" + actor, req.remote, "user_role_changed", target + " role=" + *role_s);
  }
  if (password) {
    if (auto e = d_.accounts.set_password(target, hash, *password)) co_return Response::error(400, "invalid", *e);
    d_.sessions.revoke_user(target);  // every login of that user ends, the caller's own included
    d_.audit.record("user:" + actor, req.remote, "user_password_changed", target);
  }
  auto u = d_.accounts.find(target);
  co_return Response::json(200, user_json(u->user).dump());
}

awaitable<Response> Api::user_delete(Request& req, Context& ctx) {
  const std::string target = ctx.params.at(0);
  if (auto e = d_.accounts.remove(target)) {
    co_return Response::error(d_.accounts.find(target) ? 409 : 404, "cannot_delete", *e);
  }
  d_.sessions.revoke_user(target);
  d_.audit.record("user:" + ctx.session->username, req.remote, "user_deleted", target);
  Response r;
  r.status = 204;
  co_return r;
}

awaitable<Response> Api::config_get(Request&, Context&) {
  co_return Response::json(200, json{{"values", settings_json(d_.model.config())}}.dump());
}

awaitable<Response> Api::config_schema(Request&, Context&) {
  json arr = json::array();
  for (const auto& s : settings_schema()) {
    json j{{"key", s.key},
           {"type", s.kind == Kind::boolean   ? "boolean"
                    : s.kind == Kind::integer ? "integer"
                    : s.kind == Kind::choice  ? "choice"
                                              : "string"},
           {"default", value_json(s.default_value)},
           {"help", s.help},
           {"write_role", role_name(s.write_role)},
           {"restart_required", s.restart_required},
           {"secret", s.secret}};
    if (s.kind == Kind::integer || s.kind == Kind::string) j["min"] = s.min, j["max"] = s.max;
    if (s.kind == Kind::choice) j["choices"] = s.choices;
    if (!s.unit.empty()) j["unit"] = s.unit;
    arr.push_back(std::move(j));
  }
  co_return Response::json(200, json{{"settings", arr}}.dump());
}

awaitable<Response> Api::config_patch(Request& req, Context& ctx) {
  Response err;
  auto body = object_body(req, err);
  if (!body) co_return err;
  std::vector<std::pair<std::string, Value>> values;
  std::vector<FieldError> errors;
  flatten_settings(*body, values, errors);
  // A secret sent back as its mask (a form echoing GET) keeps its value.
  std::erase_if(values, [](const auto& kv) {
    const SettingSpec* spec = find_setting(kv.first);
    return spec && spec->secret && kv.second == Value{std::string(kSecretMask)};
  });
  SetResult result;
  if (errors.empty()) {
    result = d_.model.set_many(values, Requester{"user:" + ctx.session->username, req.remote, ctx.session->role});
  }
  errors.insert(errors.end(), result.errors.begin(), result.errors.end());
  if (!errors.empty()) {
    json arr = json::array();
    bool forbidden = false;
    for (const auto& e : errors) {
      arr.push_back({{"key", e.key}, {"message", e.message}});
      forbidden = forbidden || e.forbidden;
    }
    json j{{"error", forbidden ? "forbidden" : "invalid_settings"},
           {"message", forbidden ? "your role may not change some of these settings"
                                 : "nothing was changed: fix the listed settings"},
           {"errors", arr}};
    co_return Response::json(forbidden ? 403 : 400, j.dump());
  }
  co_return Response::json(200, json{{"changed", result.changed}, {"restart_required", result.restart_required}}.dump());
}

awaitable<Response> Api::device(Request&, Context&) {
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - d_.info.started).count();
  json j{{"name", d_.model.config().get_string("device.name")},
         {"manufacturer", d_.info.manufacturer},
         {"model", d_.info.model},
         {"firmware_version", d_.info.firmware_version},
         {"git_revision", d_.info.git_revision},
         {"tls_fingerprint_sha256", d_.info.tls_fingerprint},
         {"uptime_s", uptime},
         {"time_utc", static_cast<std::int64_t>(std::time(nullptr))}};
  co_return Response::json(200, j.dump());
}

awaitable<Response> Api::entities(Request&, Context&) {
  json arr = json::array();
  for (const auto& e : d_.model.entities()) {
    json j{{"object_id", e.object_id}, {"name", e.name}, {"component", component_name(e.component)}};
    if (!e.setting.empty()) j["setting"] = e.setting;
    if (!e.device_class.empty()) j["device_class"] = e.device_class;
    if (!e.unit.empty()) j["unit"] = e.unit;
    if (!e.category.empty()) j["category"] = e.category;
    if (auto s = d_.model.state(e.object_id)) j["state"] = value_json(*s);
    arr.push_back(std::move(j));
  }
  co_return Response::json(200, json{{"entities", arr}}.dump());
}

// EventSource always sends Accept: text/event-stream; anything else asks for the history.
awaitable<Response> Api::events(Request& req, Context& ctx) {
  if (req.header("accept").find("text/event-stream") != std::string_view::npos) {
    co_return co_await events_stream(req, ctx);
  }
  co_return co_await events_history(req, ctx);
}

awaitable<Response> Api::events_stream(Request& req, Context& ctx) {
  auto stream = std::make_shared<EventStream>();
  std::weak_ptr<EventStream> weak = stream;
  struct Live {
    DeviceModel::ChangeSignal::Subscription changes;
    EventBus::EventSignal::Subscription events;
    bool replaying = false;
    std::vector<Event> held;  // arrived while the replay was read
  };
  auto live = std::make_shared<Live>();
  live->changes = d_.model.subscribe([weak](const Change& c) {
    if (auto s = weak.lock()) {
      const SettingSpec* spec = c.kind == Change::Kind::setting ? find_setting(c.key) : nullptr;
      json j{{"key", c.key}, {"value", value_json(spec ? shown_value(*spec, c.value) : c.value)}, {"actor", c.actor}};
      s->push(c.kind == Change::Kind::setting ? "setting" : c.kind == Change::Kind::state ? "state" : "action",
              j.dump());
    }
  });
  const bool stored = d_.event_store != nullptr;
  if (d_.events) {
    // A raw pointer: `live` owns this subscription, so the handler cannot outlive it (and a shared_ptr here
    // would keep `live` alive through the bus forever).
    live->events = d_.events->subscribe([weak, l = live.get(), stored](const Event& e) {
      auto s = weak.lock();
      if (!s) return;
      if (l->replaying) {
        if (l->held.size() < kHeldMax) {
          l->held.push_back(e);
        } else {
          s->close();  // the client reconnects with Last-Event-ID and gets them from the store
        }
        return;
      }
      s->push(e.type, event_json(e, stored && e.snapshot && !e.snapshot->empty()).dump(), e.id);
    });
  }
  stream->keep = live;
  // peek(): an open stream must not keep an idle session alive forever.
  stream->still_authorized = [this, token = ctx.token] { return d_.sessions.peek(token, Clock::now()) != nullptr; };
  stream->push("ready", json{{"username", ctx.session->username}}.dump());

  const auto last_seen = parse_event_id(req.header("last-event-id"));
  if (last_seen && d_.events && d_.event_store) {
    EventStore::Query q;
    q.after_id = *last_seen;
    q.limit = kReplayMax;
    live->replaying = true;
    EventStore::Page page = co_await query_off_thread(q, true);
    live->replaying = false;
    std::int64_t newest = *last_seen;
    for (auto it = page.events.rbegin(); it != page.events.rend(); ++it) {
      stream->push(it->event.type, event_json(it->event, it->has_snapshot).dump(), it->event.id);
      newest = std::max(newest, it->event.id);
    }
    for (const Event& e : live->held) {
      if (e.id > newest) stream->push(e.type, event_json(e, e.snapshot && !e.snapshot->empty()).dump(), e.id);
    }
    live->held.clear();
  }
  Response r;
  r.stream = std::move(stream);
  co_return r;
}

awaitable<Response> Api::events_history(Request& req, Context&) {
  std::string error;
  auto q = parse_history_query(req, &error);
  if (!q) co_return Response::error(400, "bad_query", error);
  EventStore::Page page;
  if (d_.event_store) page = co_await query_off_thread(*q, false);
  json arr = json::array();
  for (const auto& s : page.events) arr.push_back(event_json(s.event, s.has_snapshot));
  json next = nullptr;
  if (page.next_before > 0) next = page.next_before;
  co_return Response::json(200, json{{"events", std::move(arr)}, {"next_before", std::move(next)}}.dump());
}

awaitable<Response> Api::event_snapshot(Request&, Context& ctx) {
  const std::string& text = ctx.params.at(0);
  const bool numeric =
      text.size() <= 18 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!numeric) {
    co_return Response::error(400, "bad_id", "the event id must be a whole number, as in /api/v1/events/42/snapshot");
  }
  const std::int64_t id = parse_event_id(text).value_or(0);
  std::optional<std::string> jpeg;
  if (d_.event_store && id > 0) jpeg = co_await snapshot_off_thread(id);
  if (!jpeg) {
    co_return Response::error(
        404, "no_snapshot", "event " + text + " has no snapshot (none taken, removed by retention, or no such event)");
  }
  Response r;
  r.body = std::move(*jpeg);
  r.header("Content-Type", "image/jpeg");
  // An event's picture never changes; it is personal data, so never in a shared cache.
  r.header("Cache-Control", "private, max-age=86400");
  co_return r;
}

awaitable<Response> Api::streams(Request&, Context&) {
  co_return Response::json(200, d_.streams_status ? d_.streams_status() : R"({"streams":[],"rtsp":null})");
}

awaitable<Response> Api::snapshot(Request&, Context&) {
  if (d_.model.config().get_bool("privacy.enabled")) {
    co_return Response::error(503, "privacy_mode", "privacy mode is on: no pictures are taken");
  }
  if (!d_.snapshot) co_return Response::error(503, "no_camera", "streaming is off (rtsp.enabled = false)");
  // The picture is compressed on the worker: the I/O thread keeps serving streams meanwhile.
  Snapshot shot = co_await offload<Snapshot>(d_.slow_work, d_.snapshot);
  if (shot.jpeg.empty()) co_return Response::error(503, "no_picture", shot.error);
  Response r;
  r.body = std::move(shot.jpeg);
  r.header("Content-Type", "image/jpeg");
  r.header("Cache-Control", "no-store");
  r.header("X-Picture-Time", std::to_string(shot.wallclock_us / 1000));
  co_return r;
}

awaitable<Response> Api::press(Request& req, Context& ctx) {
  const std::string& id = ctx.params.at(0);
  const Entity* e = d_.model.find_entity(id);
  if (e == nullptr) co_return Response::error(404, "not_found", "no entity '" + id + "'");
  if (auto problem = d_.model.press(id, Requester{"user:" + ctx.session->username, req.remote, ctx.session->role})) {
    co_return Response::error(e->component == Component::button ? 403 : 400,
                              e->component == Component::button ? "forbidden" : "not_a_button", *problem);
  }
  co_return Response::json(202, json{{"pressed", id}}.dump());
}

std::optional<Response> Api::stream_off(const std::string& stream) const {
  auto why = stream_refusal(d_.model.config(), stream);
  if (!why) return std::nullopt;
  return Response::error(why->unknown ? 404 : 503, why->code, why->message);
}

awaitable<Response> Api::live(Request& req, Context& ctx) {
  std::string name = ctx.params.at(0);
  if (name.ends_with(".mjpeg")) {
    name.resize(name.size() - 6);
    if (auto off = stream_off(name)) co_return *off;
    co_return co_await live_mjpeg(name, ctx);
  }
  std::string upgrade(req.header("upgrade"));
  std::transform(upgrade.begin(), upgrade.end(), upgrade.begin(), [](unsigned char c) { return std::tolower(c); });
  if (upgrade != "websocket") {
    if (auto off = stream_off(name)) co_return *off;  // what a page can ask before it opens the socket
    co_return Response::error(426, "upgrade_required",
                              "this is a WebSocket (Upgrade: websocket); /api/v1/live/" + name +
                                  ".mjpeg is the same stream as multipart JPEG")
        .header("Upgrade", "websocket");
  }
  // The same-origin policy does not cover WebSockets: a page from elsewhere could open one with the session
  // cookie. Only this device's own pages may (clients that send no Origin, such as the CLI, are not browsers).
  if (auto origin = req.header("origin"); !origin.empty() && origin != "https://" + std::string(req.header("host"))) {
    co_return Response::error(403, "origin", "a live view may only be opened by this device's own pages");
  }
  FeedOrError opened;
  if (auto off = stream_refusal(d_.model.config(), name)) {
    opened = {nullptr, 0, off->code, off->message};
  } else if (!d_.live) {
    opened = {nullptr, 0, "no_camera", "streaming is off (rtsp.enabled = false)"};
  } else {
    opened = d_.live(name);
  }
  // A browser cannot read why an upgrade was refused: past authentication, the reason is the first message.
  if (!opened.feed) opened.feed = error_feed(opened.code, opened.message);
  // peek(): watching must not keep an idle session alive forever.
  opened.feed->still_authorized = [this, token = ctx.token] { return d_.sessions.peek(token, Clock::now()) != nullptr; };
  Response r;
  r.status = 101;
  r.websocket = std::move(opened.feed);
  co_return r;
}

// The fallback for browsers without Media Source Extensions: the camera's newest picture as JPEG, a few times a
// second, in a multipart/x-mixed-replace body that an <img> element shows as it comes. One picture per interval is
// compressed for all MJPEG viewers together (on slow_work, which also hashes passwords).
struct Api::MjpegPicture {
  Snapshot shot;
  Clock::time_point taken;
};

awaitable<std::shared_ptr<const Api::MjpegPicture>> Api::mjpeg_picture() {
  const auto fresh = [this] { return mjpeg_latest_ && Clock::now() - mjpeg_latest_->taken < kMjpegInterval; };
  asio::steady_timer wait(co_await asio::this_coro::executor);
  for (int i = 0; i < 100 && mjpeg_busy_ && !fresh(); ++i) {  // another viewer is taking it: at most 1 s
    wait.expires_after(std::chrono::milliseconds(10));
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (fresh() || mjpeg_busy_) co_return mjpeg_latest_;
  mjpeg_busy_ = true;
  Snapshot shot = co_await offload<Snapshot>(d_.slow_work, d_.snapshot);
  mjpeg_busy_ = false;
  mjpeg_latest_ = std::make_shared<const MjpegPicture>(MjpegPicture{std::move(shot), Clock::now()});
  co_return mjpeg_latest_;
}

awaitable<Response> Api::live_mjpeg(const std::string& stream, const Context& ctx) {
  if (!d_.snapshot) co_return Response::error(503, "no_camera", "streaming is off (rtsp.enabled = false)");
  // A source that cannot give pictures (video passed through encoded) says so now, not with an empty stream.
  auto first = co_await mjpeg_picture();
  if (!first || first->shot.jpeg.empty()) {
    co_return Response::error(503, "no_picture", first ? first->shot.error : "no picture yet");
  }
  auto out = std::make_shared<EventStream>(2, "multipart/x-mixed-replace; boundary=" + std::string(kMjpegBoundary));
  out->still_authorized = [this, token = ctx.token] { return d_.sessions.peek(token, Clock::now()) != nullptr; };
  asio::co_spawn(co_await asio::this_coro::executor, mjpeg_pump(out, stream), asio::detached);
  Response r;
  r.stream = std::move(out);
  co_return r;
}

awaitable<void> Api::mjpeg_pump(std::weak_ptr<EventStream> weak, std::string stream) {
  constexpr int kMaxFailures = 10;  // 2 s without a picture: the camera stopped; the client may reconnect
  asio::steady_timer pace(co_await asio::this_coro::executor);
  Clock::time_point sent{};
  for (int failures = 0;;) {
    bool want = false;
    if (auto out = weak.lock()) {  // not held across the waits: a client that leaves is freed at once
      if (out->closed()) co_return;
      if (stream_off(stream) || failures >= kMaxFailures) {
        out->close();
        co_return;
      }
      want = out->queued() == 0;  // a client that is behind skips pictures rather than queue them
    } else {
      co_return;
    }
    if (want) {
      auto pic = co_await mjpeg_picture();
      auto out = weak.lock();
      if (!out) co_return;
      if (!pic || pic->shot.jpeg.empty()) {
        ++failures;
      } else if (pic->taken != sent) {
        failures = 0;
        sent = pic->taken;
        const Snapshot& shot = pic->shot;
        out->push_raw("--" + std::string(kMjpegBoundary) + "\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                      std::to_string(shot.jpeg.size()) + "\r\nX-Picture-Time: " +
                      std::to_string(shot.wallclock_us / 1000) + "\r\n\r\n" + shot.jpeg + "\r\n");
      }
    }
    pace.expires_after(kMjpegInterval);
    co_await pace.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

awaitable<Response> Api::audit_list(Request& req, Context&) {
  int limit = 100;
  std::int64_t before = 0;
  try {
    if (auto l = req.query_param("limit")) limit = std::clamp(std::stoi(*l), 1, 1000);
    if (auto b = req.query_param("before")) before = std::stoll(*b);
  } catch (const std::exception&) {
    co_return Response::error(400, "bad_query", "limit and before must be integers");
  }
  json arr = json::array();
  for (const auto& e : d_.audit.recent(limit, before)) {
    arr.push_back({{"id", e.id},
                   {"time", e.time},
                   {"actor", e.actor},
                   {"source", e.source},
                   {"action", e.action},
                   {"detail", e.detail}});
  }
  co_return Response::json(200, json{{"entries", arr}}.dump());
}

}  // namespace freehold::web
