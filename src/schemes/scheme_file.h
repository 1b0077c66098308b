// The EIP-712 scheme file an operator gives (--scheme-file), YAML or JSON:
//
//   name: voucher                 # how --scheme names it: eip712:voucher
//   domain:                       # at least one of the four; chainId and verifyingContract as
//     name: Vouchers              # the contract expects them (OpenZeppelin's EIP712: its
//     version: "1"                # address and block.chainid)
//     chainId: 1
//     verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
//   primaryType: Voucher
//   types:                        # the primary type and every struct type it uses
//     Voucher:
//       - {name: to, type: address}
//       - {name: amount, type: uint256}
//       - {name: nonce, type: bytes32}
//   saltField: nonce              # filled by each record's salt (typed_data_scheme.h)
//
// The names follow eth_signTypedData_v4 and ethers (domain, primaryType, types); EIP712Domain is
// made from `domain` and may not be defined under `types`. Unknown keys are refused, so a typo
// cannot leave a field out of what is signed.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "schemes/typed_data_scheme.h"

namespace signer::schemes {

// A scheme file that cannot be used. what() names the file, the line when it is about one, and
// what is wrong.
class SchemeFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses `text` as a scheme file read from `where` (a path, for messages). Throws SchemeFileError.
std::shared_ptr<const TypedDataScheme> parse_scheme_file(const std::string& text,
                                                         const std::string& where);

// Reads and parses the file at `path`. Throws SchemeFileError (also when it cannot be read).
std::shared_ptr<const TypedDataScheme> read_scheme_file(const std::filesystem::path& path);

}  // namespace signer::schemes
