//go:build !cgo

package compat

// secpBackend names the secp256k1 implementation go-ethereum's crypto package
// was built with; without cgo it is decred's pure-Go secp256k1.
const secpBackend = "decred secp256k1 (pure Go, CGO_ENABLED=0)"
