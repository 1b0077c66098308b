#include "keys/pkcs11_module.h"

#include <dlfcn.h>

#include <vector>

#include "keys/pkcs11_error.h"

namespace signer::keys {
namespace {

std::string trim_padded(const unsigned char* text, std::size_t size) {
  std::string out(reinterpret_cast<const char*>(text), size);
  while (!out.empty() && (out.back() == ' ' || out.back() == '\0')) out.pop_back();
  return out;
}

std::vector<Pkcs11Slot> slots_with_tokens(const CK_FUNCTION_LIST& api,
                                          const std::filesystem::path& path) {
  std::vector<CK_SLOT_ID> ids;
  CK_RV rv = CKR_OK;
  do {  // the slot count may change between the two calls
    CK_ULONG count = 0;
    rv = api.C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) break;
    ids.resize(count);
    rv = api.C_GetSlotList(CK_TRUE, ids.data(), &count);
    if (rv == CKR_OK) ids.resize(count);
  } while (rv == CKR_BUFFER_TOO_SMALL);
  if (rv != CKR_OK) {
    throw Pkcs11Error(Pkcs11ErrorKind::kDevice,
                      path.string() + ": C_GetSlotList failed: " + ckr_name(rv), rv);
  }
  std::vector<Pkcs11Slot> slots;
  for (const CK_SLOT_ID id : ids) {
    CK_TOKEN_INFO info{};
    if (api.C_GetTokenInfo(id, &info) != CKR_OK) continue;  // removed since the listing
    // An uninitialised token (SoftHSM2 always offers one) holds no keys and has no label yet.
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    slots.push_back({id, trim_padded(info.label, sizeof info.label), info.flags});
  }
  return slots;
}

std::string list_tokens(const std::vector<Pkcs11Slot>& slots) {
  if (slots.empty()) return "no token is present";
  std::string out = "tokens present: ";
  for (std::size_t i = 0; i < slots.size(); ++i) {
    out +=
        (i ? ", '" : "'") + slots[i].token_label + "' (slot " + std::to_string(slots[i].id) + ")";
  }
  return out;
}

}  // namespace

void Pkcs11Module::LibraryCloser::operator()(void* handle) const { ::dlclose(handle); }

Pkcs11Module::Pkcs11Module(std::filesystem::path path, std::unique_ptr<void, LibraryCloser> library,
                           CK_FUNCTION_LIST* functions)
    : path_(std::move(path)), library_(std::move(library)), functions_(functions) {}

std::shared_ptr<const Pkcs11Module> Pkcs11Module::load(const std::filesystem::path& path) {
  const std::string name = path.string();
  if (name.empty()) throw Pkcs11Error(Pkcs11ErrorKind::kModule, "PKCS#11 module: no path given");
  // RTLD_LOCAL: the module's symbols (and the crypto library it links) stay out of ours.
  std::unique_ptr<void, LibraryCloser> library(::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!library) {
    const char* why = ::dlerror();
    throw Pkcs11Error(Pkcs11ErrorKind::kModule,
                      "cannot load PKCS#11 module " + name + ": " + (why ? why : "dlopen failed"));
  }
  auto* get_function_list =
      reinterpret_cast<CK_C_GetFunctionList>(::dlsym(library.get(), "C_GetFunctionList"));
  if (get_function_list == nullptr) {
    throw Pkcs11Error(Pkcs11ErrorKind::kModule,
                      name + " is not a PKCS#11 module: it exports no C_GetFunctionList");
  }
  CK_FUNCTION_LIST* functions = nullptr;
  CK_RV rv = get_function_list(&functions);
  if (rv != CKR_OK || functions == nullptr) {
    throw Pkcs11Error(Pkcs11ErrorKind::kModule,
                      name + ": C_GetFunctionList failed: " + ckr_name(rv), rv);
  }
  // The module makes its own locks: sessions are used from many signing threads at once.
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = functions->C_Initialize(&args);
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    throw Pkcs11Error(Pkcs11ErrorKind::kModule,
                      name + " is already initialised in this process (" + ckr_name(rv) +
                          "); load each module once and open all its keys through it",
                      rv);
  }
  if (rv != CKR_OK) {
    throw Pkcs11Error(Pkcs11ErrorKind::kModule, name + ": C_Initialize failed: " + ckr_name(rv),
                      rv);
  }
  return std::shared_ptr<const Pkcs11Module>(new Pkcs11Module(path, std::move(library), functions));
}

Pkcs11Module::~Pkcs11Module() { functions_->C_Finalize(nullptr); }

Pkcs11Slot Pkcs11Module::find_token(std::string_view token_label,
                                    std::optional<CK_SLOT_ID> slot_id) const {
  if (token_label.empty() && !slot_id) {
    throw Pkcs11Error(Pkcs11ErrorKind::kTokenNotFound,
                      path_.string() + ": name the token by label or slot id");
  }
  const std::vector<Pkcs11Slot> slots = slots_with_tokens(*functions_, path_);
  std::vector<Pkcs11Slot> matches;
  for (const Pkcs11Slot& s : slots) {
    if ((!slot_id || s.id == *slot_id) && (token_label.empty() || s.token_label == token_label)) {
      matches.push_back(s);
    }
  }
  std::string wanted;
  if (!token_label.empty()) wanted = "labelled '" + std::string(token_label) + "'";
  if (slot_id) wanted += (wanted.empty() ? "in slot " : " in slot ") + std::to_string(*slot_id);
  if (matches.empty()) {
    throw Pkcs11Error(Pkcs11ErrorKind::kTokenNotFound, "no token " + wanted +
                                                           " in PKCS#11 module " + path_.string() +
                                                           " (" + list_tokens(slots) + ")");
  }
  if (matches.size() > 1) {
    throw Pkcs11Error(Pkcs11ErrorKind::kTokenNotFound, std::to_string(matches.size()) + " tokens " +
                                                           wanted + " in " + path_.string() +
                                                           "; name one by its slot id (" +
                                                           list_tokens(matches) + ")");
  }
  return matches.front();
}

}  // namespace signer::keys
