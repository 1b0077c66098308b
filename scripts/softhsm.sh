#!/usr/bin/env bash
# Test tokens in SoftHSM2 (Debian's softhsm2), private to a directory: DIR/softhsm2.conf points
# the module at DIR/tokens, so the system token dir (/var/lib/softhsm/tokens) is never touched.
# Keys are generated on the token by pkcs11-tool (Debian's opensc) and never leave it
# (CKA_SENSITIVE, not extractable). PINs never go on a command line: pkcs11-tool reads them with
# --pin env:NAME, and the SO PIN is random, in DIR/so-pin (0600).
#
# Usage: scripts/softhsm.sh init DIR TOKEN_LABEL PIN_FILE [KEY_LABEL...]
#          a new token TOKEN_LABEL whose user PIN is the one line of PIN_FILE, with one secp256k1
#          key pair per KEY_LABEL, CKA_ID 01, 02, … in order. DIR may already hold other tokens.
#        scripts/softhsm.sh keygen DIR TOKEN_LABEL PIN_FILE KEY_TYPE KEY_LABEL ID_HEX
#          one more key pair on the token, of any pkcs11-tool --key-type (EC:secp256k1,
#          EC:prime256v1, rsa:2048, …).
#        scripts/softhsm.sh list DIR TOKEN_LABEL PIN_FILE     the token's objects
#        scripts/softhsm.sh module                            the module path
# init and keygen print "SOFTHSM2_CONF=DIR/softhsm2.conf" on stdout: export it for the signer and
# for pkcs11-tool, as the module reads its config from that variable when it is initialised.
# SOFTHSM2_MODULE overrides the module path (default /usr/lib/softhsm/libsofthsm2.so).
set -euo pipefail

module="${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
action="${1:?usage: softhsm.sh init|keygen|list|module ...}"
if [[ "$action" == module ]]; then
  echo "$module"
  exit 0
fi
dir="${2:?DIR}"
token="${3:?TOKEN_LABEL}"
pin_file="${4:?PIN_FILE}"
shift 4

if ! command -v pkcs11-tool >/dev/null; then
  echo "softhsm.sh: pkcs11-tool not found (apt-get install opensc)" >&2
  exit 1
fi
if [[ ! -f "$module" ]]; then
  echo "softhsm.sh: PKCS#11 module $module not found (apt-get install softhsm2)" >&2
  exit 1
fi
if [[ ! -r "$pin_file" ]]; then
  echo "softhsm.sh: cannot read PIN file $pin_file" >&2
  exit 1
fi

mkdir -p "$dir/tokens"
dir="$(cd "$dir" && pwd)"
chmod 0700 "$dir/tokens"
conf="$dir/softhsm2.conf"
if [[ ! -f "$conf" ]]; then
  cat > "$conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
fi
export SOFTHSM2_CONF="$conf"
if [[ ! -f "$dir/so-pin" ]]; then
  (umask 077 && head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/so-pin")
fi
# One line, without its trailing newline, as the signer reads it (keys/password.h).
SOFTHSM_USER_PIN="$(head -n 1 "$pin_file" | tr -d '\r')"
SOFTHSM_SO_PIN="$(cat "$dir/so-pin")"
export SOFTHSM_USER_PIN SOFTHSM_SO_PIN

p11() { pkcs11-tool --module "$module" "$@"; }

keypair() {  # TYPE LABEL ID
  p11 --token-label "$token" --login --pin env:SOFTHSM_USER_PIN --keypairgen --key-type "$1" \
    --label "$2" --id "$3" --usage-sign >/dev/null
}

case "$action" in
  init)
    # SoftHSM2 always offers one uninitialised token; pkcs11-tool -L numbers slots by index.
    free_index="$(p11 -L 2>/dev/null | awk '/^Slot [0-9]+/ {i=$2} /token state: *uninitialized/ {print i; exit}')"
    if [[ -z "$free_index" ]]; then
      echo "softhsm.sh: no free SoftHSM2 slot in $dir" >&2
      exit 1
    fi
    p11 --slot-index "$free_index" --init-token --label "$token" --so-pin env:SOFTHSM_SO_PIN >/dev/null
    p11 --token-label "$token" --login --login-type so --so-pin env:SOFTHSM_SO_PIN \
      --init-pin --new-pin env:SOFTHSM_USER_PIN >/dev/null
    n=0
    for label in "$@"; do
      n=$((n + 1))
      keypair EC:secp256k1 "$label" "$(printf '%02x' "$n")"
    done
    ;;
  keygen)
    keypair "${1:?KEY_TYPE}" "${2:?KEY_LABEL}" "${3:?ID_HEX}"
    ;;
  list)
    p11 --token-label "$token" --login --pin env:SOFTHSM_USER_PIN --list-objects
    exit 0
    ;;
  *)
    echo "softhsm.sh: unknown action $action" >&2
    exit 2
    ;;
esac
echo "SOFTHSM2_CONF=$conf"
