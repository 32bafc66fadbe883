#include "wal/codecs/secure_key.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/endian.h"

namespace sidewal::wal {
namespace {

std::atomic<uint64_t> g_next_serial{1};

std::string key_file_what(const std::string& path) { return "key file " + path; }

// Closes the fd on every path out of load_file.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void SecureKey::release_page(uint8_t* page, size_t bytes, bool locked) {
  if (locked) ::syscall(SYS_munlock, page, bytes);
  ::munmap(page, bytes);
}

Result<std::unique_ptr<SecureKey>> SecureKey::allocate(const std::string& source,
                                                       PageRelease release) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const size_t map_bytes = page > 0 ? static_cast<size_t>(page) : 4096;
  void* mem =
      ::mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return Status::FromErrno(errno, "mmap for the key from " + source);
  std::unique_ptr<SecureKey> key(new SecureKey());
  key->mem_ = static_cast<uint8_t*>(mem);
  key->map_bytes_ = map_bytes;
  key->source_ = source;
  key->release_ = release;
  key->serial_ = g_next_serial.fetch_add(1);
  // Locked before the key is read into it, so the key never reaches swap.
  // Failure (RLIMIT_MEMLOCK) is reported by locked(), not fatal.
  // The raw syscall: sanitizers intercept mlock() and pretend it succeeded.
  key->locked_ = ::syscall(SYS_mlock, mem, map_bytes) == 0;
  key->dontdump_ = ::madvise(mem, map_bytes, MADV_DONTDUMP) == 0;
  // Best effort: kernels before 4.14 do not know it, and a child that does
  // not exec never needs the key.
#ifdef MADV_WIPEONFORK
  (void)::madvise(mem, map_bytes, MADV_WIPEONFORK);
#endif
  return key;
}

Status SecureKey::seal_read_only() {
  // Read-only while in use: a stray write through a bad pointer faults
  // instead of silently changing the key.
  if (::mprotect(mem_, map_bytes_, PROT_READ) != 0) {
    return Status::FromErrno(errno, "mprotect for the key from " + source_);
  }
  read_only_ = true;
  return Status::Ok();
}

Result<std::unique_ptr<SecureKey>> SecureKey::load_file(const std::string& path,
                                                        PageRelease release) {
  if (path.empty()) return Status::InvalidArgument("key file path is empty");
  const std::string what = key_file_what(path);
  // No O_NOFOLLOW: Kubernetes mounts Secret files as symlinks into ..data/.
  FdCloser fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(what + ": does not exist");
    return Status::FromErrno(err, "open " + what);
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return Status::FromErrno(errno, "fstat " + what);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(what + ": is not a regular file");

  auto key = allocate(path, release);
  if (!key.ok()) return key.status();
  SecureKey& k = **key;
  // Read up to one byte more than a key so a longer file is detected
  // whatever st_size says. The page has room for it.
  constexpr size_t kWant = kKeyBytes + 1;
  size_t got = 0;
  while (got < kWant) {
    const ssize_t n = ::read(fd.fd, k.mem_ + got, kWant - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + what);  // ~SecureKey wipes what was read
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != kKeyBytes) {
    const std::string size = got < kWant ? std::to_string(got)
                             : st.st_size > static_cast<off_t>(kKeyBytes)
                                 ? std::to_string(st.st_size)
                                 : "more than " + std::to_string(kKeyBytes);
    return Status::InvalidArgument(
        what + ": is " + size + " bytes, exactly " + std::to_string(kKeyBytes) +
        " raw bytes expected (not base64 or hex text, no trailing newline; create one with "
        "`head -c 32 /dev/urandom > key`)");
  }
  // A key of zeros is a placeholder, not a secret.
  uint8_t any = 0;
  for (size_t i = 0; i < kKeyBytes; ++i) any |= k.mem_[i];
  if (any == 0) return Status::InvalidArgument(what + ": holds 32 zero bytes, not a key");
  SIDEWAL_RETURN_IF_ERROR(k.seal_read_only());
  return key;
}

Result<std::unique_ptr<SecureKey>> SecureKey::from_bytes(std::span<const uint8_t> bytes,
                                                         const std::string& source,
                                                         PageRelease release) {
  if (bytes.size() != kKeyBytes) {
    return Status::InvalidArgument(source + ": key is " + std::to_string(bytes.size()) +
                                   " bytes, exactly " + std::to_string(kKeyBytes) + " expected");
  }
  auto key = allocate(source, release);
  if (!key.ok()) return key.status();
  std::memcpy((*key)->mem_, bytes.data(), kKeyBytes);
  SIDEWAL_RETURN_IF_ERROR((*key)->seal_read_only());
  return key;
}

void SecureKey::wipe() {
  if (mem_ == nullptr) return;
  if (read_only_) {
    // Cannot fail for a mapping we own with these flags; if it did, writing
    // would fault, so stop here rather than leave a key behind silently.
    SW_ASSERT_MSG(::mprotect(mem_, map_bytes_, PROT_READ | PROT_WRITE) == 0,
                  "mprotect to wipe a key");
    read_only_ = false;
  }
  // The whole page: load_file may have read a 33rd byte into it.
  OPENSSL_cleanse(mem_, map_bytes_);
}

SecureKey::~SecureKey() {
  if (mem_ == nullptr) return;
  wipe();
  release_(mem_, map_bytes_, locked_);
}

uint64_t SecureKey::fingerprint() const {
  static constexpr char kLabel[] = "sidewal key fingerprint v1";
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  const uint8_t* out =
      HMAC(EVP_sha256(), mem_, static_cast<int>(kKeyBytes),
           reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1, mac, &mac_len);
  SW_ASSERT_MSG(out != nullptr && mac_len >= 8, "HMAC-SHA256 for a key fingerprint");
  const uint64_t fp = get_u64(mac);
  OPENSSL_cleanse(mac, sizeof mac);
  return fp;
}

Result<std::unique_ptr<SecureKey>> derive_segment_key(
    const SecureKey& configured, std::span<const uint8_t, format::kSaltBytes> salt,
    uint64_t segment_id) {
  static constexpr char kLabel[] = "sidewal segment key v1";
  const std::string what =
      "derive the key of segment " + std::to_string(segment_id) + " from " + configured.source();
  uint8_t info[sizeof kLabel - 1 + 8];
  std::memcpy(info, kLabel, sizeof kLabel - 1);
  put_u64(info + sizeof kLabel - 1, segment_id);

  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return Status::Unsupported(what + ": OpenSSL has no HKDF");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return Status::IoError(what + ": EVP_KDF_CTX_new failed");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                        const_cast<uint8_t*>(configured.bytes().data()), kKeyBytes),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
      OSSL_PARAM_construct_end(),
  };
  uint8_t derived[kKeyBytes];
  const int rc = EVP_KDF_derive(ctx, derived, sizeof derived, params);
  EVP_KDF_CTX_free(ctx);  // cleanses its copy of the key material
  if (rc != 1) {
    OPENSSL_cleanse(derived, sizeof derived);
    return Status::IoError(what + ": EVP_KDF_derive failed");
  }
  auto key = SecureKey::from_bytes(derived, configured.source() + " (segment " +
                                                std::to_string(segment_id) + ")");
  OPENSSL_cleanse(derived, sizeof derived);
  return key;
}

Status new_segment_salt(std::span<uint8_t, format::kSaltBytes> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return Status::IoError("RAND_bytes failed to make a segment salt");
  }
  return Status::Ok();
}

Status KeyRing::add(uint16_t id, std::unique_ptr<SecureKey> key) {
  if (id == 0) return Status::InvalidArgument("key id 0 is reserved for unencrypted segments");
  if (!key) return Status::InvalidArgument("key id " + std::to_string(id) + ": no key");
  if (keys_.count(id) != 0) {
    return Status::InvalidArgument("key id " + std::to_string(id) + " is configured twice (" +
                                   keys_[id]->source() + " and " + key->source() + ")");
  }
  keys_.emplace(id, std::move(key));
  return Status::Ok();
}

Status KeyRing::set_current(uint16_t id) {
  if (keys_.count(id) == 0) {
    return Status::InvalidArgument("current key id " + std::to_string(id) +
                                   " is not among the configured keys");
  }
  current_ = id;
  return Status::Ok();
}

Result<const SecureKey*> KeyRing::get(uint16_t id) const {
  auto it = keys_.find(id);
  if (it == keys_.end()) {
    std::string known;
    for (const auto& [k, v] : keys_) known += (known.empty() ? "" : ", ") + std::to_string(k);
    return Status::NotFound("no key with id " + std::to_string(id) +
                            " is configured (ids: " + (known.empty() ? "none" : known) + ")");
  }
  return static_cast<const SecureKey*>(it->second.get());
}

const SecureKey& KeyRing::current() const {
  SW_ASSERT_MSG(current_ != 0, "KeyRing::current() without a current key");
  return *keys_.at(current_);
}

std::vector<uint16_t> KeyRing::ids() const {
  std::vector<uint16_t> out;
  for (const auto& [id, key] : keys_) out.push_back(id);
  return out;
}

}  // namespace sidewal::wal
