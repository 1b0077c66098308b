// The record the sign-path benchmarks sign under each scheme (sign_path_bench's Scheme,
// sign_path_count's raw/eip191/eip712): a voucher as an airdrop or a redeemable allowance would
// carry it, and an EIP-712 scheme for it with a bytes32 nonce filled by the salt.
#pragma once

#include <cstddef>
#include <string>

#include "schemes/scheme_file.h"
#include "schemes/signing_scheme.h"

namespace signer::bench {

inline const std::string kVoucherMsg =
    R"({"to":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB","amount":"1000000000000000000",)"
    R"("expires":1767225600,"memo":"spring airdrop, wave 3"})";

// 0 raw, 1 eip191, 2 eip712 (the voucher type).
inline const schemes::SigningScheme& voucher_scheme(std::size_t which) {
  static const auto typed = schemes::parse_scheme_file(R"({"name": "voucher",
    "domain": {"name": "Vouchers", "version": "1", "chainId": 1,
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "primaryType": "Voucher",
    "types": {"Voucher": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"},
                          {"name": "expires", "type": "uint64"}, {"name": "memo", "type": "string"},
                          {"name": "nonce", "type": "bytes32"}]},
    "saltField": "nonce"})",
                                                       "bench");
  static const schemes::SigningScheme all[] = {schemes::SigningScheme::raw(),
                                               schemes::SigningScheme::eip191(),
                                               schemes::SigningScheme::eip712(typed)};
  return all[which];
}

}  // namespace signer::bench
