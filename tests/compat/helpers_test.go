// Helpers shared by the compatibility tests: locating and running the `signer`
// binary, writing key files, generating inputs, and parsing its output. The tests
// themselves live in compat_test.go; everything here is plumbing.
package compat

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
)

// commandTimeout bounds every invocation of the binary so a hung signer fails the
// test instead of stalling `go test` until its global timeout.
const commandTimeout = 60 * time.Second

var (
	// secp256k1N is the group order; halfN is the low-S bound (S <= N/2).
	secp256k1N, _ = new(big.Int).SetString(
		"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)
	halfN = new(big.Int).Rsh(secp256k1N, 1)

	uuidV4Re = regexp.MustCompile(
		`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	signRe = regexp.MustCompile(`^0x[0-9a-f]{130}$`)
	keyRe  = regexp.MustCompile(`^0x04[0-9a-f]{128}$`)
)

// signerBin returns the path of the binary under test from $SIGNER_BIN. A missing
// binary is a failure, never a skip: a compat run that silently tests nothing
// must not look green.
func signerBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SIGNER_BIN")
	if p == "" {
		t.Fatalf("SIGNER_BIN is not set: point it at the signer binary, e.g. " +
			"SIGNER_BIN=$PWD/../../build/release/signer go test -count=1 ./...")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatalf("SIGNER_BIN=%q: %v", p, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		t.Fatalf("SIGNER_BIN=%q: binary not found: %v (build it first)", p, err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("SIGNER_BIN=%q is not an executable file (mode %v)", p, st.Mode())
	}
	return abs
}

// sharedDir is the project's shared folder ($REPO/../shared), overridable by
// $SHARED_DIR. The test runs with tests/compat as its working directory.
func sharedDir() string {
	if d := os.Getenv("SHARED_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared")
}

// runResult is one finished invocation of the binary.
type runResult struct {
	args     []string
	stdout   []byte
	stderr   []byte
	exitCode int
}

func (r runResult) describe() string {
	return fmt.Sprintf("signer %s\nexit %d\nstderr:\n%s\nstdout (first 1000 bytes):\n%s",
		strings.Join(r.args, " "), r.exitCode, clip(r.stderr, 4000), clip(r.stdout, 1000))
}

func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + fmt.Sprintf("... (%d more bytes)", len(b)-n)
}

// clipRunes shortens s to at most n characters for a log line.
func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + fmt.Sprintf("...(%d more chars)", len(r)-n)
}

// runSigner runs the binary with args and optional stdin. It fails the test only
// if the process could not be started or timed out; the exit code is returned.
func runSigner(t *testing.T, stdin io.Reader, args ...string) runResult {
	t.Helper()
	bin := signerBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, stdin
	err := cmd.Run()
	res := runResult{args: args, stdout: out.Bytes(), stderr: errb.Bytes()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("signer %s: timed out after %v\nstderr:\n%s",
			strings.Join(args, " "), commandTimeout, clip(res.stderr, 4000))
	case errors.As(err, &ee):
		res.exitCode = ee.ExitCode()
	case err != nil:
		t.Fatalf("signer %s: could not run: %v", strings.Join(args, " "), err)
	}
	return res
}

// testKey is a throwaway key made by go-ethereum's crypto.GenerateKey.
type testKey struct {
	priv   *ecdsa.PrivateKey
	pubHex string // "0x04" + 128 hex, as go-ethereum encodes it
}

func newTestKey(t *testing.T) testKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatalf("crypto.GenerateKey: %v", err)
	}
	return keyFromPriv(k)
}

func keyFromPriv(k *ecdsa.PrivateKey) testKey {
	return testKey{priv: k, pubHex: "0x" + hex.EncodeToString(crypto.FromECDSAPub(&k.PublicKey))}
}

// writeKeysCSV writes keys in the contract's keys.csv format, mode 0600.
func writeKeysCSV(t *testing.T, keys []testKey) string {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s,0x%s\n", k.pubHex, hex.EncodeToString(crypto.FromECDSA(k.priv)))
	}
	p := filepath.Join(t.TempDir(), "keys.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// indexByPub maps each key's public hex to its 0-based line in keys.csv.
func indexByPub(keys []testKey) map[string]int {
	m := make(map[string]int, len(keys))
	for i, k := range keys {
		m[k.pubHex] = i
	}
	return m
}

// inputRecord is one bulk-mode input line. A nil Salt omits the field, which
// asks the signer to generate a UUIDv4.
type inputRecord struct {
	ID       string  `json:"id"`
	KeyIndex int     `json:"key_index"`
	Salt     *string `json:"salt,omitempty"`
	Msg      string  `json:"msg"`
}

// signedRecord is one output record; pointers tell a missing field from an empty one.
type signedRecord struct {
	ID   *string `json:"id"`
	Msg  *string `json:"msg"`
	Salt *string `json:"salt"`
	Sign *string `json:"sign"`
	Key  *string `json:"key"`
}

func writeNDJSON(t *testing.T, name string, values []any) string {
	t.Helper()
	var b bytes.Buffer
	for _, v := range values {
		line, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// parseNDJSON parses the bulk output: one JSON object per non-empty line.
func parseNDJSON(t *testing.T, res runResult) []signedRecord {
	t.Helper()
	var recs []signedRecord
	for i, line := range bytes.Split(res.stdout, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r signedRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("stdout line %d is not a JSON record (%v); stdout must hold only the "+
				"NDJSON records, logs belong on stderr\nline: %s\n%s",
				i+1, err, clip(line, 500), res.describe())
		}
		recs = append(recs, r)
	}
	return recs
}

// parseSingleObject parses single-record mode output: exactly one JSON object,
// pretty or compact.
func parseSingleObject(t *testing.T, res runResult) signedRecord {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(res.stdout))
	var r signedRecord
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not one JSON record (%v); stdout must hold only the record, "+
			"logs belong on stderr\n%s", err, res.describe())
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Fatalf("output has more than one JSON value\n%s", res.describe())
	}
	return r
}

// sigHash is the contract's digest: Keccak256(utf8(salt) || utf8(msg)).
func sigHash(salt, msg string) []byte {
	return crypto.Keccak256([]byte(salt), []byte(msg))
}

// gethSign signs like the original service did: crypto.Sign over sigHash.
func gethSign(t *testing.T, k *ecdsa.PrivateKey, salt, msg string) []byte {
	t.Helper()
	sig, err := crypto.Sign(sigHash(salt, msg), k)
	if err != nil {
		t.Fatalf("crypto.Sign: %v", err)
	}
	return sig
}

// checkSigned compares one of our records against go-ethereum for key k and the
// expected salt and msg (wantSalt == nil: any salt, which is then used for the
// hash). keyIndexOf, if not nil, maps public keys to their keys.csv index so a
// record signed with the wrong key says which one it used. It returns every
// discrepancy found, empty if the record is compatible.
func checkSigned(r signedRecord, k testKey, wantID string, wantSalt *string, wantMsg string,
	keyIndexOf map[string]int) []string {
	var bad []string
	if r.ID == nil || *r.ID != wantID {
		bad = append(bad, fmt.Sprintf("id = %s, want %q", show(r.ID), wantID))
	}
	if r.Msg == nil || *r.Msg != wantMsg {
		bad = append(bad, fmt.Sprintf("msg did not round-trip: got %s, want %q", show(r.Msg), wantMsg))
	}
	if r.Salt == nil {
		return append(bad, "salt missing")
	}
	if wantSalt != nil && *r.Salt != *wantSalt {
		bad = append(bad, fmt.Sprintf("salt = %q, want %q", *r.Salt, *wantSalt))
	}
	ourPub := []byte(nil)
	switch {
	case r.Key == nil:
		bad = append(bad, "key missing")
	case !keyRe.MatchString(*r.Key):
		bad = append(bad, fmt.Sprintf("key %q is not 0x04 + 128 lowercase hex", *r.Key))
	default:
		ourPub, _ = hex.DecodeString((*r.Key)[2:])
		if *r.Key != k.pubHex {
			msg := fmt.Sprintf("key = %s, want %s (0x + hex(crypto.FromECDSAPub))", *r.Key, k.pubHex)
			if i, ok := keyIndexOf[*r.Key]; ok {
				msg += fmt.Sprintf("; that is the key at index %d, want index %d", i, keyIndexOf[k.pubHex])
			}
			bad = append(bad, msg)
		}
	}
	if r.Sign == nil {
		return append(bad, "sign missing")
	}
	if !signRe.MatchString(*r.Sign) {
		return append(bad, fmt.Sprintf("sign %q is not 0x + 130 lowercase hex", *r.Sign))
	}
	sig, _ := hex.DecodeString((*r.Sign)[2:])
	hash := sigHash(*r.Salt, wantMsg)
	want, err := crypto.Sign(hash, k.priv)
	if err != nil {
		return append(bad, "crypto.Sign: "+err.Error())
	}
	if wantHex := "0x" + hex.EncodeToString(want); *r.Sign != wantHex {
		bad = append(bad, fmt.Sprintf("sign differs from go-ethereum crypto.Sign with the expected key:\n"+
			"      ours %s\n      geth %s", *r.Sign, wantHex))
	}
	if v := sig[64]; v != 0 && v != 1 {
		bad = append(bad, fmt.Sprintf("V = %d, want 0 or 1", v))
	}
	if s := new(big.Int).SetBytes(sig[32:64]); s.Sign() == 0 || s.Cmp(halfN) > 0 {
		bad = append(bad, fmt.Sprintf("S = %x is not in low form (0 < S <= N/2)", s))
	}
	if rr := new(big.Int).SetBytes(sig[:32]); rr.Sign() == 0 || rr.Cmp(secp256k1N) >= 0 {
		bad = append(bad, fmt.Sprintf("R = %x is out of range", rr))
	}
	if ourPub != nil {
		// Self-consistency as any verifier sees it: sign must recover to the
		// record's own key, and verify under it.
		if rec, err := crypto.Ecrecover(hash, sig); err != nil {
			bad = append(bad, "crypto.Ecrecover(Keccak256(salt+msg), sign) failed: "+err.Error())
		} else if !bytes.Equal(rec, ourPub) {
			bad = append(bad, fmt.Sprintf("crypto.Ecrecover(Keccak256(salt+msg), sign) = 0x%x, not the record's key", rec))
		}
		if !crypto.VerifySignature(ourPub, hash, sig[:64]) {
			bad = append(bad, "crypto.VerifySignature(key, Keccak256(salt+msg), sign[:64]) = false")
		}
	}
	return bad
}

func show(p *string) string {
	if p == nil {
		return "<missing>"
	}
	return strconv.Quote(*p)
}

// failureLog collects per-record problems and reports the first few in full, so
// a systematic bug does not drown the log in thousands of identical lines.
type failureLog struct {
	t     *testing.T
	count int
	shown int
}

const maxShownFailures = 15

func (f *failureLog) add(id string, detail string, problems []string) {
	if len(problems) == 0 {
		return
	}
	f.count++
	if f.shown < maxShownFailures {
		f.shown++
		f.t.Errorf("record %q (%s):\n  - %s", id, detail, strings.Join(problems, "\n  - "))
	}
}

func (f *failureLog) summary(total int) {
	if f.count > 0 {
		f.t.Errorf("%d of %d records incompatible with go-ethereum (first %d shown above)",
			f.count, total, f.shown)
	}
}

// newUUIDv4 formats 16 bytes from crypto/rand as a lowercase RFC 4122 version 4 UUID.
func newUUIDv4() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomID(rng *mrand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return hex.EncodeToString(b[:])
}

// Alphabets for random messages. They cover 1-, 2-, 3- and 4-byte UTF-8, and
// characters that JSON must escape or that encoders commonly escape (Go escapes
// <, >, & and U+2028/U+2029 as \uXXXX, so the signer's parser must decode those).
var (
	asciiRunes     = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?-_/()[]{}@#$%^*+=~`'|")
	multibyteRunes = []rune("éüößñçåøæ€£¥©®°±µ¶ЖЯжяאבגدرسअआइ中文字日本語한국어ไทย✓✗★☃♥→⇒∀∃∑√∞😀🎉🔑🦀𝄞𐍈🇩🇪")
	jsonRunes      = []rune("\"\\/\b\f\n\r\t\x01\x1f\x7f<>&\u2028\u2029\u00a0\ufeff\ufffd")
)

// randomMsg returns a message of 0..300 characters of one of several kinds.
func randomMsg(rng *mrand.Rand) (kind, msg string) {
	n := rng.IntN(301)
	var alphabet []rune
	switch rng.IntN(5) {
	case 0:
		kind, alphabet = "ascii", asciiRunes
	case 1:
		kind, alphabet = "utf8", multibyteRunes
	case 2:
		kind, alphabet = "mixed", append(append(append([]rune{}, asciiRunes...), multibyteRunes...), jsonRunes...)
	case 3:
		kind = "hexbytes" // random bytes rendered as hex, like the original's generator
		b := make([]byte, n/2)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return kind, hex.EncodeToString(b)
	default:
		kind, alphabet = "json-escapes", append(append([]rune{}, jsonRunes...), 'a', 'b', ' ')
	}
	r := make([]rune, n)
	for i := range r {
		r[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return kind, string(r)
}

// edgeMsgs are fixed messages given their own ids so a failure names the edge.
var edgeMsgs = map[string]string{
	"edge-empty":          "",
	"edge-space":          " ",
	"edge-nul":            "a\x00b",
	"edge-only-nul":       "\x00",
	"edge-newlines":       "line1\nline2\r\nline3",
	"edge-quote-bslash":   `he said "hi" \ bye \\ \"`,
	"edge-unicode-esc":    `\u0041 is not A`,
	"edge-emoji-astral":   "😀𝄞🇩🇪",
	"edge-bom":            "\ufeffbom",
	"edge-long-ascii":     strings.Repeat("x", 300),
	"edge-long-4byte":     strings.Repeat("😀", 300),
	"edge-html":           "<script>&amp;</script>",
	"edge-seed-msg":       "830f559b22b74bfcbb5631fae20462cb",
	"edge-line-sep":       "a\u2028b\u2029c",
	"edge-trailing-ws":    "msg  \t",
	"edge-numeric":        "12345",
	"edge-json-lookalike": `{"id":"x","msg":"y"}`,
}

func ptr[T any](v T) *T { return &v }
