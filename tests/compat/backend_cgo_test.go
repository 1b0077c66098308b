//go:build cgo

package compat

// secpBackend names the secp256k1 implementation go-ethereum's crypto package
// was built with; with cgo it is the vendored libsecp256k1.
const secpBackend = "libsecp256k1 (cgo)"
