// The RFC 6979 nonce that libsecp256k1's default nonce function derives, computed with Nettle's
// HMAC-SHA256 in place of libsecp256k1's portable C SHA-256.
//
// Why: an ECDSA signature's nonce costs 22 SHA-256 compressions (five HMACs). libsecp256k1 runs
// them in portable C, about a fifth of a signature's time; Nettle picks its SHA-256 at run time
// for the CPU. With the CPU's SHA extensions it computes the same nonce in about a third of the
// time; without them (its x86-64 assembly) in about nine tenths (docs/PERFORMANCE.md, "The
// nonce").
//
// What: the same bytes as `secp256k1_nonce_function_rfc6979` for every input, by the same
// construction. The HMAC-DRBG of RFC 6979 section 3.2 (V = 0x01…, K = 0x00…, two keyed updates
// with the seed, then one V = HMAC_K(V) a nonce, with a K update before each further one), seeded
// with key32 || (msg32 mod n) || data32 (when given) || algo16 (when given), and for `counter`
// c > 0 the (c+1)th output of that generator. So a signature made with it is byte for byte the
// one libsecp256k1 (and go-ethereum's crypto.Sign) makes: tests/unit/crypto_test.cpp compares the
// two over random and edge-case inputs, counters, extra data and algorithm names.
#pragma once

namespace signer::crypto {

// Has the type of `secp256k1_nonce_function`, for secp256k1_ecdsa_sign(_recoverable). Always
// returns 1. Wipes its key-derived state before it returns.
int rfc6979_nonce(unsigned char* nonce32, const unsigned char* msg32, const unsigned char* key32,
                  const unsigned char* algo16, void* data, unsigned int counter);

}  // namespace signer::crypto
