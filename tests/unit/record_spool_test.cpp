// ingest::RecordSpool: every record comes out once, sorted by id, equal ids in the order they
// went in, whether the records fit in memory, spill into runs, or need more than one merge pass;
// chunks stay within their bounds; bytes survive the temporary files unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "ingest/record_spool.h"
#include "test_support.h"

namespace signer::ingest {
namespace {

using records::UnsignedRecord;

// prefix + i, built by appending (GCC 12 warns, wrongly, on "literal" + std::to_string at -O3).
std::string numbered(std::string prefix, std::size_t i) {
  prefix += std::to_string(i);
  return prefix;
}

// `n` records with ids from a small alphabet, so ids repeat; msg says which record it was.
std::vector<UnsignedRecord> records_with_repeats(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<UnsignedRecord> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back({numbered("id-", rng() % (n / 3 + 1)), numbered("msg-", i)});
  }
  return out;
}

std::vector<UnsignedRecord> expected_order(std::vector<UnsignedRecord> records) {
  std::stable_sort(records.begin(), records.end(),
                   [](const UnsignedRecord& a, const UnsignedRecord& b) { return a.id < b.id; });
  return records;
}

RecordSpoolOptions runs_of(std::size_t records, std::size_t fan_in = 64,
                           std::size_t bytes = std::size_t{16} << 20) {
  RecordSpoolOptions options;
  options.run_records = records;
  options.run_bytes = bytes;
  options.fan_in = fan_in;
  return options;
}

struct Drained {
  std::vector<UnsignedRecord> records;
  std::vector<std::size_t> chunk_sizes;
};

Drained drain(RecordSpool& spool, std::size_t chunk_records,
              std::size_t chunk_bytes = std::size_t{1} << 30) {
  Drained out;
  spool.drain(chunk_records, chunk_bytes, [&](std::vector<UnsignedRecord>& chunk) {
    out.chunk_sizes.push_back(chunk.size());
    for (UnsignedRecord& r : chunk) out.records.push_back(std::move(r));
  });
  return out;
}

void expect_same(const std::vector<UnsignedRecord>& got, const std::vector<UnsignedRecord>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].id, want[i].id) << "at " << i;
    ASSERT_EQ(got[i].msg, want[i].msg) << "at " << i;
  }
}

// Adds `input` to a spool with `options`, drains it in chunks of `chunk`, and checks that the
// records come out sorted by id, equal ids in input order. Returns the runs spilled.
std::size_t spool_and_check(const std::vector<UnsignedRecord>& input, RecordSpoolOptions options,
                            std::size_t chunk) {
  RecordSpool spool(std::move(options));
  for (const auto& r : input) spool.add(r);
  expect_same(drain(spool, chunk).records, expected_order(input));
  return spool.spilled_runs();
}

TEST(RecordSpool, SortsInMemoryWhenTheRecordsFitInOneRun) {
  EXPECT_EQ(spool_and_check(records_with_repeats(500, 1), runs_of(1000), 1000), 0u);
}

TEST(RecordSpool, SpillsRunsAndMergesThemByIdKeepingEqualIdsInInputOrder) {
  EXPECT_GT(spool_and_check(records_with_repeats(2000, 2), runs_of(37), 100000), 50u);
}

TEST(RecordSpool, MergesInSeveralPassesWhenThereAreMoreRunsThanItsFanIn) {
  // 200 runs, merged 3 at a time.
  const auto input = records_with_repeats(1000, 3);
  RecordSpool spool(runs_of(5, 3));
  for (const auto& r : input) spool.add(r);
  expect_same(drain(spool, 64).records, expected_order(input));
  EXPECT_EQ(spool.spilled_runs(), 200u);
  EXPECT_GT(spool.intermediate_merges(), 0u);
}

TEST(RecordSpool, MergesAThousandRunsInOnePassByDefault) {
  // A 100M-record load spills 1,000 runs of 100,000: by default they are merged straight into
  // the output, so no record is written and read twice.
  RecordSpoolOptions options;
  options.run_records = 5;
  const auto input = records_with_repeats(5000, 4);
  RecordSpool spool(options);
  for (const auto& r : input) spool.add(r);
  expect_same(drain(spool, 1000).records, expected_order(input));
  EXPECT_EQ(spool.spilled_runs(), 1000u);
  EXPECT_EQ(spool.intermediate_merges(), 0u);
}

TEST(RecordSpool, ReadsRecordsThatSpanItsReadBuffers) {
  // The smallest read buffer (4 KiB a run): records of up to 9,000 bytes start and end anywhere
  // in it, and one of 1 MiB, over the write buffer too, goes to its file in one piece.
  std::vector<UnsignedRecord> input;
  std::mt19937 rng(5);
  for (std::size_t i = 0; i < 300; ++i) {
    input.push_back({numbered("id-", rng() % 100), std::string(rng() % 9000, char('a' + i % 26))});
  }
  input.push_back({"id-big", std::string((std::size_t{1} << 20) + 3, 'z')});
  RecordSpoolOptions options = runs_of(7, 4);
  options.merge_buffer_bytes = 1;
  spool_and_check(input, options, 50);
}

TEST(RecordSpool, SpillsAtTheByteBudgetToo) {
  RecordSpool spool(runs_of(1000000, 64, 1000));
  for (int i = 0; i < 100; ++i)
    spool.add({numbered("id-", static_cast<std::size_t>(99 - i)), std::string(90, 'm')});
  EXPECT_GE(spool.spilled_runs(), 9u);
  const Drained out = drain(spool, 1000);
  ASSERT_EQ(out.records.size(), 100u);
  EXPECT_TRUE(std::is_sorted(out.records.begin(), out.records.end(),
                             [](const auto& a, const auto& b) { return a.id < b.id; }));
}

TEST(RecordSpool, ChunksEndAtTheirRecordOrByteBound) {
  RecordSpool spool(runs_of(7));
  for (int i = 0; i < 95; ++i)
    spool.add({numbered("id-", static_cast<std::size_t>(1000 + i)), "0123456789"});
  EXPECT_EQ(drain(spool, 10).chunk_sizes,
            (std::vector<std::size_t>{10, 10, 10, 10, 10, 10, 10, 10, 10, 5}));
  for (int i = 0; i < 10; ++i)
    spool.add({numbered("id-", static_cast<std::size_t>(1000 + i)), "0123456789"});
  // 17 bytes a record: a chunk ends once it holds 40 bytes, i.e. at its third record.
  EXPECT_EQ(drain(spool, 100, 40).chunk_sizes, (std::vector<std::size_t>{3, 3, 3, 1}));
}

TEST(RecordSpool, KeepsIdsAndMessagesByteForByteThroughItsFiles) {
  const std::vector<UnsignedRecord> input = {
      {"b", std::string("nul\0inside", 10)},
      {"a", ""},
      {"c\xc3\xa9", "h\xc3\xa9llo \xf0\x9f\xa6\x8a"},
      {"d", std::string(1 << 20, 'x')},
      {"a", "second a"},
  };
  spool_and_check(input, runs_of(1), 2);
}

TEST(RecordSpool, IsEmptyAfterADrainAndCanBeFilledAgain) {
  RecordSpool spool(runs_of(2));
  for (int i = 0; i < 5; ++i) spool.add({numbered("x", static_cast<std::size_t>(i)), "m"});
  EXPECT_EQ(drain(spool, 10).records.size(), 5u);
  EXPECT_TRUE(drain(spool, 10).records.empty());
  spool.add({"again", "m"});
  EXPECT_EQ(drain(spool, 10).records.size(), 1u);
}

TEST(RecordSpool, FailsNamingItsDirectoryWhenItCannotSpill) {
  testing::TempDir tmp;
  const auto missing = tmp / "no-such-dir";
  RecordSpoolOptions options = runs_of(1);
  options.dir = missing;
  RecordSpool spool(options);
  try {
    spool.add({"a", "m"});
    FAIL() << "a spill into a missing directory succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
}

TEST(RecordSpool, LeavesNoFileInItsDirectory) {
  testing::TempDir tmp;
  {
    RecordSpoolOptions options = runs_of(3);
    options.dir = tmp.path();
    RecordSpool spool(options);
    for (int i = 0; i < 20; ++i) spool.add({numbered("id", static_cast<std::size_t>(i)), "m"});
    EXPECT_GT(spool.spilled_runs(), 0u);
    EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));  // unnamed files
    drain(spool, 5);
  }
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

}  // namespace
}  // namespace signer::ingest
