// The standard PKCS#11 (Cryptoki) C API, from p11-kit's copy of the OASIS header (package
// libp11-kit-dev). Only the header is used: modules are loaded with dlopen (pkcs11_module.h), and
// nothing links against p11-kit. In its default compatibility mode the header gives the standard
// names (CK_FUNCTION_LIST, pValue, ulValueLen) and needs no platform macros from the includer.
#pragma once

#include <p11-kit/pkcs11.h>
