// Signing one record under a scheme: the per-record step of `signer sign-message`. raw keeps the
// original's exact path (Key::sign_salted, V in {0,1}); eip191 and eip712 sign the scheme's digest
// and move V to 27/28; an eip712 record also keeps the digest it signed.
#pragma once

#include <optional>
#include <string>

#include "crypto/message_signer.h"
#include "keys/key_set.h"
#include "records/record.h"
#include "schemes/signing_scheme.h"

namespace signer::signing {

// Signs `record` (its salt and msg are set) with `key` under `scheme`: fills sign, key, scheme
// ("" for raw) and digest (eip712 only). Returns the reason when msg cannot be signed under the
// scheme (eip712: it does not fit the type), leaving sign empty. `signer` belongs to the calling
// thread. Throws keys::SigningError when the key's device fails.
std::optional<std::string> sign_record(const schemes::SigningScheme& scheme, const keys::Key& key,
                                       crypto::MessageSigner& signer,
                                       records::SignedRecord& record);

}  // namespace signer::signing
