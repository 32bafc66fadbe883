// Throughput of RecordCipher (AES-256-GCM through EVP) at the record sizes
// of issue 5 (100 B and 4 KiB), sealing and opening, plus the once-per-
// segment cost of deriving a segment key. Run:
//   build/bin/cipher_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <vector>

#include "wal/codecs/record_cipher.h"
#include "wal/codecs/secure_key.h"

namespace sidewal::wal {
namespace {

// Every allocation OpenSSL makes, counted, so the benchmark shows that the
// per-record path allocates nothing (allocs_per_record).
std::atomic<uint64_t> g_openssl_allocs{0};
void* counting_malloc(size_t n, const char*, int) {
  g_openssl_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n);
}
void* counting_realloc(void* p, size_t n, const char*, int) {
  g_openssl_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::realloc(p, n);
}
void plain_free(void* p, const char*, int) { std::free(p); }

void report_allocs(benchmark::State& state, uint64_t before) {
  state.counters["allocs_per_record"] =
      benchmark::Counter(static_cast<double>(g_openssl_allocs.load() - before) /
                         static_cast<double>(state.iterations()));
}

std::unique_ptr<SecureKey> bench_key() {
  std::vector<uint8_t> k(kKeyBytes);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i * 7 + 1);
  return SecureKey::from_bytes(k, "bench").value();
}

void BM_Seal(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  auto key = bench_key();
  RecordCipher cipher;
  std::vector<uint8_t> pt(size, 0xAB), out(size + kTagBytes);
  uint64_t lsn = 1;
  Status warm = cipher.seal(*key, derive_nonce(1, 0), {}, pt, out);  // sets the key schedule
  if (!warm.ok()) state.SkipWithError(warm.message().c_str());
  const uint64_t allocs = g_openssl_allocs.load();
  for (auto _ : state) {
    const auto aad = record_aad(1, lsn, 1, 0, 0, static_cast<uint32_t>(out.size()));
    Status st = cipher.seal(*key, derive_nonce(1, lsn), aad, pt, out);
    if (!st.ok()) state.SkipWithError(st.message().c_str());
    benchmark::DoNotOptimize(out.data());
    ++lsn;
  }
  report_allocs(state, allocs);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}
BENCHMARK(BM_Seal)->Arg(100)->Arg(4096);

void BM_Open(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  auto key = bench_key();
  RecordCipher cipher;
  std::vector<uint8_t> pt(size, 0xAB), sealed(size + kTagBytes), out(size);
  const auto aad = record_aad(1, 1, 1, 0, 0, static_cast<uint32_t>(sealed.size()));
  if (!cipher.seal(*key, derive_nonce(1, 1), aad, pt, sealed).ok()) state.SkipWithError("seal");
  if (!cipher.open(*key, derive_nonce(1, 1), aad, sealed, out).ok()) state.SkipWithError("open");
  const uint64_t allocs = g_openssl_allocs.load();
  for (auto _ : state) {
    Status st = cipher.open(*key, derive_nonce(1, 1), aad, sealed, out);
    if (!st.ok()) state.SkipWithError(st.message().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  report_allocs(state, allocs);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}
BENCHMARK(BM_Open)->Arg(100)->Arg(4096);

void BM_DeriveSegmentKey(benchmark::State& state) {
  auto key = bench_key();
  std::array<uint8_t, format::kSaltBytes> salt{};
  uint64_t segment = 1;
  const uint64_t allocs = g_openssl_allocs.load();
  for (auto _ : state) {
    auto k = derive_segment_key(*key, salt, segment++);
    if (!k.ok()) state.SkipWithError(k.status().message().c_str());
    benchmark::DoNotOptimize(k);
  }
  // Not per record: once per segment (shows the counter does count).
  state.counters["allocs_per_segment"] =
      benchmark::Counter(static_cast<double>(g_openssl_allocs.load() - allocs) /
                         static_cast<double>(state.iterations()));
}
BENCHMARK(BM_DeriveSegmentKey);

}  // namespace
}  // namespace sidewal::wal

int main(int argc, char** argv) {
  // Before any other OpenSSL call, or OpenSSL refuses the swap.
  if (CRYPTO_set_mem_functions(sidewal::wal::counting_malloc, sidewal::wal::counting_realloc,
                               sidewal::wal::plain_free) != 1) {
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
