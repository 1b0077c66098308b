// Checks signed records with ethers v6 as a wallet or a backend would: verifyMessage(salt + msg)
// for eip191 records, verifyTypedData(domain, types, msg + nonce) for eip712 records (and that
// TypedDataEncoder.hash gives the record's digest), each against the address of the record's
// key. Prints {"checked", "valid", "invalid": [{"id", "reason"}]} and exits 0 when every record
// is valid, 1 when one is not, 2 on bad usage.
// Usage: node tests/verifiers/verify_ethers.mjs RECORDS.ndjson [SCHEME.json]
import { readFileSync } from "node:fs";
import { computeAddress, TypedDataEncoder, verifyMessage, verifyTypedData } from "ethers";

const [recordsPath, schemePath] = process.argv.slice(2);
if (!recordsPath) {
  console.error("usage: node verify_ethers.mjs RECORDS.ndjson [SCHEME.json]");
  process.exit(2);
}
const scheme = schemePath ? JSON.parse(readFileSync(schemePath, "utf8")) : null;

// The salt field's value, as typed_data_scheme.h defines it.
function nonceOf(salt) {
  const type = scheme.types[scheme.primaryType].find((f) => f.name === scheme.saltField).type;
  const hex = salt.replaceAll("-", "");
  if (type === "string") return salt;
  if (type === "bytes16") return "0x" + hex;
  if (type === "bytes32") return "0x" + hex.padStart(64, "0");
  return BigInt("0x" + hex); // uint256, uint128
}

function check(r) {
  const address = computeAddress(r.key);
  if (r.scheme === "eip191") {
    return verifyMessage(r.salt + r.msg, r.sign) === address ? null : "verifyMessage: another address";
  }
  if (r.scheme === "eip712") {
    if (!scheme) return "no scheme file given";
    const value = { ...JSON.parse(r.msg), [scheme.saltField]: nonceOf(r.salt) };
    if (TypedDataEncoder.hash(scheme.domain, scheme.types, value) !== r.digest) {
      return "TypedDataEncoder.hash is not the record's digest";
    }
    return verifyTypedData(scheme.domain, scheme.types, value, r.sign) === address
      ? null
      : "verifyTypedData: another address";
  }
  return `scheme ${r.scheme ?? "raw"} is not checked by ethers`;
}

const invalid = [];
let checked = 0;
for (const line of readFileSync(recordsPath, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const r = JSON.parse(line);
  checked++;
  let reason;
  try {
    reason = check(r);
  } catch (e) {
    reason = `${e.code ?? "error"}: ${e.shortMessage ?? e.message}`;
  }
  if (reason) invalid.push({ id: r.id, reason });
}
console.log(JSON.stringify({ checked, valid: checked - invalid.length, invalid }));
process.exit(invalid.length ? 1 : 0);
