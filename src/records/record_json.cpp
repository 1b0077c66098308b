#include "records/record_json.h"

#include "records/ingest_stream.h"

#include <string>

namespace signer::records {
namespace {

// Length of the well-formed UTF-8 sequence at the start of `s` (Unicode table 3-7), and its code
// point in `cp`; 0 when the bytes there are not well-formed UTF-8.
std::size_t utf8_sequence(std::string_view s, char32_t& cp) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
    cp = b0 & 0x1fu;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    cp = b0 & 0x0fu;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    cp = b0 & 0x07u;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;  // a continuation byte, C0/C1 (overlong 2-byte) or F5..FF
  }
  if (s.size() < len) return 0;
  for (std::size_t i = 1; i < len; ++i) {
    const unsigned char b = byte(i);
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf)) return 0;
    cp = (cp << 6) | (b & 0x3fu);
  }
  return len;
}

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); }

std::optional<std::string> read_string_field(const nlohmann::json& object, const char* name,
                                             std::string& out) {
  const auto it = object.find(name);
  if (it == object.end()) return std::string("missing field \"") + name + "\"";
  if (!it->is_string()) return std::string("field \"") + name + "\" must be a string";
  out = it->get<std::string>();
  return std::nullopt;
}

}  // namespace

std::string reported_id(const nlohmann::json& object) {
  const auto it = object.find("id");
  if (it != object.end() && it->is_string()) {
    std::string id = it->get<std::string>();
    if (id.size() > kMaxIdLength) {
      std::size_t cut = kMaxIdLength;
      // Back off continuation bytes so the cut id stays valid UTF-8 for the JSON report.
      while (cut > 0 && (static_cast<unsigned char>(id[cut]) & 0xc0) == 0x80) --cut;
      id.resize(cut);
    }
    return id;
  }
  return {};
}

std::optional<std::string> invalid_id_reason(std::string_view id) {
  if (id.empty()) return "id is empty";
  if (id.size() > kMaxIdLength) {
    return "id is longer than " + std::to_string(kMaxIdLength) + " bytes";
  }
  for (std::size_t pos = 0; pos < id.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(id.substr(pos), cp);
    if (len == 0) return "id is not valid UTF-8 (byte " + std::to_string(pos) + ")";
    if (is_control(cp)) {
      return "id has a control character (byte " + std::to_string(pos) + ")";
    }
    pos += len;
  }
  return std::nullopt;
}

void for_each_json_object(std::istream& in,
                          const std::function<void(std::size_t, const nlohmann::json&)>& on_object,
                          const std::function<void(Rejection)>& on_reject) {
  // One parser for files and uploads: read in blocks, parse record by record.
  IngestStream stream(on_object, on_reject);
  std::string block(1 << 16, '\0');
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    stream.feed(std::string_view(block.data(), static_cast<std::size_t>(in.gcount())));
  }
  if (in.bad()) throw MalformedInput("read error");
  stream.finish();
}

std::optional<std::string> unsigned_record_from_json(const nlohmann::json& object,
                                                     UnsignedRecord& out) {
  if (auto err = read_string_field(object, "id", out.id)) return err;
  if (auto err = invalid_id_reason(out.id)) return err;
  if (auto err = read_string_field(object, "msg", out.msg)) return err;
  if (out.msg.size() > kMaxMsgBytes) {
    return "msg is longer than " + std::to_string(kMaxMsgBytes) + " bytes";
  }
  return std::nullopt;
}

std::optional<std::string> signed_record_from_json(const nlohmann::json& object,
                                                   SignedRecord& out) {
  for (auto [name, field] :
       {std::pair{"id", &out.id}, std::pair{"msg", &out.msg}, std::pair{"salt", &out.salt},
        std::pair{"sign", &out.sign}, std::pair{"key", &out.key}}) {
    if (auto err = read_string_field(object, name, *field)) return err;
  }
  // Optional provenance; records of the original layout have none.
  const auto job = object.find("job_id");
  out.job_id = job != object.end() && job->is_string() ? job->get<std::string>() : std::string();
  // How it was signed; absent in the original layout (raw).
  for (auto [name, field] : {std::pair{"scheme", &out.scheme}, std::pair{"digest", &out.digest}}) {
    field->clear();
    if (object.contains(name)) {
      if (auto err = read_string_field(object, name, *field)) return err;
    }
  }
  return std::nullopt;
}

nlohmann::json to_json(const SignedRecord& r) {
  nlohmann::json j = {
      {"id", r.id}, {"msg", r.msg}, {"salt", r.salt}, {"sign", r.sign}, {"key", r.key}};
  if (!r.job_id.empty()) j["job_id"] = r.job_id;
  if (!r.scheme.empty()) j["scheme"] = r.scheme;
  if (!r.digest.empty()) j["digest"] = r.digest;
  return j;
}

nlohmann::json to_json(const UnsignedRecord& r) { return {{"id", r.id}, {"msg", r.msg}}; }

void append_json_line(std::string& out, const SignedRecord& record) {
  out += to_json(record).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += '\n';
}

}  // namespace signer::records
