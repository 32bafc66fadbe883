// consumer <socket> <payload>: appends <payload> through the installed C++
// client, reads it back, prints "appended <lsn>". Exit 0 only if the record
// came back byte for byte.
#include <sidewal/client/client.h>

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  sidewal::client::ClientOptions options;
  options.socket_path = argv[1];
  options.connect_timeout = std::chrono::seconds(30);
  auto client = sidewal::client::Client::connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "consumer.cc: %s\n", client.status().ToString().c_str());
    return 1;
  }
  const std::string payload = argv[2];
  sidewal::client::RecordIn record;
  record.type = 1;
  record.tenant = 7;
  record.payload = {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()};
  auto lsn = (*client)->append({&record, 1});
  if (!lsn.ok()) {
    std::fprintf(stderr, "consumer.cc: %s\n", lsn.status().ToString().c_str());
    return 1;
  }
  auto read = (*client)->read(*lsn, 1);
  if (!read.ok() || read->records.size() != 1 ||
      std::string(read->records[0].payload.begin(), read->records[0].payload.end()) != payload) {
    std::fprintf(stderr, "consumer.cc: record %llu did not read back\n",
                 static_cast<unsigned long long>(*lsn));
    return 1;
  }
  std::printf("appended %llu\n", static_cast<unsigned long long>(*lsn));
  return 0;
}
