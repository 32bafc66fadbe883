// Encryption at rest through the real daemon, with the config shape the Helm
// chart renders (encryption: {enabled, current_key_id, keys: [{id, file}]}):
// append/read, restart (records still readable, segments on disk encrypted),
// and start errors naming the key file (short file, missing file, wrong key
// for existing segments: nothing on disk changed).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

void write_key(const std::string& path, uint8_t seed, size_t n = 32) {
  std::ofstream f(path, std::ios::binary);
  for (size_t i = 0; i < n; ++i) f.put(static_cast<char>(seed * 7 + i + 1));
}

std::string keys_yaml(const std::vector<std::pair<int, std::string>>& keys) {
  std::string s = "[";
  for (const auto& [id, file] : keys) {
    s += (s.size() > 1 ? ", " : "") + std::string("{id: ") + std::to_string(id) + ", file: \"" +
         file + "\"}";
  }
  return s + "]";
}

DaemonConfig enc_config(const std::vector<std::pair<int, std::string>>& keys, int current) {
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "1MiB");
  cfg.set("wal", "max_record_bytes", "64KiB");
  cfg.set("encryption", "enabled", "true");
  cfg.set("encryption", "current_key_id", std::to_string(current));
  cfg.set("encryption", "keys", keys_yaml(keys));
  return cfg;
}

std::map<std::string, std::string> dir_bytes(const std::string& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream f(e.path(), std::ios::binary);
    m[e.path().filename()] = std::string(std::istreambuf_iterator<char>(f), {});
  }
  return m;
}

std::vector<TestRecord> some_records(uint32_t stream, int n) {
  std::vector<TestRecord> v;
  for (int i = 0; i < n; ++i) {
    v.push_back(
        TestRecord{.type = 2, .tenant = 5, .payload = make_payload(stream, i, 100 + i * 40)});
  }
  return v;
}

TEST(Encryption, DaemonAppendsReadsAndRestartsWithEncryptionOn) {
  TempDir dir;
  const std::string k1 = dir.path() + "/key-1";
  const std::string k2 = dir.path() + "/key-2";
  write_key(k1, 1);
  write_key(k2, 2);
  std::vector<TestRecord> sent = some_records(1, 6);
  {
    Daemon d(dir.path(), enc_config({{1, k1}}, 1));
    d.start_ready();
    RawClient c(d.socket_path());
    expect_ack(c.append(sent));
    auto got = c.read_all(1);
    ASSERT_EQ(got.size(), sent.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].payload, sent[i].payload);
    EXPECT_NE(d.output().find("fingerprint"), std::string::npos) << d.output();
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(), 0) << d.output();
  }
  // On disk: every segment says cipher 1, key id 1; no payload in the clear.
  for (const auto& [name, bytes] : dir_bytes(dir.path() + "/data")) {
    if (name.size() < 4 || name.substr(name.size() - 4) != ".wal") continue;
    ASSERT_GE(bytes.size(), 40u);
    EXPECT_EQ(bytes[5], 1) << name;
    EXPECT_EQ(bytes[6], 1) << name;
    const auto p = sent[3].payload;
    EXPECT_EQ(bytes.find(std::string(p.begin(), p.end())), std::string::npos) << name;
  }
  // Restart after a rotation to key 2: old records still read, new ones too.
  {
    Daemon d(dir.path(), enc_config({{1, k1}, {2, k2}}, 2));
    d.start_ready();
    RawClient c(d.socket_path());
    std::vector<TestRecord> more = some_records(2, 3);
    expect_ack(c.append(more));
    auto got = c.read_all(1);
    ASSERT_EQ(got.size(), sent.size() + more.size());
    for (size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(got[i].payload, sent[i].payload);
    for (size_t i = 0; i < more.size(); ++i)
      EXPECT_EQ(got[sent.size() + i].payload, more[i].payload);
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(), 0) << d.output();
  }
  // The CLI's verify lists key ids per segment (with both keys: verify ok).
  const std::string cli = std::filesystem::path(SIDEWALD_PATH).parent_path() / "sidewal";
  const std::string out = dir.path() + "/verify.out";
  const std::string cmd = cli + " verify --data-dir " + dir.path() + "/data --key 1=" + k1 +
                          " --key 2=" + k2 + " > " + out + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream vf(out);
  const std::string v(std::istreambuf_iterator<char>(vf), {});
  EXPECT_NE(v.find("key_id 1"), std::string::npos) << v;
  EXPECT_NE(v.find("key_id 2"), std::string::npos) << v;
  EXPECT_NE(v.find("verify ok"), std::string::npos) << v;
  // Without the keys: CRCs checked, key ids still listed, payloads not read.
  const std::string cmd2 = cli + " verify --data-dir " + dir.path() + "/data > " + out + " 2>&1";
  EXPECT_EQ(std::system(cmd2.c_str()), 0);
  std::ifstream vf2(out);
  const std::string v2(std::istreambuf_iterator<char>(vf2), {});
  EXPECT_NE(v2.find("key_id 1"), std::string::npos) << v2;
  EXPECT_NE(v2.find("key: MISSING"), std::string::npos) << v2;
}

TEST(Encryption, BadKeyFilesAndWrongKeyStopTheDaemonNamingTheFile) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::string k1 = dir.path() + "/key-1";
  auto run = [&](const std::vector<std::pair<int, std::string>>& keys) {
    const std::string cfg = dir.path() + "/c.yaml";
    std::ofstream(cfg) << "data_dir: " << data << "\nsocket:\n  path: " << dir.path()
                       << "/s.sock\nadmin:\n  listen: 127.0.0.1:0\nencryption:\n"
                       << "  enabled: true\n  current_key_id: 1\n  keys: " << keys_yaml(keys)
                       << "\n";
    return run_sidewald({"--config", cfg});
  };
  // Short file.
  write_key(k1, 1, 31);
  RunResult r = run({{1, k1}});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find(k1), std::string::npos) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("key id 1"), std::string::npos) << r.out << r.err;
  // Missing file.
  r = run({{1, dir.path() + "/nope"}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE((r.out + r.err).find(dir.path() + "/nope"), std::string::npos) << r.out << r.err;
  // A log written with key 1, then started with other bytes under id 1.
  write_key(k1, 1);
  {
    Daemon d(dir.path(), enc_config({{1, k1}}, 1));
    d.start_ready();
    RawClient c(d.socket_path());
    expect_ack(c.append(some_records(3, 4)));
    d.signal(SIGTERM);
    ASSERT_EQ(d.wait_exit(), 0);
  }
  const auto before = dir_bytes(dir.path() + "/data");
  write_key(k1, 9);
  {
    Daemon d(dir.path(), enc_config({{1, k1}}, 1));
    d.start();  // listens, then recovery refuses the key
    EXPECT_EQ(d.wait_exit(), 1) << d.output();
    EXPECT_NE(d.output().find("wrong key"), std::string::npos) << d.output();
    EXPECT_NE(d.output().find(k1), std::string::npos) << d.output();
  }
  EXPECT_EQ(dir_bytes(dir.path() + "/data"), before) << "nothing on disk may change";
}

}  // namespace
}  // namespace sidewal::it
