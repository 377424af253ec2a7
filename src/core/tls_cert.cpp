// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/tls_cert.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "core/atomic_file.hpp"

namespace freehold {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

std::optional<TlsIdentity> generate(const std::vector<std::string>& names, std::string* error) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) {
    *error = "cannot generate an ECDSA P-256 key";
    return std::nullopt;
  }
  X509_set_version(cert.get(), X509_VERSION_3);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -24 * 3600);  // tolerate a device clock a day behind
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 20L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const std::string cn = names.empty() ? "freehold" : names.front();
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Freehold device"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), subject);
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "" : ",") + std::string(is_ip(n) ? "IP:" : "DNS:") + n;
  bool ok = add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
            add_ext(cert.get(), NID_key_usage, "critical,digitalSignature") &&
            add_ext(cert.get(), NID_ext_key_usage, "serverAuth") &&
            add_ext(cert.get(), NID_subject_key_identifier, "hash") &&
            (san.empty() || add_ext(cert.get(), NID_subject_alt_name, san));
  if (!ok || X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    *error = "cannot build the self-signed certificate";
    return std::nullopt;
  }
  BioPtr cb(BIO_new(BIO_s_mem())), kb(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cb.get(), cert.get());
  PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return TlsIdentity{bio_string(cb.get()), bio_string(kb.get()), certificate_fingerprint(cert.get())};
}

}  // namespace

std::optional<TlsIdentity> load_or_create_tls_identity(const std::filesystem::path& dir,
                                                       const std::vector<std::string>& names, std::string* error) {
  const auto cert_file = dir / "cert.pem";
  const auto key_file = dir / "key.pem";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  if (std::filesystem::exists(cert_file) && std::filesystem::exists(key_file)) {
    auto cert_pem = read_file(cert_file, error, 64 * 1024);
    auto key_pem = cert_pem ? read_file(key_file, error, 64 * 1024) : std::nullopt;
    if (!key_pem) return std::nullopt;
    BioPtr bio(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      *error = cert_file.string() + ": not a PEM certificate (delete it to generate a new one)";
      return std::nullopt;
    }
    return TlsIdentity{*cert_pem, *key_pem, certificate_fingerprint(cert.get())};
  }
  auto id = generate(names, error);
  if (!id) return std::nullopt;
  // Key first: a cert without its key would be unusable after a crash between the two writes.
  if (auto e = write_file_atomic(key_file, id->key_pem, 0600)) {
    *error = *e;
    return std::nullopt;
  }
  if (auto e = write_file_atomic(cert_file, id->cert_pem, 0644)) {
    *error = *e;
    return std::nullopt;
  }
  return id;
}

std::vector<std::string> local_names() {
  std::vector<std::string> out;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) out.emplace_back(host);
  out.emplace_back("localhost");
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
      char buf[INET6_ADDRSTRLEN] = {};
      if (i->ifa_addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
      } else if (i->ifa_addr->sa_family == AF_INET6) {
        auto* a6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
        if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue;  // a SAN cannot carry a zone index
        inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
      } else {
        continue;
      }
      if (std::find(out.begin(), out.end(), std::string(buf)) == out.end()) out.emplace_back(buf);
    }
    freeifaddrs(ifs);
  }
  return out;
}

std::string certificate_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    char b[4];
    std::snprintf(b, sizeof b, i ? ":%02X" : "%02X", md[i]);
    out += b;
  }
  return out;
}

}  // namespace freehold
