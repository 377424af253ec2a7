// SPDX-License-Identifier: GPL-3.0-or-later
// The device's own TLS identity: an ECDSA P-256 key and a self-signed certificate, generated on first start, with
// the hostname and the device's addresses as subjectAltNames. Clients pin its SHA-256 fingerprint.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

typedef struct x509_st X509;

namespace freehold {

struct TlsIdentity {
  std::string cert_pem;
  std::string key_pem;
  std::string fingerprint_sha256;  // "AB:CD:…", as `openssl x509 -fingerprint -sha256` prints it
};

// Loads <dir>/cert.pem and <dir>/key.pem, or generates and stores them (key 0600) if absent.
// `names` are DNS names and IP addresses for the subjectAltName.
[[nodiscard]] std::optional<TlsIdentity> load_or_create_tls_identity(const std::filesystem::path& dir,
                                                                     const std::vector<std::string>& names,
                                                                     std::string* error);

// "AB:CD:…": the SHA-256 fingerprint of a certificate, as clients pin it.
[[nodiscard]] std::string certificate_fingerprint(X509* cert);

// The host name and every local unicast address, plus localhost: what the certificate should name.
[[nodiscard]] std::vector<std::string> local_names();

}  // namespace freehold
