#include "records/ingest_stream.h"

namespace signer::records {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

IngestStream::IngestStream(ObjectSink on_object, RejectSink on_reject)
    : on_object_(std::move(on_object)), on_reject_(std::move(on_reject)) {}

void IngestStream::feed(std::string_view bytes) {
  for (const char c : bytes) {
    switch (mode_) {
      case Mode::kStart:
        if (is_blank(c)) break;
        if (c == '[') {
          mode_ = Mode::kArray;
          break;
        }
        mode_ = Mode::kNdjson;
        feed_ndjson(c);
        break;
      case Mode::kNdjson: feed_ndjson(c); break;
      case Mode::kArray: feed_array(c); break;
      case Mode::kArrayDone:
        if (!is_blank(c)) throw MalformedInput("malformed JSON array: data after the closing ]");
        break;
    }
  }
}

void IngestStream::finish() {
  if (mode_ == Mode::kNdjson) {
    end_line();
  } else if (mode_ == Mode::kArray) {
    throw MalformedInput("malformed JSON array: the body ends before the closing ]");
  }
}

void IngestStream::keep(char c) {
  if (oversized_) return;
  if (current_.size() >= kMaxRecordBytes) {
    oversized_ = true;
    current_.clear();
    current_.shrink_to_fit();
    return;
  }
  current_ += c;
}

void IngestStream::feed_ndjson(char c) {
  if (c == '\n') {
    end_line();
    return;
  }
  keep(c);
}

void IngestStream::end_line() {
  const bool blank = !oversized_ && current_.find_first_not_of(" \t\r") == std::string::npos;
  if (oversized_) {
    on_reject_(
        {index_++, "", "record is larger than " + std::to_string(kMaxRecordBytes) + " bytes"});
  } else if (!blank) {
    const nlohmann::json object = nlohmann::json::parse(current_, nullptr, false);
    if (object.is_discarded()) {
      on_reject_({index_, "", "line is not valid JSON"});
    } else if (!object.is_object()) {
      on_reject_({index_, "", "line is not a JSON object"});
    } else {
      on_object_(index_, object);
    }
    ++index_;
  }
  current_.clear();
  oversized_ = false;
}

void IngestStream::feed_array(char c) {
  if (in_string_) {
    keep(c);
    if (escaped_) {
      escaped_ = false;
    } else if (c == '\\') {
      escaped_ = true;
    } else if (c == '"') {
      in_string_ = false;
    }
    return;
  }
  if (depth_ == 0) {
    if (is_blank(c)) {
      if (oversized_ || !current_.empty()) expect_element_ = false;  // "[1 2]" lacks a comma
      return;
    }
    if (c == ',' || c == ']') {
      const bool have_element = oversized_ || !current_.empty();
      if (have_element) {
        end_element();
      } else if (c == ',' || saw_comma_) {
        throw MalformedInput("malformed JSON array: a missing element");
      }
      if (c == ']') {
        mode_ = Mode::kArrayDone;
      } else {
        saw_comma_ = true;
        expect_element_ = true;
      }
      return;
    }
    if (!expect_element_) throw MalformedInput("malformed JSON array: a missing comma");
  }
  if (c == '"') {
    in_string_ = true;
  } else if (c == '{' || c == '[') {
    if (++depth_ > kMaxDepth) throw MalformedInput("malformed JSON array: nested too deeply");
  } else if (c == '}' || c == ']') {
    if (depth_ == 0)
      throw MalformedInput("malformed JSON array: an unbalanced " + std::string(1, c));
    --depth_;
  }
  keep(c);
  // A scalar element ends at the next ',' or ']' (depth 0), so keep expecting until then; an
  // object or array element ends when its bracket closes.
  if (depth_ == 0 && (c == '}' || c == ']')) expect_element_ = false;
}

void IngestStream::end_element() {
  if (oversized_) {
    on_reject_(
        {index_++, "", "record is larger than " + std::to_string(kMaxRecordBytes) + " bytes"});
  } else {
    const nlohmann::json element = nlohmann::json::parse(current_, nullptr, false);
    if (element.is_discarded()) {
      throw MalformedInput("malformed JSON array: element " + std::to_string(index_) +
                           " is not valid JSON");
    }
    if (element.is_object()) {
      on_object_(index_, element);
    } else {
      on_reject_({index_, "", "element is not a JSON object"});
    }
    ++index_;
  }
  current_.clear();
  oversized_ = false;
}

}  // namespace signer::records
