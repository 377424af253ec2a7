// SPDX-License-Identifier: GPL-3.0-or-later
#include "web/static_files.hpp"

#include <algorithm>
#include <system_error>

#include "core/atomic_file.hpp"
#include "core/crypto.hpp"

namespace freehold::web {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxFiles = 2000;
constexpr std::size_t kMaxTotalBytes = 32u << 20;  // a web UI for flash is far smaller; this bounds a mistake

std::string content_type(const fs::path& p) {
  static const std::map<std::string, std::string, std::less<>> types = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
      {".png", "image/png"},                 {".ico", "image/x-icon"},
      {".json", "application/json"},         {".webmanifest", "application/manifest+json"},
      {".txt", "text/plain; charset=utf-8"}, {".woff2", "font/woff2"}};
  auto it = types.find(p.extension().string());
  return it != types.end() ? it->second : "application/octet-stream";
}

// Whether Accept-Encoding admits `coding` (a listed coding with q=0 is refused; "*" admits any).
bool accepts(std::string_view header, std::string_view coding) {
  bool star = false;
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    auto semi = item.find(';');
    std::string_view name = item.substr(0, semi);
    std::string_view params = semi == std::string_view::npos ? std::string_view{} : item.substr(semi + 1);
    auto trim = [](std::string_view v) {
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    };
    name = trim(name);
    params = trim(params);
    const bool refused = params.starts_with("q=0") && params.find_first_not_of("q=0.", 0) == std::string_view::npos;
    if (name == coding) return !refused;
    if (name == "*") star = !refused;
  }
  return star;
}

bool host_is_sane(std::string_view host) {
  return !host.empty() && host.size() <= 255 && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '%';
  });
}

}  // namespace

std::unique_ptr<StaticFiles> StaticFiles::load(const fs::path& root, std::string* error) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    *error = root.string() + ": not a directory";
    return nullptr;
  }
  auto out = std::make_unique<StaticFiles>();
  std::size_t total = 0;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    const auto ext = p.extension().string();
    if (ext == ".gz" || ext == ".br") continue;  // variants, read with their file
    if (out->files_.size() >= kMaxFiles) {
      *error = root.string() + ": more than " + std::to_string(kMaxFiles) + " files";
      return nullptr;
    }
    File f;
    std::string err;
    auto body = read_file(p, &err, kMaxTotalBytes);
    if (!body) {
      *error = err;
      return nullptr;
    }
    f.identity = std::move(*body);
    for (auto [suffix, slot] : {std::pair{".gz", &f.gzip}, std::pair{".br", &f.brotli}}) {
      fs::path variant = p;
      variant += suffix;
      if (fs::exists(variant, ec)) {
        auto v = read_file(variant, &err, kMaxTotalBytes);
        if (!v) {
          *error = err;
          return nullptr;
        }
        *slot = std::move(*v);
      }
    }
    total += f.identity.size() + f.gzip.size() + f.brotli.size();
    if (total > kMaxTotalBytes) {
      *error = root.string() + ": more than " + std::to_string(kMaxTotalBytes >> 20) + " MiB";
      return nullptr;
    }
    f.type = content_type(p);
    f.etag = "\"" + crypto::hex(crypto::sha256(f.identity)).substr(0, 32) + "\"";
    const std::string rel = "/" + fs::relative(p, root, ec).generic_string();
    f.immutable = rel.starts_with("/assets/");  // Vite names these by their content hash
    out->files_.emplace(rel, std::move(f));
  }
  if (ec) {
    *error = root.string() + ": " + ec.message();
    return nullptr;
  }
  if (!out->files_.contains("/index.html")) {
    *error = root.string() + ": no index.html";
    return nullptr;
  }
  return out;
}

std::string https_location(const Request& req, int https_port) {
  std::string host(req.header("host"));
  if (!host_is_sane(host)) host = req.local_address.find(':') != std::string::npos ? "[" + req.local_address + "]"
                                                                                   : req.local_address;
  // Drop the port the client used (the plain one); an IPv6 literal keeps its brackets.
  if (auto close = host.rfind(']'); host.starts_with('[') && close != std::string::npos) {
    host.resize(close + 1);
  } else if (auto colon = host.find(':'); colon != std::string::npos) {
    host.resize(colon);
  }
  std::string location = "https://" + host;
  if (https_port != 443) location += ":" + std::to_string(https_port);
  // The parser admits only visible characters in a target; whatever else reaches here is not echoed into a header.
  const bool clean = req.path.starts_with('/') && std::all_of(req.path.begin(), req.path.end(), [](unsigned char c) {
    return c > ' ' && c < 0x7f;
  });
  return location + (clean ? req.path : "/");
}

Response StaticFiles::serve(const Request& req, int https_port) const {
  if (!req.tls) {
    Response r;
    r.status = 308;
    r.header("Location", https_location(req, https_port));
    return r;
  }
  if (req.method != "GET") {  // HEAD is not implemented, as for the API
    return Response::error(405, "method_not_allowed", "the web UI's files are only read").header("Allow", "GET");
  }
  const std::string_view path = req.path == "/" ? "/index.html" : std::string_view(req.path);
  auto it = files_.find(path);
  if (it == files_.end()) return Response::error(404, "not_found", "no such page");
  const File& f = it->second;
  Response r;
  r.header("Content-Type", f.type);
  r.header("ETag", f.etag);
  r.header("Cache-Control", f.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  r.header("Content-Security-Policy", kPolicy);
  r.header("Vary", "Accept-Encoding");
  // If-None-Match lists validators; our ETags carry no commas, so a substring test is exact enough.
  if (auto inm = req.header("if-none-match"); !inm.empty() && (inm == "*" || inm.find(f.etag) != std::string_view::npos)) {
    r.status = 304;
    return r;
  }
  const auto ae = req.header("accept-encoding");
  if (!f.brotli.empty() && accepts(ae, "br")) {
    r.header("Content-Encoding", "br");
    r.body = f.brotli;
  } else if (!f.gzip.empty() && accepts(ae, "gzip")) {
    r.header("Content-Encoding", "gzip");
    r.body = f.gzip;
  } else {
    r.body = f.identity;
  }
  return r;
}

std::size_t StaticFiles::raw_bytes() const {
  std::size_t n = 0;
  for (const auto& [p, f] : files_) n += f.identity.size();
  return n;
}

std::size_t StaticFiles::compressed_bytes() const {
  std::size_t n = 0;
  for (const auto& [p, f] : files_) {
    std::size_t best = f.identity.size();
    if (!f.gzip.empty()) best = std::min(best, f.gzip.size());
    if (!f.brotli.empty()) best = std::min(best, f.brotli.size());
    n += best;
  }
  return n;
}

}  // namespace freehold::web
