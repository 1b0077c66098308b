// A loaded PKCS#11 module: the shared library of an HSM, a cloud HSM's client or SoftHSM2, opened
// with dlopen and driven through the function list it exports (C_GetFunctionList). The module is
// initialised once, for use from many threads (CKF_OS_LOCKING_OK), and finalised when the last
// key opened through it is gone: keys hold it by shared_ptr.
// PKCS#11 allows one initialisation of a module per process, so a process loads each module file
// once and opens every key of every token of that module through the one Pkcs11Module.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keys/pkcs11_api.h"

namespace signer::keys {

// A slot with an initialised token in it, as find_token() found it.
struct Pkcs11Slot {
  CK_SLOT_ID id = 0;
  std::string token_label;  // without the blank padding of CK_TOKEN_INFO
  CK_FLAGS token_flags = 0;
};

class Pkcs11Module {
 public:
  // Loads the module file `path` (dlopen), takes its function list and initialises it with
  // C_Initialize(CKF_OS_LOCKING_OK).
  // Throws Pkcs11Error(kModule) naming `path` when the file cannot be loaded, exports no
  // C_GetFunctionList, or C_Initialize fails; CKR_CRYPTOKI_ALREADY_INITIALIZED (another
  // Pkcs11Module, or other code of this process, initialised it already) is such a failure.
  static std::shared_ptr<const Pkcs11Module> load(const std::filesystem::path& path);

  // C_Finalize, then dlclose. Every session must be closed by then (keys hold the module).
  ~Pkcs11Module();
  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

  // The module's functions. Valid for the module's lifetime.
  const CK_FUNCTION_LIST& api() const { return *functions_; }
  const std::filesystem::path& path() const { return path_; }

  // Finds the slot whose token has label `token_label` (compared without CK_TOKEN_INFO's blank
  // padding), or the slot `slot_id`; when both are given, both must match. At least one must be.
  // Throws Pkcs11Error(kTokenNotFound) listing the tokens present (label and slot id) when none
  // matches, or when two tokens carry the label (name the slot then); Pkcs11Error(kDevice) when
  // the module cannot list its slots.
  Pkcs11Slot find_token(std::string_view token_label, std::optional<CK_SLOT_ID> slot_id) const;

 private:
  struct LibraryCloser {
    void operator()(void* handle) const;
  };
  Pkcs11Module(std::filesystem::path path, std::unique_ptr<void, LibraryCloser> library,
               CK_FUNCTION_LIST* functions);

  std::filesystem::path path_;
  std::unique_ptr<void, LibraryCloser> library_;  // dlclose'd after C_Finalize
  CK_FUNCTION_LIST* functions_;
};

}  // namespace signer::keys
