// JSON in and out for records: ingest bodies (NDJSON or a JSON array of {id, msg}), the signed
// record format that `export` writes and `verify` reads, and the validation rules for ids and
// messages. Parsing is tolerant per record: one bad record is rejected with a reason, the rest
// load.
#pragma once

#include <cstddef>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "records/record.h"

namespace signer::records {

// Longest id (in bytes of UTF-8) and message ingest accepts.
constexpr std::size_t kMaxIdLength = 512;
constexpr std::size_t kMaxMsgBytes = 64 * 1024;

// The one id rule, for ingest and for GET /records/:id (after the path's single percent-decode):
// an id is 1 to kMaxIdLength bytes of well-formed UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF) holding no control character: C0 (U+0000–U+001F), DEL (U+007F) or C1
// (U+0080–U+009F). Anything else is allowed, so emails, base64 with "+/=", "order/42", spaces and
// "café-1" are ids. Returns a reason fit for a 400 body (it never quotes the id), or nullopt.
std::optional<std::string> invalid_id_reason(std::string_view id);

// One entry of a multi-record input that could not be used.
struct Rejection {
  std::size_t index;  // 0-based position in the input (array element or non-blank NDJSON line)
  std::string id;     // the id when one could be read, else empty
  std::string reason;
};

// Thrown when the input as a whole cannot be read (a JSON array that does not parse, a stream
// error). Per-record problems are Rejections instead.
class MalformedInput : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Calls `on_object(index, object)` for each JSON object in `in`, which holds either a JSON array
// of objects or NDJSON (one object a line; blank lines skipped), reading it as a stream
// (records::IngestStream). A line or element that is not a JSON object goes to `on_reject`.
// Throws MalformedInput when an array does not parse.
void for_each_json_object(std::istream& in,
                          const std::function<void(std::size_t, const nlohmann::json&)>& on_object,
                          const std::function<void(Rejection)>& on_reject);

// Reads an unsigned record from `object`: `id` and `msg` must be strings; other fields (such as
// the original generator's empty `sign` and `key`) are ignored. Returns a reason on failure.
std::optional<std::string> unsigned_record_from_json(const nlohmann::json& object,
                                                     UnsignedRecord& out);

// Reads a signed record; all five fields must be strings. String `job_id`, `scheme` and `digest`
// fields are read too (else ""); a `scheme` or `digest` that is not a string is refused.
std::optional<std::string> signed_record_from_json(const nlohmann::json& object, SignedRecord& out);

// The record's id for an error report: its `id` when that is a string (cut to kMaxIdLength bytes,
// on a UTF-8 character boundary), else "".
std::string reported_id(const nlohmann::json& object);

nlohmann::json to_json(const SignedRecord& record);
nlohmann::json to_json(const UnsignedRecord& record);

// Appends `record` as one compact JSON line (with '\n').
void append_json_line(std::string& out, const SignedRecord& record);

}  // namespace signer::records
