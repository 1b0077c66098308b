// The signing schemes a process offers: raw and eip191 always, and eip712 with each scheme file
// given (--scheme-file, repeatable; BS_SCHEME_FILES). It turns the text of --scheme into a
// SigningScheme. Loaded once at start; immutable.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "schemes/signing_scheme.h"

namespace signer::schemes {

class SchemeRegistry {
 public:
  SchemeRegistry() = default;
  // Throws SchemeFileError when two schemes have the same name.
  explicit SchemeRegistry(std::vector<std::shared_ptr<const TypedDataScheme>> typed);
  // Reads every file of `files` (scheme_file.h). Throws SchemeFileError.
  static SchemeRegistry load(const std::vector<std::filesystem::path>& files);

  // Resolves "raw" (also ""), "eip191", "eip712:<name>", or "eip712" when exactly one scheme file
  // is loaded. Returns the reason for anything else, fit for a 400 body: an unknown scheme, an
  // unknown name (listing the loaded ones), "eip712" with none or several loaded.
  std::variant<SigningScheme, std::string> resolve(std::string_view text) const;

  // The typed-data scheme called `name`, or nullptr.
  std::shared_ptr<const TypedDataScheme> find(std::string_view name) const;
  const std::vector<std::shared_ptr<const TypedDataScheme>>& typed() const { return typed_; }

 private:
  std::string loaded_names() const;
  std::vector<std::shared_ptr<const TypedDataScheme>> typed_;
};

}  // namespace signer::schemes
