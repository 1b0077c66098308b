// The eip191 and eip712 schemes against go-ethereum's own implementations: every record that
// `signer sign-message --scheme …` writes must carry go-ethereum's accounts.TextHash (eip191) or
// apitypes.TypedDataAndHash (eip712) of the same salt and message, signed byte for byte as
// crypto.Sign signs it, with V moved to 27/28. The typed data here uses every kind of member the
// scheme file accepts (nested structs, dynamic and fixed arrays, signed and unsigned integers of
// several widths, bytes, bytesN, bool, string, address), so a change of the EIP-191 prefix, the
// domain's encoding or a struct's field order fails these tests.
package compat

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// schemeRecord is one output record of a scheme other than raw.
type schemeRecord struct {
	ID     string `json:"id"`
	Msg    string `json:"msg"`
	Salt   string `json:"salt"`
	Sign   string `json:"sign"`
	Key    string `json:"key"`
	Scheme string `json:"scheme"`
	Digest string `json:"digest"`
}

func parseSchemeRecords(t *testing.T, res runResult) map[string]schemeRecord {
	t.Helper()
	out := map[string]schemeRecord{}
	for _, line := range strings.Split(string(res.stdout), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r schemeRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("stdout line is not a JSON record (%v): %s", err, clip([]byte(line), 300))
		}
		out[r.ID] = r
	}
	return out
}

// wantSignature is go-ethereum's crypto.Sign(hash) with V moved from 0/1 to 27/28, as hex.
func wantSignature(t *testing.T, k testKey, hash []byte) string {
	t.Helper()
	sig, err := crypto.Sign(hash, k.priv)
	if err != nil {
		t.Fatalf("crypto.Sign: %v", err)
	}
	sig[64] += 27
	return "0x" + hex.EncodeToString(sig)
}

func TestEip191MatchesGoEthereumTextHash(t *testing.T) {
	signerBin(t)
	rng := newRNG(t)
	keys := []testKey{newTestKey(t), newTestKey(t)}
	keysPath := writeKeysCSV(t, keys)
	var lines []any
	want := map[string]inputRecord{}
	for i := 0; i < 500; i++ {
		_, msg := randomMsg(rng)
		in := inputRecord{ID: fmt.Sprintf("r%d", i), KeyIndex: i % 2, Salt: ptr(newUUIDv4()), Msg: msg}
		lines = append(lines, in)
		want[in.ID] = in
	}
	for id, msg := range edgeMsgs {
		in := inputRecord{ID: id, Salt: ptr(newUUIDv4()), Msg: msg}
		lines = append(lines, in)
		want[id] = in
	}
	res := runSigner(t, nil, "sign-message", "--scheme", "eip191", "--keys", keysPath,
		"--input", writeNDJSON(t, "in.ndjson", lines))
	if res.exitCode != 0 {
		t.Fatalf("sign-message --scheme eip191 failed\n%s", res.describe())
	}
	got := parseSchemeRecords(t, res)
	fails := failureLog{t: t}
	for id, in := range want {
		r, ok := got[id]
		if !ok {
			fails.add(id, "", []string{"no output record"})
			continue
		}
		k := keys[in.KeyIndex]
		var bad []string
		hash := accounts.TextHash([]byte(*in.Salt + in.Msg))
		if s := wantSignature(t, k, hash); r.Sign != s {
			bad = append(bad, fmt.Sprintf("sign = %s, want crypto.Sign(accounts.TextHash(salt+msg)) = %s", r.Sign, s))
		}
		if r.Scheme != "eip191" || r.Digest != "" {
			bad = append(bad, fmt.Sprintf("scheme %q digest %q, want eip191 and none", r.Scheme, r.Digest))
		}
		if r.Salt != *in.Salt || r.Msg != in.Msg || r.Key != k.pubHex {
			bad = append(bad, "salt, msg or key did not round-trip")
		}
		fails.add(id, fmt.Sprintf("msg %q", clipRunes(in.Msg, 60)), bad)
	}
	fails.summary(len(want))
}

// orderScheme is a scheme file (in its JSON form) using every kind of member; the nonce is
// bytes32, or another salt type when `saltType` says so.
func orderScheme(saltType string) map[string]any {
	return map[string]any{
		"name": "order",
		"domain": map[string]any{"name": "Compat Orders", "version": "7", "chainId": 31337,
			"verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3"},
		"primaryType": "Order",
		"types": map[string]any{
			"Order": []map[string]string{
				{"name": "maker", "type": "Party"}, {"name": "items", "type": "Item[]"},
				{"name": "amount", "type": "uint256"}, {"name": "delta", "type": "int64"},
				{"name": "flag", "type": "bool"}, {"name": "note", "type": "string"},
				{"name": "data", "type": "bytes"}, {"name": "tag", "type": "bytes4"},
				{"name": "ids", "type": "uint32[2]"}, {"name": "nonce", "type": saltType},
			},
			"Party": []map[string]string{{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}},
			"Item":  []map[string]string{{"name": "sku", "type": "string"}, {"name": "qty", "type": "uint16"}},
		},
		"saltField": "nonce",
	}
}

// randomOrder returns one Order message twice: as the record's msg (JSON text, integers written
// as numbers, decimal or hex strings by turns) and as go-ethereum's message map.
func randomOrder(rng *mrand.Rand) (string, map[string]any) {
	text := func() string { _, m := randomMsg(rng); return m }
	addr := common.BytesToAddress(randomBytes(rng, 20))
	amount := new(big.Int).SetBytes(randomBytes(rng, 1+rng.IntN(32)))
	delta := int64(rng.Uint64())
	if rng.IntN(4) == 0 {
		delta = -int64(rng.IntN(1000))
	}
	var amountJSON any = amount.String()
	switch rng.IntN(3) {
	case 0:
		amountJSON = "0x" + amount.Text(16)
	case 1:
		if amount.IsUint64() {
			amountJSON = amount.Uint64()
		}
	}
	var deltaJSON any = delta
	if rng.IntN(2) == 0 {
		deltaJSON = fmt.Sprint(delta)
	}
	n := rng.IntN(4)
	itemsJSON := make([]any, n)
	itemsGeth := make([]any, n)
	for i := range itemsJSON {
		sku, qty := text(), rng.IntN(65536)
		itemsJSON[i] = map[string]any{"sku": sku, "qty": qty}
		itemsGeth[i] = map[string]any{"sku": sku, "qty": big.NewInt(int64(qty))}
	}
	data := randomBytes(rng, rng.IntN(40))
	tag := randomBytes(rng, 4)
	ids := []uint32{rng.Uint32(), rng.Uint32()}
	name, note, flag := text(), text(), rng.IntN(2) == 0
	wallet := addr.Hex() // EIP-55 mixed case
	if rng.IntN(2) == 0 {
		wallet = strings.ToLower(wallet)
	}
	msg := map[string]any{
		"maker": map[string]any{"name": name, "wallet": wallet}, "items": itemsJSON,
		"amount": amountJSON, "delta": deltaJSON, "flag": flag, "note": note,
		"data": "0x" + hex.EncodeToString(data), "tag": "0x" + hex.EncodeToString(tag),
		"ids": []any{ids[0], ids[1]},
	}
	raw, _ := json.Marshal(msg)
	geth := map[string]any{
		"maker": map[string]any{"name": name, "wallet": addr.Hex()}, "items": itemsGeth,
		"amount": amount, "delta": big.NewInt(delta), "flag": flag, "note": note,
		"data": data, "tag": tag,
		"ids": []any{new(big.Int).SetUint64(uint64(ids[0])), new(big.Int).SetUint64(uint64(ids[1]))},
	}
	return string(raw), geth
}

func randomBytes(rng *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// gethTypedData is the scheme file `s` with message `msg` as go-ethereum's TypedData.
func gethTypedData(t *testing.T, s map[string]any, msg map[string]any) apitypes.TypedData {
	t.Helper()
	raw, _ := json.Marshal(s)
	var file struct {
		Domain struct {
			Name, Version     string
			ChainID           int64  `json:"chainId"`
			VerifyingContract string `json:"verifyingContract"`
		}
		PrimaryType string                     `json:"primaryType"`
		Types       map[string][]apitypes.Type `json:"types"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	types := apitypes.Types{"EIP712Domain": {
		{Name: "name", Type: "string"}, {Name: "version", Type: "string"},
		{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"},
	}}
	for name, fields := range file.Types {
		types[name] = fields
	}
	return apitypes.TypedData{
		Types:       types,
		PrimaryType: file.PrimaryType,
		Domain: apitypes.TypedDataDomain{
			Name: file.Domain.Name, Version: file.Domain.Version,
			ChainId:           (*math.HexOrDecimal256)(big.NewInt(file.Domain.ChainID)),
			VerifyingContract: file.Domain.VerifyingContract,
		},
		Message: msg,
	}
}

func writeSchemeFile(t *testing.T, s map[string]any) string {
	t.Helper()
	raw, _ := json.MarshalIndent(s, "", "  ")
	p := filepath.Join(t.TempDir(), "scheme.json")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// nonceFor is the salt field's value as go-ethereum takes it, for each salt type.
func nonceFor(saltType, salt string) any {
	u := strings.ReplaceAll(salt, "-", "")
	b, _ := hex.DecodeString(u)
	switch saltType {
	case "bytes32":
		return append(make([]byte, 16), b...)
	case "bytes16":
		return b
	case "string":
		return salt
	default: // uint256, uint128
		return new(big.Int).SetBytes(b)
	}
}

func TestEip712MatchesGoEthereumTypedDataAndHash(t *testing.T) {
	signerBin(t)
	rng := newRNG(t)
	keys := []testKey{newTestKey(t), newTestKey(t)}
	keysPath := writeKeysCSV(t, keys)
	for _, saltType := range []string{"bytes32", "uint256", "uint128", "bytes16", "string"} {
		t.Run(saltType, func(t *testing.T) {
			scheme := orderScheme(saltType)
			count := 60
			if saltType == "bytes32" {
				count = 400
			}
			var lines []any
			geth := map[string]map[string]any{}
			inputs := map[string]inputRecord{}
			for i := 0; i < count; i++ {
				msg, gm := randomOrder(rng)
				in := inputRecord{ID: fmt.Sprintf("o%d", i), KeyIndex: i % 2, Salt: ptr(newUUIDv4()), Msg: msg}
				lines = append(lines, in)
				geth[in.ID], inputs[in.ID] = gm, in
			}
			res := runSigner(t, nil, "sign-message", "--scheme", "eip712:order", "--scheme-file",
				writeSchemeFile(t, scheme), "--keys", keysPath, "--input", writeNDJSON(t, "in.ndjson", lines))
			if res.exitCode != 0 {
				t.Fatalf("sign-message --scheme eip712:order failed\n%s", res.describe())
			}
			got := parseSchemeRecords(t, res)
			fails := failureLog{t: t}
			for id, in := range inputs {
				r, ok := got[id]
				if !ok {
					fails.add(id, "", []string{"no output record"})
					continue
				}
				gm := geth[id]
				gm["nonce"] = nonceFor(saltType, *in.Salt)
				hash, _, err := apitypes.TypedDataAndHash(gethTypedData(t, scheme, gm))
				if err != nil {
					fails.add(id, in.Msg, []string{"go-ethereum cannot hash it: " + err.Error()})
					continue
				}
				var bad []string
				if want := "0x" + hex.EncodeToString(hash); r.Digest != want {
					bad = append(bad, fmt.Sprintf("digest = %s, want apitypes.TypedDataAndHash = %s", r.Digest, want))
				}
				if want := wantSignature(t, keys[in.KeyIndex], hash); r.Sign != want {
					bad = append(bad, fmt.Sprintf("sign = %s, want crypto.Sign(digest) with V+27 = %s", r.Sign, want))
				}
				if r.Scheme != "eip712" {
					bad = append(bad, fmt.Sprintf("scheme = %q, want eip712", r.Scheme))
				}
				fails.add(id, "msg "+clipRunes(in.Msg, 120), bad)
			}
			fails.summary(len(inputs))
		})
	}
}

func TestEip712RecordsThatDoNotFitAreRefusedAndTheRestSigned(t *testing.T) {
	signerBin(t)
	rng := newRNG(t)
	keysPath := writeKeysCSV(t, []testKey{newTestKey(t)})
	good, _ := randomOrder(rng)
	var m map[string]any
	_ = json.Unmarshal([]byte(good), &m)
	m["extra"] = 1
	extra, _ := json.Marshal(m)
	lines := []any{
		inputRecord{ID: "good", Msg: good},
		inputRecord{ID: "not-json", Msg: "hello"},
		inputRecord{ID: "extra-field", Msg: string(extra)},
	}
	res := runSigner(t, nil, "sign-message", "--scheme", "eip712", "--scheme-file",
		writeSchemeFile(t, orderScheme("bytes32")), "--keys", keysPath, "--input", writeNDJSON(t, "in.ndjson", lines))
	if res.exitCode != 1 {
		t.Fatalf("want exit 1 for records that do not fit\n%s", res.describe())
	}
	got := parseSchemeRecords(t, res)
	if _, ok := got["good"]; !ok || len(got) != 1 {
		t.Fatalf("want only the good record signed, got %d records\n%s", len(got), res.describe())
	}
	for _, want := range []string{"msg is not JSON", `unknown field "extra"`} {
		if !strings.Contains(string(res.stderr), want) {
			t.Errorf("stderr does not say %q\n%s", want, res.describe())
		}
	}
}
