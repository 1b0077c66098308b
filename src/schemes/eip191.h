// EIP-191 version 0x45, "personal_sign": the hash wallets, ethers' verifyMessage, eth-account's
// encode_defunct and OpenZeppelin's MessageHashUtils.toEthSignedMessageHash put in front of a
// message before signing, so that a signed message can never be a transaction or typed data.
// An eip191 record signs the bytes of salt + msg this way.
#pragma once

#include <string_view>

#include "crypto/keccak.h"

namespace signer::schemes {

// The prefix of EIP-191 version 0x45: 0x19 "Ethereum Signed Message:\n".
inline constexpr std::string_view kEip191Prefix =
    "\x19"
    "Ethereum Signed Message:\n";

// Returns Keccak-256("\x19Ethereum Signed Message:\n" + decimal length + first + second), where
// the length is that of first + second in bytes, written in ASCII decimal without leading zeros.
// This is go-ethereum's accounts.TextHash(first + second). Never fails.
crypto::Hash256 eip191_hash(std::string_view first, std::string_view second);

}  // namespace signer::schemes
