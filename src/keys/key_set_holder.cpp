#include "keys/key_set_holder.h"

namespace signer::keys {

KeySetHolder::KeySetHolder(Loader loader)
    : sets_(
          "key set",
          [loader = std::move(loader)](std::uint64_t version) {
            Loaded loaded = loader(version);
            return reload::Reloadable<KeySet>::Loaded{std::move(loaded.set),
                                                      std::move(loaded.files)};
          },
          [](const KeySet& set) { return set.size(); }, /*allow_empty=*/false) {}

std::shared_ptr<const KeySet> KeySetHolder::find_set_with(std::string_view selector) const {
  const auto current = sets_.current();
  if (current->find(selector)) return current;
  // Only a public key or an address names the same key in two sets; an index does not.
  const auto previous = sets_.previous();
  if (previous && selector.size() > 20 && previous->find(selector)) return previous;
  return nullptr;
}

}  // namespace signer::keys
