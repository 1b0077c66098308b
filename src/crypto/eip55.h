// EIP-55 mixed-case checksummed addresses: the form go-ethereum, ethers and wallets print.
#pragma once

#include <string>
#include <string_view>

namespace signer::crypto {

// Returns "0x" + `lower40` with each letter upper-cased where the matching nibble of
// Keccak-256(lower40) is 8 or more. `lower40` must be 40 lowercase hex digits (the address
// without its prefix); other input gives an unspecified result. Never fails.
std::string eip55_address(std::string_view lower40);

}  // namespace signer::crypto
