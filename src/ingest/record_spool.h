// Puts the records of a bulk load (`signer load`) in id order with bounded memory, before they
// reach the store. A store keeps records in B-trees keyed by id (SQLite's primary key and its
// (shard, id) index, PostgreSQL's and MongoDB's indexes); records in random id order land on a
// different page each, so every commit rewrites about one page per record and index, and a load
// into a table of 10M records wrote ~6 KB per record and ran at a third of the rate of a 100k
// load. In id order the same records are appended: each page is written once, and the rate no
// longer depends on the size of the table (docs/PERFORMANCE.md, "Loading").
//
// Records are held in memory up to a run's budget; a full run is sorted and spilled to an
// unnamed temporary file (O_TMPFILE: it disappears with the process, even after a crash), and
// reading merges the runs, at most `fan_in` at a time: with the defaults, 100M records in 1,000
// runs are merged in one pass, each record written to a run and read back once. Memory: one
// run's records, plus merge_buffer_bytes of read buffers shared by the runs being merged (each
// run's between 4 KiB and 256 KiB) and one record of each, whatever the number of records. A run
// that waits for its merge holds no buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "records/record.h"

namespace signer::ingest {

struct RecordSpoolOptions {
  std::filesystem::path dir;                  // where runs are spilled; empty = the system temp dir
  std::size_t run_records = 100'000;          // a run is spilled at this many records…
  std::size_t run_bytes = 16u << 20;          // … or this many bytes of ids and messages
  std::size_t fan_in = 1024;                  // runs merged at once (more runs take another pass)
  std::size_t merge_buffer_bytes = 4u << 20;  // read buffers of the runs merged at once
};

class RecordSpool {
 public:
  explicit RecordSpool(RecordSpoolOptions options = {});
  ~RecordSpool();
  RecordSpool(const RecordSpool&) = delete;
  RecordSpool& operator=(const RecordSpool&) = delete;

  // Takes a record. Throws std::runtime_error, naming the directory, when a run cannot be
  // written (e.g. its disk is full).
  void add(records::UnsignedRecord record);

  // Records added so far, and runs spilled to disk so far.
  std::uint64_t size() const { return added_; }
  std::size_t spilled_runs() const { return spilled_; }
  // Runs merged into another run (not straight into the output) so far: 0 unless a drain found
  // more than fan_in runs.
  std::size_t intermediate_merges() const { return intermediate_merges_; }

  // Hands every record to `sink`, sorted by id (bytewise), records with equal ids in the order
  // they were added, in chunks that end at `chunk_records` records or once they hold
  // `chunk_bytes` bytes of ids and messages (a larger record alone). `sink` may move the records
  // out of the chunk. Leaves the spool empty. Throws std::runtime_error on an I/O error.
  void drain(std::size_t chunk_records, std::size_t chunk_bytes,
             const std::function<void(std::vector<records::UnsignedRecord>&)>& sink);

  class Run;  // a sorted run in a temporary file (record_spool.cpp)

 private:
  struct Entry {
    std::uint64_t seq;
    records::UnsignedRecord record;
  };
  void spill();

  RecordSpoolOptions options_;
  std::vector<Entry> buffer_;
  std::size_t buffer_bytes_ = 0;
  std::uint64_t added_ = 0;
  std::size_t spilled_ = 0;
  std::size_t intermediate_merges_ = 0;
  std::vector<std::unique_ptr<Run>> runs_;
};

}  // namespace signer::ingest
