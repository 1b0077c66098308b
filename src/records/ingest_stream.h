// An ingest body parsed as it arrives, so that memory depends on the size of one record, not of
// the body. The body is NDJSON (one object a line, blank lines skipped) or one JSON array of
// objects; the first non-blank byte tells which. Each complete line or array element is parsed on
// its own, so a 16 MiB `[{},{},…]` costs one small element at a time instead of a DOM of millions
// of objects. Per-record problems are Rejections; only an array whose structure is broken (or
// nested too deeply) is MalformedInput.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "records/record_json.h"

namespace signer::records {

class IngestStream {
 public:
  using ObjectSink = std::function<void(std::size_t index, const nlohmann::json& object)>;
  using RejectSink = std::function<void(Rejection)>;

  // Largest line or element kept for parsing; a larger one is rejected (and skipped) as a record.
  static constexpr std::size_t kMaxRecordBytes = 1 << 20;
  // Deepest nesting an array element may have.
  static constexpr std::size_t kMaxDepth = 64;

  IngestStream(ObjectSink on_object, RejectSink on_reject);

  // Feeds the next bytes of the body, calling the sinks for every record they complete.
  // Throws MalformedInput when an array's structure is broken.
  void feed(std::string_view bytes);

  // Ends the body: completes a last line without a newline. Throws MalformedInput when an array
  // is not closed.
  void finish();

  // Records (objects and rejections) seen so far.
  std::size_t records() const { return index_; }

 private:
  enum class Mode { kStart, kNdjson, kArray, kArrayDone };
  void feed_ndjson(char c);
  void feed_array(char c);
  void end_line();
  void end_element();
  void keep(char c);

  ObjectSink on_object_;
  RejectSink on_reject_;
  Mode mode_ = Mode::kStart;
  std::string current_;     // the line or element being read
  bool oversized_ = false;  // current_ passed kMaxRecordBytes and is being skipped
  std::size_t index_ = 0;
  // Array element scanning.
  std::size_t depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  bool expect_element_ = true;  // after '[' or ','
  bool saw_comma_ = false;
};

}  // namespace signer::records
