// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes how the web UI's files answer a request: the path, Accept-Encoding, If-None-Match and Host (the redirect
// on plain HTTP builds a Location from it). Input: lines "path", "accept-encoding", "if-none-match", "host";
// the first byte's low bit chooses TLS or plain HTTP.
// Oracle: never crash; a plain request is always a 308 whose Location is https:// with no control character or
// space; a TLS request answers 200, 304, 404 or 405, and a 200's Content-Encoding matches the body it carries.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "web/static_files.hpp"

namespace {

namespace fs = std::filesystem;

const freehold::web::StaticFiles& files() {
  static const auto ui = [] {
    const fs::path root = fs::temp_directory_path() / ("freehold-webui-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(root / "assets");
    std::ofstream(root / "index.html") << "<!doctype html>";
    std::ofstream(root / "index.html.gz") << "GZ";
    std::ofstream(root / "index.html.br") << "BR";
    std::ofstream(root / "assets" / "a-1.js") << "1";
    std::string err;
    auto loaded = freehold::web::StaticFiles::load(root, &err);
    fs::remove_all(root);
    if (!loaded) std::abort();
    return loaded;
  }();
  return *ui;
}

std::string header(const freehold::web::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size < 1 || size > 8192) return -1;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string field[4];
  for (int i = 0; i < 4 && !in.empty(); ++i) {
    auto nl = in.find('\n');
    field[i] = std::string(in.substr(0, nl));
    in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  }
  freehold::web::Request req;
  req.method = "GET";
  req.path = field[0];
  req.headers = {{"accept-encoding", field[1]}, {"if-none-match", field[2]}, {"host", field[3]}};
  req.tls = data[0] & 1;
  req.local_address = (data[0] & 2) ? "2001:db8::5" : "192.0.2.5";
  auto r = files().serve(req, 443 + (data[0] >> 2));
  if (!req.tls) {
    const std::string loc = header(r, "Location");
    if (r.status != 308 || !loc.starts_with("https://")) std::abort();
    for (unsigned char c : loc) {
      if (c <= ' ' || c == 0x7f) std::abort();
    }
    return 0;
  }
  if (r.status != 200 && r.status != 304 && r.status != 404 && r.status != 405) std::abort();
  if (r.status == 200) {
    const std::string enc = header(r, "Content-Encoding");
    if (enc == "br" && r.body != "BR") std::abort();
    if (enc == "gzip" && r.body != "GZ") std::abort();
  }
  return 0;
}
