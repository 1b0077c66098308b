// PKCS#11 keys against go-ethereum: a secp256k1 key generated on a SoftHSM2 token (by
// scripts/softhsm.sh, through opensc's pkcs11-tool) signs through `signer sign-message
// --pkcs11-*`, and every signature must pass go-ethereum's crypto.Ecrecover and
// crypto.VerifySignature under the public key the token itself lists. The private key never
// leaves the token, so there is no crypto.Sign to compare bytes with: the token's ECDSA nonces
// are its own (random), and compatibility here means go-ethereum accepts and recovers every
// signature, with V in {0,1} and S low.
package compat

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

const (
	softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"
	pkcs11Token   = "compat-token"
	pkcs11Pin     = "compat-pin-6b0f19"
)

// ecPointRe finds the public key pkcs11-tool lists: CKA_EC_POINT, the DER OCTET STRING (04 41)
// around 04||X||Y.
var ecPointRe = regexp.MustCompile(`EC_POINT:\s+0441(04[0-9a-f]{128})`)

// softhsmToken makes a private SoftHSM2 token with one secp256k1 key labelled "eth0", points
// SOFTHSM2_CONF at it for the signer, and returns the PIN file and the key's public key as
// pkcs11-tool lists it ("0x04" + 128 hex). SoftHSM2 missing: the test skips, or fails when
// SIGNER_REQUIRE_SOFTHSM=1.
func softhsmToken(t *testing.T) (pinFile, pubHex string) {
	t.Helper()
	if _, err := os.Stat(softhsmModule); err != nil {
		if os.Getenv("SIGNER_REQUIRE_SOFTHSM") == "1" {
			t.Fatalf("SIGNER_REQUIRE_SOFTHSM=1 but %s is missing (apt-get install softhsm2 opensc)",
				softhsmModule)
		}
		t.Skipf("SoftHSM2 not installed (%s)", softhsmModule)
	}
	dir := t.TempDir()
	pinFile = filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(pkcs11Pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join("..", "..", "scripts", "softhsm.sh")
	hsm := filepath.Join(dir, "hsm")
	out, err := exec.Command(script, "init", hsm, pkcs11Token, pinFile, "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/softhsm.sh init: %v\n%s", err, out)
	}
	t.Setenv("SOFTHSM2_CONF", filepath.Join(hsm, "softhsm2.conf"))
	out, err = exec.Command(script, "list", hsm, pkcs11Token, pinFile).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/softhsm.sh list: %v\n%s", err, out)
	}
	m := ecPointRe.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no EC_POINT in pkcs11-tool's listing:\n%s", out)
	}
	return pinFile, "0x" + string(m[1])
}

func pkcs11Args(pinFile string) []string {
	return []string{"sign-message", "--pkcs11-module", softhsmModule, "--pkcs11-token", pkcs11Token,
		"--pkcs11-key-label", "eth0", "--pkcs11-pin-file", pinFile}
}

// checkTokenSigned checks one record signed on the token against go-ethereum, for the public key
// pubHex and the expected id, salt and msg. It returns every problem found.
func checkTokenSigned(r signedRecord, pubHex, wantID string, wantSalt *string, wantMsg string) []string {
	var bad []string
	if r.ID == nil || *r.ID != wantID {
		bad = append(bad, "id = "+show(r.ID)+", want "+wantID)
	}
	if r.Msg == nil || *r.Msg != wantMsg {
		bad = append(bad, "msg did not round-trip: "+show(r.Msg))
	}
	if r.Key == nil || *r.Key != pubHex {
		bad = append(bad, "key = "+show(r.Key)+", want the token's "+pubHex)
	}
	if r.Salt == nil || !uuidV4Re.MatchString(*r.Salt) || (wantSalt != nil && *r.Salt != *wantSalt) {
		return append(bad, "salt = "+show(r.Salt))
	}
	if r.Sign == nil || !signRe.MatchString(*r.Sign) {
		return append(bad, "sign = "+show(r.Sign)+" is not 0x + 130 lowercase hex")
	}
	sig, _ := hex.DecodeString((*r.Sign)[2:])
	pub, _ := hex.DecodeString(pubHex[2:])
	hash := sigHash(*r.Salt, wantMsg)
	if v := sig[64]; v != 0 && v != 1 {
		bad = append(bad, "V not in {0,1}")
	}
	if s := new(big.Int).SetBytes(sig[32:64]); s.Sign() == 0 || s.Cmp(halfN) > 0 {
		bad = append(bad, "S not in low form")
	}
	if rec, err := crypto.Ecrecover(hash, sig); err != nil {
		bad = append(bad, "crypto.Ecrecover failed: "+err.Error())
	} else if !bytes.Equal(rec, pub) {
		bad = append(bad, "crypto.Ecrecover gives 0x"+hex.EncodeToString(rec)+", not the token's key")
	}
	if !crypto.VerifySignature(pub, hash, sig[:64]) {
		bad = append(bad, "crypto.VerifySignature(token key, Keccak256(salt+msg), sign[:64]) = false")
	}
	return bad
}

func TestPkcs11SignaturesVerifyInGoEthereum(t *testing.T) {
	signerBin(t)
	pinFile, pubHex := softhsmToken(t)
	rng := newRNG(t)

	// Bulk: one login, many signatures on the token.
	var lines []any
	want := map[string]inputRecord{}
	for i := 0; i < 200; i++ {
		_, msg := randomMsg(rng)
		in := inputRecord{ID: randomID(rng), KeyIndex: 0, Msg: msg}
		if i%2 == 0 {
			in.Salt = ptr(newUUIDv4())
		}
		lines = append(lines, in)
		want[in.ID] = in
	}
	res := runSigner(t, nil, append(pkcs11Args(pinFile), "--input",
		writeNDJSON(t, "input.ndjson", lines))...)
	if res.exitCode != 0 {
		t.Fatalf("sign-message --pkcs11-* failed\n%s", res.describe())
	}
	out := parseNDJSON(t, res)
	if len(out) != len(want) {
		t.Fatalf("got %d records for %d inputs\n%s", len(out), len(want), res.describe())
	}
	fails := failureLog{t: t}
	vs := map[byte]int{}
	for _, r := range out {
		if r.ID == nil {
			t.Fatalf("record without id\n%s", res.describe())
		}
		in := want[*r.ID]
		problems := checkTokenSigned(r, pubHex, in.ID, in.Salt, in.Msg)
		fails.add(*r.ID, "signed on SoftHSM2", problems)
		if len(problems) == 0 {
			sig, _ := hex.DecodeString((*r.Sign)[2:])
			vs[sig[64]]++
		}
	}
	fails.summary(len(out))
	// Both recovery ids must occur (odds of not: 2^-199), so both branches of the V search ran.
	if vs[0] == 0 || vs[1] == 0 {
		t.Errorf("V counts %v: want both 0 and 1 among %d signatures", vs, len(out))
	}

	// Single mode, twice over the same salt and message: both verify; the bytes differ because
	// the token draws its own nonces (RFC 6979 is libsecp256k1's and go-ethereum's, not PKCS#11's).
	salt := newUUIDv4()
	var signs []string
	for i := 0; i < 2; i++ {
		res = runSigner(t, nil, append(pkcs11Args(pinFile), "--id", "single", "--msg", "hello token",
			"--salt", salt)...)
		if res.exitCode != 0 {
			t.Fatalf("single sign-message --pkcs11-* failed\n%s", res.describe())
		}
		r := parseSingleObject(t, res)
		if bad := checkTokenSigned(r, pubHex, "single", &salt, "hello token"); len(bad) > 0 {
			t.Errorf("single record:\n  - %s", strings.Join(bad, "\n  - "))
		}
		if r.Sign != nil {
			signs = append(signs, *r.Sign)
		}
	}
	t.Logf("same message signed twice on the token; identical bytes: %v", len(signs) == 2 && signs[0] == signs[1])
}

func TestPkcs11WrongPinFailsWithoutPrintingAPin(t *testing.T) {
	signerBin(t)
	_, _ = softhsmToken(t)
	wrong := filepath.Join(t.TempDir(), "wrong-pin")
	if err := os.WriteFile(wrong, []byte("compat-wrong-pin-2d71\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runSigner(t, nil, append(pkcs11Args(wrong), "--msg", "x")...)
	if res.exitCode == 0 {
		t.Fatalf("signed with a wrong PIN\n%s", res.describe())
	}
	all := string(res.stdout) + string(res.stderr)
	if !strings.Contains(all, "wrong PIN") || !strings.Contains(all, pkcs11Token) {
		t.Errorf("the error must say wrong PIN and name the token\n%s", res.describe())
	}
	for _, secret := range []string{pkcs11Pin, "compat-wrong-pin-2d71"} {
		if strings.Contains(all, secret) {
			t.Errorf("output leaks the PIN %q\n%s", secret, res.describe())
		}
	}
}
