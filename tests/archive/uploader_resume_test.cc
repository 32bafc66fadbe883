// The uploader resuming over what an interrupted upload left in the store
// (docs/archive.md "Why uploads are idempotent").
#include <gtest/gtest.h>

#include "archive/archive_names.h"
#include "archive/restore.h"
#include "archive_rig.h"

namespace sidewal::archive {
namespace {

// A store that keeps the part of a PUT it received (s3rver when the client
// dies mid-body) holds a piece shorter than its name: the next uploader
// deletes it and ships the range again (the name differs only in its stamp
// and how far the range reaches), in the same generation, and the archive restores whole.
TEST(UploaderResume, AnObjectCutShortIsShippedAgainInTheSameGeneration) {
  Rig rig;
  std::string gen;
  {
    auto up = rig.uploader();
    rig.append(60);
    rig.catch_up(*up);
    gen = up->stats().generation;
  }
  // The newest piece, cut short as a torn PUT would leave it.
  std::string victim;
  for (const auto& [k, v] : rig.store.objects()) {
    if (k.ends_with(".piece")) victim = k;
  }
  ASSERT_FALSE(victim.empty());
  const std::string whole = rig.store.objects().at(victim);
  const std::string cut = whole.substr(0, whole.size() / 2);
  ASSERT_TRUE(
      rig.store
          .put(victim,
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(cut.data()), cut.size()))
          .ok());
  // Restore refuses it by name until then.
  RestoreOptions ro;
  ro.prefix = kPrefix;
  ro.dir = rig.scratch.path() + "/refused";
  RestoreReport rep;
  Status s = restore(&rig.store, ro, &rep);
  EXPECT_NE(s.message().find(victim), std::string::npos) << s.ToString();

  std::vector<std::string> events;
  UploaderOptions o = rig.options();
  o.on_event = [&](const std::string& e, const std::string& detail) {
    events.push_back(e + ": " + detail);
  };
  Uploader up(&rig.store, rig.log.get(), rig.io.get(), o);
  rig.append(10);
  rig.catch_up(up);
  EXPECT_EQ(up.stats().generation, gen);
  EXPECT_EQ(up.stats().generations_started, 0u);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().rfind("cut_short: " + victim, 0), 0u) << events.front();
  // Gone (its range went out again, with later records and a new stamp in
  // the name) or whole.
  if (rig.store.contains(victim)) {
    EXPECT_EQ(rig.store.objects().at(victim), whole);
  }
  ro.dir = rig.scratch.path() + "/restored";
  s = restore(&rig.store, ro, &rep);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(rep.last_lsn, rig.log->durable_lsn());
}

}  // namespace
}  // namespace sidewal::archive
