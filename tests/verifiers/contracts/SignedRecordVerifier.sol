// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title What a contract that redeems Message Signer's records checks.
/// @notice An eip191 record signs personal_sign over the bytes of salt + msg; an eip712 record
/// signs a Voucher of this contract's domain, its nonce filled by the record's salt (the UUID's
/// 128 bits as a number). Both recover the signer with OpenZeppelin's ECDSA, which wants V = 27
/// or 28 and a low S, as the signer writes them. tests/compat deploys it in go-ethereum's EVM.
contract SignedRecordVerifier is EIP712 {
    /// @dev The Voucher type of tests/compat's scheme file, field for field and in that order.
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(address to,uint256 amount,uint64 expires,string memo,bytes32 nonce)");

    constructor() EIP712("Message Signer Vouchers", "1") {}

    /// @return The address that signed an eip191 record: saltAndMsg is its salt followed by its
    /// msg, with nothing between them.
    function recoverEip191(bytes calldata saltAndMsg, bytes calldata signature)
        external
        pure
        returns (address)
    {
        return ECDSA.recover(MessageHashUtils.toEthSignedMessageHash(saltAndMsg), signature);
    }

    /// @return The address that signed an eip712 Voucher record under this contract's domain.
    function recoverVoucher(
        address to,
        uint256 amount,
        uint64 expires,
        string calldata memo,
        bytes32 nonce,
        bytes calldata signature
    ) external view returns (address) {
        bytes32 structHash =
            keccak256(abi.encode(VOUCHER_TYPEHASH, to, amount, expires, keccak256(bytes(memo)), nonce));
        return ECDSA.recover(_hashTypedDataV4(structHash), signature);
    }
}
