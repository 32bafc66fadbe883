// SecureKey and KeyRing: loading a key file (and every way it can be wrong),
// where the key lives (locked, excluded from core dumps) and that it is wiped.
#include "wal/codecs/secure_key.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"

namespace sidewal::wal {
namespace {

static_assert(!std::is_copy_constructible_v<SecureKey>);
static_assert(!std::is_copy_assignable_v<SecureKey>);

using test::TempDir;

std::vector<uint8_t> key_bytes(uint8_t first) {
  std::vector<uint8_t> k(kKeyBytes);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(first + i);
  return k;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

void expect_error(const Status& st, Code code, const std::vector<std::string>& needles) {
  EXPECT_EQ(st.code(), code) << st.ToString();
  for (const auto& n : needles) {
    EXPECT_NE(st.message().find(n), std::string::npos)
        << "message \"" << st.message() << "\" lacks \"" << n << "\"";
  }
}

// The VmFlags line of the mapping in /proc/self/smaps that contains `addr`.
std::string vm_flags_of(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_mapping = false;
  const auto a = reinterpret_cast<uintptr_t>(addr);
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      in_mapping = a >= lo && a < hi;
      continue;
    }
    if (in_mapping && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

bool has_flag(const std::string& vm_flags, const std::string& flag) {
  std::istringstream in(vm_flags.substr(vm_flags.find(':') + 1));
  std::string f;
  while (in >> f) {
    if (f == flag) return true;
  }
  return false;
}

TEST(SecureKey, LoadsExactly32RawBytesFromAFile) {
  TempDir dir;
  const auto want = key_bytes(1);
  write_file(dir.file("key"), want);
  auto key = SecureKey::load_file(dir.file("key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  const auto got = (*key)->bytes();
  EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.end()), want);
  EXPECT_EQ((*key)->source(), dir.file("key"));
}

TEST(SecureKey, FollowsTheSymlinksOfAKubernetesSecretMount) {
  // A Secret volume is <dir>/key -> ..data/key, ..data -> ..<timestamp>.
  TempDir dir;
  std::filesystem::create_directory(dir.file("..2024_01_01"));
  write_file(dir.file("..2024_01_01/key"), key_bytes(7));
  std::filesystem::create_directory_symlink("..2024_01_01", dir.file("..data"));
  std::filesystem::create_symlink("..data/key", dir.file("key"));
  auto key = SecureKey::load_file(dir.file("key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ((*key)->bytes()[0], 7);
}

TEST(SecureKey, WrongSizeIsAnErrorNamingTheFileAndTheSize) {
  TempDir dir;
  for (size_t size : {size_t{0}, size_t{1}, size_t{31}, size_t{33}, size_t{44}, size_t{4096}}) {
    std::vector<uint8_t> bytes(size, 0x5A);
    const std::string path = dir.file("key" + std::to_string(size));
    write_file(path, bytes);
    auto key = SecureKey::load_file(path);
    expect_error(key.status(), Code::kInvalidArgument,
                 {"key file " + path, "is " + std::to_string(size) + " bytes",
                  "exactly 32 raw bytes expected", "no trailing newline"});
  }
}

TEST(SecureKey, MissingFileIsNotFoundNamingTheFile) {
  TempDir dir;
  auto key = SecureKey::load_file(dir.file("absent"));
  expect_error(key.status(), Code::kNotFound, {"key file " + dir.file("absent"), "does not exist"});
  expect_error(SecureKey::load_file("").status(), Code::kInvalidArgument, {"empty"});
}

TEST(SecureKey, DirectoryOrUnreadableFileIsRefusedNamingIt) {
  TempDir dir;
  expect_error(SecureKey::load_file(dir.file("")).status(), Code::kInvalidArgument,
               {"not a regular file"});
  const std::string path = dir.file("key");
  write_file(path, key_bytes(1));
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  auto key = SecureKey::load_file(path);
  if (::geteuid() == 0) {
    EXPECT_TRUE(key.ok());  // root reads mode-000 files: nothing to refuse
  } else {
    expect_error(key.status(), Code::kIoError, {"open key file " + path, "Permission denied"});
  }
}

TEST(SecureKey, AllZeroKeyIsRefusedAsAPlaceholder) {
  TempDir dir;
  write_file(dir.file("key"), std::vector<uint8_t>(32, 0));
  expect_error(SecureKey::load_file(dir.file("key")).status(), Code::kInvalidArgument,
               {"key file " + dir.file("key"), "32 zero bytes"});
}

TEST(SecureKey, LivesInALockedPageExcludedFromCoreDumpsAndReadOnly) {
  TempDir dir;
  write_file(dir.file("key"), key_bytes(3));
  auto key = SecureKey::load_file(dir.file("key"));
  ASSERT_TRUE(key.ok());
  const std::string flags = vm_flags_of((*key)->bytes().data());
  ASSERT_FALSE(flags.empty()) << "no smaps entry for the key's page";
  EXPECT_TRUE((*key)->excluded_from_core_dumps());
  EXPECT_TRUE(has_flag(flags, "dd")) << flags;  // VM_DONTDUMP
  EXPECT_EQ(has_flag(flags, "lo"), (*key)->locked()) << flags;
  EXPECT_TRUE(has_flag(flags, "wf")) << flags;   // VM_WIPEONFORK
  EXPECT_FALSE(has_flag(flags, "wr")) << flags;  // not writable while in use
  EXPECT_TRUE(has_flag(flags, "rd")) << flags;
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_MEMLOCK, &lim), 0);
  if (::geteuid() == 0 || lim.rlim_cur >= (1u << 20)) {
    EXPECT_TRUE((*key)->locked());
  }
}

// Clears CAP_IPC_LOCK from the effective set (root ignores RLIMIT_MEMLOCK with it).
bool drop_ipc_lock_capability() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &hdr, data) != 0) return false;
  data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
  return ::syscall(SYS_capset, &hdr, data) == 0;
}

TEST(SecureKey, StillLoadsWhenMlockIsRefusedAndSaysSo) {
  TempDir dir;
  write_file(dir.file("key"), key_bytes(9));
  // In a child, so the test process keeps its limits and capabilities.
  auto child = test::ChildProcess::fork_and_run([&] {
    rlimit zero{0, 0};
    if (!drop_ipc_lock_capability() || ::setrlimit(RLIMIT_MEMLOCK, &zero) != 0) return 10;
    auto key = SecureKey::load_file(dir.file("key"));
    if (!key.ok()) return 11;
    if ((*key)->locked()) return 12;
    if (!(*key)->excluded_from_core_dumps()) return 13;
    if ((*key)->bytes()[0] != 9) return 14;
    return 0;
  });
  const int code = child.wait();
  ASSERT_LT(code, 128) << "killed by signal " << code - 128;  // it exited
  EXPECT_EQ(code, 0) << "10 setup, 11 load failed, 12 claims locked, "
                        "13 not DONTDUMP, 14 wrong bytes";
}

TEST(SecureKey, WipeZeroesTheKeyInPlace) {
  const auto want = key_bytes(100);
  auto key = SecureKey::from_bytes(want, "test key");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  const uint8_t* p = (*key)->bytes().data();
  ASSERT_EQ(std::vector<uint8_t>(p, p + kKeyBytes), want);
  (*key)->wipe();
  EXPECT_EQ((*key)->bytes().data(), p);
  EXPECT_EQ(std::vector<uint8_t>(p, p + kKeyBytes), std::vector<uint8_t>(kKeyBytes, 0));
  (*key)->wipe();  // idempotent
}

// What the key's page held when the destructor gave it back (a PageRelease
// that looks, then releases as production does).
std::vector<uint8_t> g_released;
const uint8_t* g_released_at = nullptr;
void record_release(uint8_t* page, size_t bytes, bool locked) {
  g_released.assign(page, page + bytes);
  g_released_at = page;
  SecureKey::release_page(page, bytes, locked);
}

TEST(SecureKey, DestructorWipesTheWholePageBeforeUnmapping) {
  TempDir dir;
  // 33 bytes: the loader reads the 33rd into the page too; it must go as well.
  std::vector<uint8_t> bytes = key_bytes(200);
  bytes.push_back(0xEE);
  write_file(dir.file("long"), bytes);
  ASSERT_FALSE(SecureKey::load_file(dir.file("long")).ok());

  write_file(dir.file("key"), key_bytes(200));
  auto key = SecureKey::load_file(dir.file("key"), &record_release);
  ASSERT_TRUE(key.ok());
  const uint8_t* at = (*key)->bytes().data();
  g_released.clear();
  key.value().reset();
  EXPECT_EQ(g_released_at, at);
  ASSERT_GE(g_released.size(), kKeyBytes);
  EXPECT_EQ(g_released, std::vector<uint8_t>(g_released.size(), 0));
}

TEST(SecureKey, FromBytesRefusesWrongSizes) {
  expect_error(SecureKey::from_bytes(std::vector<uint8_t>(31, 1), "derived").status(),
               Code::kInvalidArgument, {"derived", "31 bytes"});
}

TEST(SecureKey, FingerprintIsHmacSha256OfAFixedLabel) {
  // python3 -c 'import hmac,hashlib; print(hmac.new(bytes(range(1,33)),
  //   b"sidewal key fingerprint v1", hashlib.sha256).hexdigest()[:16])'  -> 1086512ae762ab0c
  auto a = SecureKey::from_bytes(key_bytes(1), "a");
  auto a2 = SecureKey::from_bytes(key_bytes(1), "a2");
  auto b = SecureKey::from_bytes(key_bytes(2), "b");
  ASSERT_TRUE(a.ok() && a2.ok() && b.ok());
  EXPECT_EQ((*a)->fingerprint(), 0x0cab62e72a518610ull);
  EXPECT_EQ((*a)->fingerprint(), (*a2)->fingerprint());
  EXPECT_NE((*a)->fingerprint(), (*b)->fingerprint());
}

TEST(SecureKey, SerialsAreUniqueAndNeverReused) {
  auto a = SecureKey::from_bytes(key_bytes(1), "a");
  ASSERT_TRUE(a.ok());
  const uint64_t first = (*a)->serial();
  a.value().reset();
  auto b = SecureKey::from_bytes(key_bytes(1), "b");
  ASSERT_TRUE(b.ok());
  EXPECT_GT((*b)->serial(), first);
}

TEST(SecureKey, SegmentKeyIsHkdfSha256OfTheConfiguredKeySaltAndSegmentId) {
  // python3: HKDF(hashes.SHA256(), 32, salt=bytes(range(0xA0, 0xB0)),
  //   info=b"sidewal segment key v1" + (7).to_bytes(8, "little")).derive(bytes(range(1, 33)))
  const auto want =
      std::vector<uint8_t>{0x8f, 0x33, 0x0b, 0x1a, 0xb0, 0x73, 0x28, 0xdd, 0xbb, 0xaa, 0xa6,
                           0x00, 0xac, 0x5d, 0x60, 0x48, 0x44, 0xf2, 0xfa, 0x64, 0xb1, 0x00,
                           0x4b, 0xa6, 0xb3, 0x7c, 0x65, 0x7b, 0x0d, 0xfd, 0xc8, 0x4e};
  auto configured = SecureKey::from_bytes(key_bytes(1), "/secrets/key");
  ASSERT_TRUE(configured.ok());
  std::array<uint8_t, format::kSaltBytes> salt{}, other_salt{};
  for (size_t i = 0; i < format::kSaltBytes; ++i) salt[i] = static_cast<uint8_t>(0xA0 + i);
  other_salt = salt;
  other_salt[15] ^= 1;
  auto k = derive_segment_key(**configured, salt, 7);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  const auto kb = (*k)->bytes();
  EXPECT_EQ(std::vector<uint8_t>(kb.begin(), kb.end()), want);
  EXPECT_EQ((*k)->source(), "/secrets/key (segment 7)");
  EXPECT_TRUE(has_flag(vm_flags_of(kb.data()), "dd"));
  // Another salt or another segment id: another key.
  auto k_salt = derive_segment_key(**configured, other_salt, 7);
  auto k_seg = derive_segment_key(**configured, salt, 8);
  ASSERT_TRUE(k_salt.ok() && k_seg.ok());
  EXPECT_NE((*k_salt)->fingerprint(), (*k)->fingerprint());
  EXPECT_NE((*k_seg)->fingerprint(), (*k)->fingerprint());
}

TEST(SecureKey, SegmentSaltsAreFreshRandomBytes) {
  std::array<uint8_t, format::kSaltBytes> a{}, b{};
  ASSERT_TRUE(new_segment_salt(a).ok());
  ASSERT_TRUE(new_segment_salt(b).ok());
  EXPECT_NE(a, b);
  EXPECT_NE(a, (std::array<uint8_t, format::kSaltBytes>{}));
}

TEST(KeyRing, HoldsKeysByIdWithACurrentOne) {
  KeyRing ring;
  EXPECT_FALSE(ring.has_current());
  EXPECT_EQ(ring.current_id(), 0);
  ASSERT_TRUE(ring.add(2, SecureKey::from_bytes(key_bytes(2), "k2").value()).ok());
  ASSERT_TRUE(ring.add(1, SecureKey::from_bytes(key_bytes(1), "k1").value()).ok());
  EXPECT_EQ(ring.ids(), (std::vector<uint16_t>{1, 2}));
  ASSERT_TRUE(ring.set_current(2).ok());
  EXPECT_EQ(ring.current_id(), 2);
  EXPECT_EQ(ring.current().bytes()[0], 2);
  auto k1 = ring.get(1);
  ASSERT_TRUE(k1.ok());
  EXPECT_EQ((*k1)->source(), "k1");
}

TEST(KeyRing, RefusesIdZeroDuplicatesAndUnknownIds) {
  KeyRing ring;
  expect_error(ring.add(0, SecureKey::from_bytes(key_bytes(1), "k").value()),
               Code::kInvalidArgument, {"key id 0 is reserved"});
  ASSERT_TRUE(ring.add(5, SecureKey::from_bytes(key_bytes(1), "/s/a").value()).ok());
  expect_error(ring.add(5, SecureKey::from_bytes(key_bytes(2), "/s/b").value()),
               Code::kInvalidArgument, {"key id 5 is configured twice", "/s/a", "/s/b"});
  expect_error(ring.add(6, nullptr), Code::kInvalidArgument, {"key id 6"});
  expect_error(ring.set_current(7), Code::kInvalidArgument, {"current key id 7"});
  expect_error(ring.get(7).status(), Code::kNotFound, {"no key with id 7", "(ids: 5)"});
  EXPECT_EQ(ring.size(), 1u);
}

}  // namespace
}  // namespace sidewal::wal
