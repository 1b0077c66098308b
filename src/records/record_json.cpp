#include "records/record_json.h"

#include <string>

namespace signer::records {
namespace {

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

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
    if (id.size() > kMaxIdLength) id.resize(kMaxIdLength);
    return id;
  }
  return {};
}

std::optional<std::string> invalid_id_reason(std::string_view id) {
  if (id.empty()) return "id is empty";
  if (id.size() > kMaxIdLength) {
    return "id is longer than " + std::to_string(kMaxIdLength) + " characters";
  }
  for (char c : id) {
    if (!is_id_char(c)) return "id has a character outside [A-Za-z0-9._:-]";
  }
  return std::nullopt;
}

void for_each_json_object(std::istream& in,
                          const std::function<void(std::size_t, const nlohmann::json&)>& on_object,
                          const std::function<void(Rejection)>& on_reject) {
  in >> std::ws;
  if (in.peek() == '[') {
    nlohmann::json array;
    try {
      array = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw MalformedInput(std::string("malformed JSON array: ") + e.what());
    }
    std::size_t index = 0;
    for (const auto& element : array) {
      if (element.is_object()) {
        on_object(index, element);
      } else {
        on_reject({index, "", "element is not a JSON object"});
      }
      ++index;
    }
    return;
  }
  std::string line;
  std::size_t index = 0;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded()) {
      on_reject({index, "", "line is not valid JSON"});
    } else if (!object.is_object()) {
      on_reject({index, "", "line is not a JSON object"});
    } else {
      on_object(index, object);
    }
    ++index;
  }
  if (in.bad()) throw MalformedInput("read error");
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
  return std::nullopt;
}

nlohmann::json to_json(const SignedRecord& r) {
  nlohmann::json j = {
      {"id", r.id}, {"msg", r.msg}, {"salt", r.salt}, {"sign", r.sign}, {"key", r.key}};
  if (!r.job_id.empty()) j["job_id"] = r.job_id;
  return j;
}

nlohmann::json to_json(const UnsignedRecord& r) { return {{"id", r.id}, {"msg", r.msg}}; }

void append_json_line(std::string& out, const SignedRecord& record) {
  out += to_json(record).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += '\n';
}

}  // namespace signer::records
