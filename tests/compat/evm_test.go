// A Solidity contract written for this project (tests/verifiers/contracts/SignedRecordVerifier.sol,
// on OpenZeppelin's ECDSA, MessageHashUtils and EIP712), compiled by the pinned solc-js
// (tests/verifiers/compile.mjs) and deployed in go-ethereum's EVM (core/vm/runtime), must recover
// the signer of 1,000 eip191 and 1,000 eip712 records, and must not recover it for a record
// with one byte of msg changed. The scheme file's domain is read from the deployed contract
// (ERC-5267's eip712Domain: its chain id and its own address), as an operator would take it.
package compat

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/vm/runtime"
	"github.com/ethereum/go-ethereum/crypto"
)

// verifierContract is the compiled contract, deployed in a fresh in-memory EVM.
type verifierContract struct {
	abi     abi.ABI
	address common.Address
	cfg     *runtime.Config
}

// deployVerifier deploys the artifact at $VERIFIER_ARTIFACT. A missing artifact fails the test:
// scripts/test.sh compiles it before the compat stage.
func deployVerifier(t *testing.T) *verifierContract {
	t.Helper()
	path := os.Getenv("VERIFIER_ARTIFACT")
	if path == "" {
		t.Fatalf("VERIFIER_ARTIFACT is not set: compile the contract first, e.g. " +
			"node ../verifiers/compile.mjs /tmp/verifier.json && VERIFIER_ARTIFACT=/tmp/verifier.json go test")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("VERIFIER_ARTIFACT=%s: %v", path, err)
	}
	var artifact struct {
		Compiler string          `json:"compiler"`
		ABI      json.RawMessage `json:"abi"`
		Bytecode string          `json:"bytecode"`
	}
	if err := json.Unmarshal(raw, &artifact); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	parsed, err := abi.JSON(bytes.NewReader(artifact.ABI))
	if err != nil {
		t.Fatalf("%s: abi: %v", path, err)
	}
	code, err := hex.DecodeString(artifact.Bytecode)
	if err != nil {
		t.Fatalf("%s: bytecode: %v", path, err)
	}
	cfg := &runtime.Config{Origin: common.HexToAddress("0x1000000000000000000000000000000000000001")}
	_, address, _, err := runtime.Create(code, cfg)
	if err != nil {
		t.Fatalf("deploying the verifier: %v", err)
	}
	t.Logf("deployed SignedRecordVerifier (solc %s) at %s, chain id %s", artifact.Compiler, address.Hex(), cfg.ChainConfig.ChainID)
	return &verifierContract{abi: parsed, address: address, cfg: cfg}
}

// call runs `method` and returns its outputs, or the error of a reverted call.
func (c *verifierContract) call(t *testing.T, method string, args ...any) ([]any, error) {
	t.Helper()
	input, err := c.abi.Pack(method, args...)
	if err != nil {
		t.Fatalf("packing %s: %v", method, err)
	}
	ret, _, err := runtime.Call(c.address, input, c.cfg)
	if err != nil {
		return nil, err
	}
	out, err := c.abi.Unpack(method, ret)
	if err != nil {
		t.Fatalf("unpacking %s: %v", method, err)
	}
	return out, nil
}

// recovers returns the address a recover call gives, or "reverted: …".
func (c *verifierContract) recovers(t *testing.T, method string, args ...any) string {
	t.Helper()
	out, err := c.call(t, method, args...)
	if err != nil {
		return "reverted: " + err.Error()
	}
	return out[0].(common.Address).Hex()
}

func addressOfKey(pubHex string) string {
	pub, _ := hex.DecodeString(strings.TrimPrefix(pubHex, "0x"))
	return common.BytesToAddress(crypto.Keccak256(pub[1:])[12:]).Hex()
}

func decodeSign(t *testing.T, sign string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(sign, "0x"))
	if err != nil || len(b) != 65 {
		t.Fatalf("sign %q is not 65 bytes of hex", sign)
	}
	return b
}

func TestVerifierContractRecoversEip191Records(t *testing.T) {
	signerBin(t)
	c := deployVerifier(t)
	rng := newRNG(t)
	keys := []testKey{newTestKey(t), newTestKey(t)}
	var lines []any
	for i := 0; i < 1000; i++ {
		_, msg := randomMsg(rng)
		lines = append(lines, inputRecord{ID: fmt.Sprintf("m%d", i), KeyIndex: i % 2, Msg: msg})
	}
	res := runSigner(t, nil, "sign-message", "--scheme", "eip191", "--keys", writeKeysCSV(t, keys),
		"--input", writeNDJSON(t, "in.ndjson", lines))
	if res.exitCode != 0 {
		t.Fatalf("sign-message --scheme eip191 failed\n%s", res.describe())
	}
	records := parseSchemeRecords(t, res)
	if len(records) != len(lines) {
		t.Fatalf("%d records for %d lines", len(records), len(lines))
	}
	fails := failureLog{t: t}
	tampered := 0
	for id, r := range records {
		want := addressOfKey(r.Key)
		data := []byte(r.Salt + r.Msg)
		if got := c.recovers(t, "recoverEip191", data, decodeSign(t, r.Sign)); got != want {
			fails.add(id, fmt.Sprintf("msg %q", clipRunes(r.Msg, 60)), []string{"recovered " + got + ", want " + want})
		}
		if len(r.Msg) == 0 {
			continue
		}
		// One byte of msg changed: the contract must not recover the signer.
		data[len(r.Salt)+rng.IntN(len(r.Msg))] ^= 0x01
		if got := c.recovers(t, "recoverEip191", data, decodeSign(t, r.Sign)); got == want {
			fails.add(id, "", []string{"a record with one byte of msg changed still recovers " + want})
		}
		tampered++
	}
	fails.summary(len(records))
	t.Logf("the contract recovered %d eip191 records and refused %d tampered ones", len(records), tampered)
}

func TestVerifierContractRecoversEip712Records(t *testing.T) {
	signerBin(t)
	c := deployVerifier(t)
	// The domain as the contract has it (ERC-5267): name, version, chain id, its own address.
	domain, err := c.call(t, "eip712Domain")
	if err != nil {
		t.Fatalf("eip712Domain: %v", err)
	}
	scheme := map[string]any{
		"name": "voucher",
		"domain": map[string]any{"name": domain[1].(string), "version": domain[2].(string),
			"chainId": domain[3].(*big.Int).String(), "verifyingContract": domain[4].(common.Address).Hex()},
		"primaryType": "Voucher",
		"types": map[string]any{"Voucher": []map[string]string{
			{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"},
			{"name": "expires", "type": "uint64"}, {"name": "memo", "type": "string"},
			{"name": "nonce", "type": "bytes32"}}},
		"saltField": "nonce",
	}
	rng := newRNG(t)
	keys := []testKey{newTestKey(t), newTestKey(t)}
	type voucher struct {
		to      common.Address
		amount  *big.Int
		expires uint64
		memo    string
	}
	vouchers := map[string]voucher{}
	var lines []any
	for i := 0; i < 1000; i++ {
		_, memo := randomMsg(rng)
		v := voucher{common.BytesToAddress(randomBytes(rng, 20)), new(big.Int).SetBytes(randomBytes(rng, 1+rng.IntN(32))),
			rng.Uint64(), "m" + memo}
		msg, _ := json.Marshal(map[string]any{"to": v.to.Hex(), "amount": v.amount.String(), "expires": v.expires, "memo": v.memo})
		id := fmt.Sprintf("v%d", i)
		vouchers[id] = v
		lines = append(lines, inputRecord{ID: id, KeyIndex: i % 2, Msg: string(msg)})
	}
	res := runSigner(t, nil, "sign-message", "--scheme", "eip712:voucher", "--scheme-file", writeSchemeFile(t, scheme),
		"--keys", writeKeysCSV(t, keys), "--input", writeNDJSON(t, "in.ndjson", lines))
	if res.exitCode != 0 {
		t.Fatalf("sign-message --scheme eip712:voucher failed\n%s", res.describe())
	}
	records := parseSchemeRecords(t, res)
	if len(records) != len(lines) {
		t.Fatalf("%d records for %d lines", len(records), len(lines))
	}
	fails := failureLog{t: t}
	for id, r := range records {
		want := addressOfKey(r.Key)
		v := vouchers[id]
		var nonce [32]byte
		salt, _ := hex.DecodeString(strings.ReplaceAll(r.Salt, "-", ""))
		copy(nonce[16:], salt)
		sig := decodeSign(t, r.Sign)
		if got := c.recovers(t, "recoverVoucher", v.to, v.amount, v.expires, v.memo, nonce, sig); got != want {
			fails.add(id, fmt.Sprintf("msg %s", clipRunes(r.Msg, 100)), []string{"recovered " + got + ", want " + want})
		}
		// One byte of msg changed (the memo's first byte, an ASCII "m"): not the signer.
		if got := c.recovers(t, "recoverVoucher", v.to, v.amount, v.expires, "n"+v.memo[1:], nonce, sig); got == want {
			fails.add(id, "", []string{"a voucher with one byte of its memo changed still recovers " + want})
		}
	}
	fails.summary(len(records))
	t.Logf("the contract recovered %d eip712 vouchers under domain %v", len(records), scheme["domain"])
}
