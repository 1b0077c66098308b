// One upload to POST /records, streamed into the store. The body is parsed as it arrives
// (records::IngestStream) and written in chunks of a few thousand records, so a request holds at
// most one chunk and one record's bytes in memory, whatever the body's size. The limits are
// enforced while reading: the byte cap counts the bytes as they arrive (chunked or not, and after
// any Content-Encoding is undone), and the record cap counts records. A chunk already written
// stays written when a later part of the body fails; the report says how many were stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "records/ingest_stream.h"
#include "store/store.h"

namespace signer::ingest {

struct IngestLimits {
  std::size_t max_body_bytes = 64u << 20;
  std::size_t max_records = 1'000'000;
  std::size_t flush_records = 5000;    // a chunk written to the store at most this many records
  std::size_t flush_bytes = 8u << 20;  // … or this many bytes of ids and messages
  std::size_t max_reported_errors = 100;
};

struct IngestReport {
  int status = 200;   // the HTTP status the upload deserves
  std::string error;  // set for every status but 200
  std::uint64_t accepted = 0;
  std::uint64_t duplicates = 0;  // same id, same msg: already stored, nothing to do
  std::uint64_t conflicts = 0;   // same id, another msg: the stored (or first) record stays
  std::uint64_t rejected = 0;
  // The first max_reported_errors rejections and conflicts, each {index, id, reason}.
  nlohmann::json errors = nlohmann::json::array();
  std::uint64_t bytes = 0;

  nlohmann::json to_json() const;
};

class IngestSession {
 public:
  IngestSession(store::Store& store, IngestLimits limits);

  // Feeds the next bytes of the body. Returns false when the upload must stop (over a limit,
  // a broken array, the store failing); report() then says why.
  bool feed(std::string_view bytes);

  // Ends the body and writes the last chunk. Call only when every feed() returned true.
  void finish();

  // Marks the upload as cut short by the transport (the body could not be read).
  void fail(int status, std::string error);

  const IngestReport& report() const { return report_; }

 private:
  void on_object(std::size_t index, const nlohmann::json& object);
  void on_reject(records::Rejection rejection);
  bool flush();
  void stop(int status, std::string error);

  store::Store& store_;
  IngestLimits limits_;
  records::IngestStream stream_;
  std::vector<records::UnsignedRecord> chunk_;
  std::vector<std::size_t> chunk_index_;  // chunk_[i] is record chunk_index_[i] of the body
  std::size_t chunk_bytes_ = 0;
  bool stopped_ = false;
  IngestReport report_;
};

}  // namespace signer::ingest
