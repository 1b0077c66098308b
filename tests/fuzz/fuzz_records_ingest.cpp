// libFuzzer target: ingest parsing (NDJSON or a JSON array of {id, msg}). Accepted records must
// satisfy the id and size rules; nothing may crash or throw anything but MalformedInput.
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "records/record_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    signer::records::for_each_json_object(
        in,
        [](std::size_t, const nlohmann::json& object) {
          signer::records::UnsignedRecord record;
          if (!signer::records::unsigned_record_from_json(object, record)) {
            if (signer::records::invalid_id_reason(record.id)) std::abort();
            if (record.msg.size() > signer::records::kMaxMsgBytes) std::abort();
          }
          signer::records::SignedRecord signed_record;
          (void)signer::records::signed_record_from_json(object, signed_record);
          (void)signer::records::reported_id(object);
        },
        [](signer::records::Rejection) {});
  } catch (const signer::records::MalformedInput&) {
  }
  return 0;
}
