#include "s3rver_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace sidewal::testing {

namespace {

bool accepts_connections(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A self-signed certificate for IP 127.0.0.1 (subjectAltName, which libcurl
// checks) valid for a day, and its key, as PEM files.
Status write_self_signed_cert(const std::string& cert_path, const std::string& key_path) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x509 = X509_new();
  bool ok = pkey != nullptr && x509 != nullptr;
  if (ok) {
    X509_set_version(x509, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
    X509_gmtime_adj(X509_getm_notBefore(x509), -60);
    X509_gmtime_adj(X509_getm_notAfter(x509), 24 * 3600);
    X509_set_pubkey(x509, pkey);
    X509_NAME* name = X509_get_subject_name(x509);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(x509, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x509, x509, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                              std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      ok = ok && ext != nullptr && X509_add_ext(x509, ext, -1) == 1;
      X509_EXTENSION_free(ext);
    }
    ok = ok && X509_sign(x509, pkey, EVP_sha256()) > 0;
  }
  if (ok) {
    FILE* f = std::fopen(cert_path.c_str(), "w");
    ok = f != nullptr && PEM_write_X509(f, x509) == 1;
    if (f != nullptr) std::fclose(f);
    f = std::fopen(key_path.c_str(), "w");
    ok = ok && f != nullptr &&
         PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (f != nullptr) std::fclose(f);
  }
  X509_free(x509);
  EVP_PKEY_free(pkey);
  return ok ? Status::Ok() : Status::IoError("could not make a self-signed certificate");
}

}  // namespace

uint16_t unused_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

Result<std::unique_ptr<S3rver>> S3rver::start(const std::vector<std::string>& buckets, bool tls) {
  if (::access(S3RVER_SCRIPT, R_OK) != 0) {
    return Status::NotFound(std::string(S3RVER_SCRIPT) +
                            " is missing: run scripts/install-deps.sh (npm ci in tools/s3rver)");
  }
  std::unique_ptr<S3rver> server(new S3rver());
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/s3rver-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return Status::FromErrno(errno, "mkdtemp " + templ);
  server->dir_ = templ;
  const std::string data = server->dir_ + "/data";
  std::filesystem::create_directory(data);
  server->tls_ = tls;
  if (tls) {
    SIDEWAL_RETURN_IF_ERROR(write_self_signed_cert(server->ca_file(), server->dir_ + "/key.pem"));
  }

  server->buckets_ = buckets;
  // The port is free when chosen; if something takes it before s3rver binds,
  // s3rver exits (EADDRINUSE) and another port is tried.
  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = unused_loopback_port();
    if (server->port_ == 0) return Status::IoError("no free loopback port");
    bool addr_in_use = false;
    Status s = server->spawn(&addr_in_use);
    if (s.ok()) return server;
    if (!addr_in_use) return s;
  }
  return Status::IoError("s3rver: no free port after 5 attempts");
}

Status S3rver::restart() {
  if (pid_ > 0) return Status::Ok();
  // The port was ours until stop(); a few tries cover a socket that the
  // kernel has not released yet.
  Status s;
  for (int attempt = 0; attempt < 20; ++attempt) {
    bool addr_in_use = false;
    s = spawn(&addr_in_use);
    if (s.ok() || !addr_in_use) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // retry pacing, not a wait
  }
  return s;
}

Status S3rver::spawn(bool* addr_in_use) {
  *addr_in_use = false;
  const std::string data = dir_ + "/data";
  const std::string log_path = dir_ + "/s3rver.log";
  const std::string port = std::to_string(port_);
  // --openssl-legacy-provider: s3rver makes ListObjectsV2 continuation
  // tokens with DES, which OpenSSL 3 (Node 17 and later) only has there;
  // without it every listing past the first page is a 500.
  std::vector<std::string> args = {"node",        "--openssl-legacy-provider",
                                   S3RVER_SCRIPT, "--directory",
                                   data,          "--address",
                                   "127.0.0.1",   "--port",
                                   port};
  if (tls_) args.insert(args.end(), {"--cert", ca_file(), "--key", dir_ + "/key.pem"});
  for (const std::string& b : buckets_) {
    args.push_back("--configure-bucket");
    args.push_back(b);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group: killed as one
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "node", &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::FromErrno(rc, "spawn node " S3RVER_SCRIPT);
  pid_ = pid;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool exited = false;
  while (std::chrono::steady_clock::now() < deadline) {
    int wstatus = 0;
    if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
      exited = true;
      pid_ = -1;
      break;
    }
    if (accepts_connections(port_)) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
  }
  const std::string log = this->log();
  if (!exited) {
    stop();
    return Status::IoError("s3rver did not accept connections on 127.0.0.1:" + port +
                           " within 30 s; log:\n" + log);
  }
  *addr_in_use = log.find("EADDRINUSE") != std::string::npos;
  return Status::IoError("s3rver exited at start; log:\n" + log);
}

S3rver::~S3rver() {
  stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void S3rver::stop() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::string S3rver::endpoint() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

archive::S3Config S3rver::config(const std::string& bucket) const {
  archive::S3Config c;
  c.endpoint = endpoint();
  c.bucket = bucket;
  c.path_style = true;
  c.credentials.access_key_id = kAccessKeyId;
  c.credentials.secret_access_key = kSecretAccessKey;
  c.connect_timeout_ms = 5'000;
  c.request_timeout_ms = 30'000;
  c.stall_timeout_s = 10;
  return c;
}

std::string S3rver::log() const { return read_file(dir_ + "/s3rver.log"); }

}  // namespace sidewal::testing
