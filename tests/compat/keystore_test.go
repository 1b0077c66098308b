// V3 keystore compatibility with go-ethereum's accounts/keystore package, both ways:
// a keystore go-ethereum writes (keystore.EncryptKey) loads in `signer sign-message --keystore`
// and signs byte-identically to crypto.Sign, and the keystores `signer keygen --format keystore`
// writes decrypt with keystore.DecryptKey, are listed and unlocked by go-ethereum's own key store,
// and sign as go-ethereum signs with them.
package compat

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
)

// keystoreNameRe is go-ethereum's key file name: UTC--<ISO 8601 with dashes>--<address>.
var keystoreNameRe = regexp.MustCompile(
	`^UTC--\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{9}Z--([0-9a-f]{40})$`)

// writePasswordFile writes pw plus the trailing newline `echo` would add, mode 0600.
func writePasswordFile(t *testing.T, pw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// gethKeystoreFile encrypts k with go-ethereum's keystore.EncryptKey (light scrypt) and writes it
// under a go-ethereum style name, mode 0600.
func gethKeystoreFile(t *testing.T, k testKey, pw string) string {
	t.Helper()
	key := &keystore.Key{
		Id:         uuid.New(),
		Address:    crypto.PubkeyToAddress(k.priv.PublicKey),
		PrivateKey: k.priv,
	}
	js, err := keystore.EncryptKey(key, pw, keystore.LightScryptN, keystore.LightScryptP)
	if err != nil {
		t.Fatalf("keystore.EncryptKey: %v", err)
	}
	ts := time.Now().UTC()
	name := fmt.Sprintf("UTC--%s--%x", ts.Format("2006-01-02T15-04-05.000000000Z"), key.Address[:])
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, js, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeystoreFromGoEthereumSignsLikeGoEthereum(t *testing.T) {
	signerBin(t)
	rng := newRNG(t)
	k := newTestKey(t)
	const pw = "geth-keystore-pw-0c9e"
	ksPath := gethKeystoreFile(t, k, pw)
	pwPath := writePasswordFile(t, pw)
	keyIndexOf := map[string]int{k.pubHex: 0}

	// Bulk: one load, many records, with the password from a file.
	var lines []any
	want := map[string]inputRecord{}
	for i := 0; i < 50; i++ {
		_, msg := randomMsg(rng)
		in := inputRecord{ID: randomID(rng), KeyIndex: 0, Salt: ptr(newUUIDv4()), Msg: msg}
		lines = append(lines, in)
		want[in.ID] = in
	}
	input := writeNDJSON(t, "input.ndjson", lines)
	res := runSigner(t, nil, "sign-message", "--keystore", ksPath, "--password-file", pwPath,
		"--input", input)
	if res.exitCode != 0 {
		t.Fatalf("sign-message --keystore (go-ethereum's file) failed\n%s", res.describe())
	}
	out := parseNDJSON(t, res)
	if len(out) != len(want) {
		t.Fatalf("got %d records for %d inputs\n%s", len(out), len(want), res.describe())
	}
	fails := failureLog{t: t}
	for _, r := range out {
		if r.ID == nil {
			t.Fatalf("record without id\n%s", res.describe())
		}
		in := want[*r.ID]
		fails.add(*r.ID, "keystore from keystore.EncryptKey",
			checkSigned(r, k, in.ID, in.Salt, in.Msg, keyIndexOf))
	}
	fails.summary(len(out))

	// Single: the password from an environment variable named by the flag.
	salt := newUUIDv4()
	t.Setenv("COMPAT_KEYSTORE_PASSWORD", pw)
	res = runSigner(t, nil, "sign-message", "--keystore", ksPath,
		"--password-env", "COMPAT_KEYSTORE_PASSWORD", "--id", "single", "--msg", "hello keystore",
		"--salt", salt)
	if res.exitCode != 0 {
		t.Fatalf("sign-message --keystore --password-env failed\n%s", res.describe())
	}
	if bad := checkSigned(parseSingleObject(t, res), k, "single", &salt, "hello keystore",
		keyIndexOf); len(bad) > 0 {
		t.Errorf("single record:\n  - %s", strings.Join(bad, "\n  - "))
	}
}

func TestKeystoreWrongPasswordFailsNamingTheFileButNoSecret(t *testing.T) {
	signerBin(t)
	k := newTestKey(t)
	ksPath := gethKeystoreFile(t, k, "the-right-pw-51d3")
	res := runSigner(t, nil, "sign-message", "--keystore", ksPath,
		"--password-file", writePasswordFile(t, "a-wrong-pw-8e2a"), "--msg", "x")
	if res.exitCode == 0 {
		t.Fatalf("signed with a wrong password\n%s", res.describe())
	}
	all := string(res.stdout) + string(res.stderr)
	if !strings.Contains(all, ksPath) || !strings.Contains(all, "wrong password") {
		t.Errorf("the error must name the file and say wrong password\n%s", res.describe())
	}
	for _, secret := range []string{"the-right-pw-51d3", "a-wrong-pw-8e2a",
		hex.EncodeToString(crypto.FromECDSA(k.priv))} {
		if strings.Contains(all, secret) {
			t.Errorf("output leaks %q\n%s", secret, res.describe())
		}
	}
}

// keygenLine is one key of `signer keygen --format keystore`'s listing.
type keygenLine struct {
	address, pub, path string
}

func parseKeygenListing(t *testing.T, res runResult) []keygenLine {
	t.Helper()
	var out []keygenLine
	sc := bufio.NewScanner(bytes.NewReader(res.stdout))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == fmt.Sprint(len(out)) {
			out = append(out, keygenLine{address: f[1], pub: f[2], path: f[3]})
		}
	}
	return out
}

func TestKeystoreWrittenBySignerDecryptsInGoEthereum(t *testing.T) {
	signerBin(t)
	const numKeys, pw = 3, "signer-keygen-pw-77b1"
	dir := filepath.Join(t.TempDir(), "keystore")
	pwPath := writePasswordFile(t, pw)
	res := runSigner(t, nil, "keygen", "--format", "keystore", "--count", fmt.Sprint(numKeys),
		"--out", dir, "--password-file", pwPath, "--scrypt-n", "4096")
	if res.exitCode != 0 {
		t.Fatalf("keygen --format keystore failed\n%s", res.describe())
	}
	listed := parseKeygenListing(t, res)
	if len(listed) != numKeys {
		t.Fatalf("keygen listed %d keys, want %d\n%s", len(listed), numKeys, res.describe())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != numKeys {
		t.Fatalf("%s holds %d files, want %d", dir, len(entries), numKeys)
	}

	for _, l := range listed {
		name := filepath.Base(l.path)
		m := keystoreNameRe.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("file name %q is not go-ethereum's UTC--<time>--<address>", name)
			continue
		}
		st, err := os.Stat(l.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, st.Mode().Perm())
		}
		js, err := os.ReadFile(l.path)
		if err != nil {
			t.Fatal(err)
		}
		var fields struct {
			Address string `json:"address"`
			Version int    `json:"version"`
			Crypto  struct {
				KDF       string         `json:"kdf"`
				KDFParams map[string]any `json:"kdfparams"`
			} `json:"crypto"`
		}
		if err := json.Unmarshal(js, &fields); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fields.Version != 3 || fields.Crypto.KDF != "scrypt" ||
			fields.Crypto.KDFParams["n"] != float64(4096) || fields.Crypto.KDFParams["r"] != float64(8) ||
			fields.Crypto.KDFParams["dklen"] != float64(32) {
			t.Errorf("%s: unexpected header %s", name, js)
		}

		key, err := keystore.DecryptKey(js, pw)
		if err != nil {
			t.Errorf("keystore.DecryptKey(%s): %v", name, err)
			continue
		}
		if got := "0x" + hex.EncodeToString(crypto.FromECDSAPub(&key.PrivateKey.PublicKey)); got != l.pub {
			t.Errorf("%s: go-ethereum decrypts to public key %s, signer reported %s", name, got, l.pub)
		}
		// Hex() is EIP-55, as the signer prints addresses.
		if key.Address.Hex() != l.address {
			t.Errorf("%s: go-ethereum address %s, signer reported %s", name, key.Address.Hex(), l.address)
		}
		if fields.Address != m[1] || common.HexToAddress(m[1]) != key.Address {
			t.Errorf("%s: address field %q and file name must both be the key's address %x",
				name, fields.Address, key.Address)
		}
		if _, err := keystore.DecryptKey(js, pw+"x"); !errors.Is(err, keystore.ErrDecrypt) {
			t.Errorf("%s: DecryptKey with a wrong password: %v, want ErrDecrypt", name, err)
		}
	}

	// go-ethereum's key store finds the files by name, unlocks them, and signs exactly as the
	// signer does with --keystore.
	ks := keystore.NewKeyStore(dir, keystore.LightScryptN, keystore.LightScryptP)
	if got := len(ks.Accounts()); got != numKeys {
		t.Fatalf("go-ethereum's KeyStore lists %d accounts in %s, want %d", got, dir, numKeys)
	}
	for _, l := range listed {
		acct, err := ks.Find(accounts.Account{Address: common.HexToAddress(l.address)})
		if err != nil {
			t.Errorf("KeyStore.Find(%s): %v", l.address, err)
			continue
		}
		salt, msg := newUUIDv4(), "signed by both"
		gethSig, err := ks.SignHashWithPassphrase(acct, pw, sigHash(salt, msg))
		if err != nil {
			t.Errorf("KeyStore.SignHashWithPassphrase(%s): %v", l.address, err)
			continue
		}
		res := runSigner(t, nil, "sign-message", "--keystore", l.path, "--password-file", pwPath,
			"--msg", msg, "--salt", salt)
		if res.exitCode != 0 {
			t.Errorf("sign-message --keystore %s failed\n%s", l.path, res.describe())
			continue
		}
		r := parseSingleObject(t, res)
		if want := "0x" + hex.EncodeToString(gethSig); r.Sign == nil || *r.Sign != want {
			t.Errorf("%s: signer signs %s, go-ethereum's KeyStore %s", l.address, show(r.Sign), want)
		}
		if r.Key == nil || *r.Key != l.pub {
			t.Errorf("%s: record key %s, want %s", l.address, show(r.Key), l.pub)
		}
	}
}
