// SPDX-License-Identifier: GPL-3.0-or-later
// The web UI's files (index.html and its hashed assets), read into memory once at start-up from the directory the
// build put them in, with the gzip and brotli variants the build made beside them. Served with validators and
// cache headers (hashed assets are immutable, the page is revalidated), the best encoding the browser accepts, and
// a Content-Security-Policy that allows nothing but this device. Over plain HTTP every page redirects to HTTPS.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "web/http.hpp"

namespace freehold::web {

class StaticFiles final {
 public:
  // Loads every regular file under `root`; nullptr and `error` if it is missing, unreadable or too big.
  [[nodiscard]] static std::unique_ptr<StaticFiles> load(const std::filesystem::path& root, std::string* error);

  // GET or HEAD of a path under / (the router sends /api/ elsewhere). `https_port` is where a plain-HTTP request
  // is redirected to.
  [[nodiscard]] Response serve(const Request& req, int https_port) const;

  // Files served (not counting the compressed variants), and their sizes raw and as the smallest encoding.
  [[nodiscard]] std::size_t files() const { return files_.size(); }
  [[nodiscard]] std::size_t raw_bytes() const;
  [[nodiscard]] std::size_t compressed_bytes() const;

  // The Content-Security-Policy of the web UI's pages.
  static constexpr const char* kPolicy =
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
      "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

  struct File {
    std::string type;
    std::string etag;
    std::string identity, gzip, brotli;  // the last two empty when the build made none
    bool immutable = false;
  };

 private:
  std::map<std::string, File, std::less<>> files_;  // by URL path
};

// Where a request over plain HTTP for `path` belongs: https://<host>[:port]<path>, from the Host header (or the
// address the client connected to when Host is missing or malformed).
[[nodiscard]] std::string https_location(const Request& req, int https_port);

}  // namespace freehold::web
