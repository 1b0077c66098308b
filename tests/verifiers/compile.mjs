// Compiles contracts/SignedRecordVerifier.sol with the pinned solc-js and OpenZeppelin Contracts
// (package-lock.json) into one JSON artifact: {"abi", "bytecode"} (creation code, hex).
// Usage: node tests/verifiers/compile.mjs OUT.json
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const solc = require("solc");
const out = process.argv[2];
if (!out) {
  console.error("usage: node compile.mjs OUT.json");
  process.exit(2);
}
const source = "contracts/SignedRecordVerifier.sol";
const input = {
  language: "Solidity",
  sources: { [source]: { content: readFileSync(join(here, source), "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    // Cancun: every opcode solc emits for it runs in go-ethereum's EVM as tests/compat sets it up.
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
// Imports resolve to the pinned packages under node_modules only.
const findImports = (path) => {
  try {
    return { contents: readFileSync(join(here, "node_modules", path), "utf8") };
  } catch (e) {
    return { error: `${path}: ${e.message}` };
  }
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);
const contract = output.contracts[source].SignedRecordVerifier;
writeFileSync(
  out,
  JSON.stringify({ compiler: solc.version(), abi: contract.abi, bytecode: contract.evm.bytecode.object }),
);
console.error(`compiled SignedRecordVerifier with solc ${solc.version()} into ${out}`);
