#include "schemes/scheme_registry.h"

#include "schemes/scheme_file.h"

namespace signer::schemes {

SchemeRegistry::SchemeRegistry(std::vector<std::shared_ptr<const TypedDataScheme>> typed)
    : typed_(std::move(typed)) {
  for (std::size_t i = 0; i < typed_.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (typed_[i]->name() == typed_[j]->name()) {
        throw SchemeFileError("two scheme files are named " + typed_[i]->name());
      }
    }
  }
}

SchemeRegistry SchemeRegistry::load(const std::vector<std::filesystem::path>& files) {
  std::vector<std::shared_ptr<const TypedDataScheme>> typed;
  for (const std::filesystem::path& file : files) typed.push_back(read_scheme_file(file));
  return SchemeRegistry(std::move(typed));
}

std::string SchemeRegistry::loaded_names() const {
  if (typed_.empty()) return "none is loaded (serve --scheme-file)";
  std::string names;
  for (const auto& t : typed_) names += (names.empty() ? "" : ", ") + ("eip712:" + t->name());
  return "loaded: " + names;
}

std::variant<SigningScheme, std::string> SchemeRegistry::resolve(std::string_view text) const {
  if (text.empty() || text == "raw") return SigningScheme::raw();
  if (text == "eip191") return SigningScheme::eip191();
  if (text == "eip712") {
    if (typed_.size() == 1) return SigningScheme::eip712(typed_.front());
    return "scheme eip712 needs a scheme file: name it as eip712:<name>; " + loaded_names();
  }
  if (text.rfind("eip712:", 0) == 0) {
    const std::string_view name = text.substr(7);
    if (auto typed = find(name)) return SigningScheme::eip712(std::move(typed));
    return "no EIP-712 scheme file named " + std::string(name) + "; " + loaded_names();
  }
  return "unknown scheme " + std::string(text.substr(0, 64)) +
         ": raw, eip191, eip712 or eip712:<name>";
}

std::shared_ptr<const TypedDataScheme> SchemeRegistry::find(std::string_view name) const {
  for (const auto& t : typed_) {
    if (t->name() == name) return t;
  }
  return nullptr;
}

}  // namespace signer::schemes
