#include "keys/pkcs11_session_pool.h"

#include "keys/pkcs11_error.h"
#include "keys/pkcs11_module.h"

namespace signer::keys {

Pkcs11Session::Pkcs11Session(const Pkcs11Module& module, CK_SLOT_ID slot, const std::string& what)
    : module_(module) {
  const CK_RV rv = module.api().C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &handle_);
  if (rv != CKR_OK) {
    throw Pkcs11Error(
        Pkcs11ErrorKind::kDevice,
        "cannot open a session on " + what + ": C_OpenSession failed: " + ckr_name(rv), rv);
  }
}

Pkcs11Session::~Pkcs11Session() { module_.api().C_CloseSession(handle_); }

Pkcs11SessionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), session_(std::move(other.session_)) {}

Pkcs11SessionPool::Lease::~Lease() {
  if (session_) pool_->give_back(std::move(session_));
}

void Pkcs11SessionPool::Lease::discard() {
  if (session_) pool_->forget(std::move(session_));
}

Pkcs11SessionPool::Pkcs11SessionPool(const Pkcs11Module& module, CK_SLOT_ID slot, std::string what)
    : module_(module), slot_(slot), what_(std::move(what)) {}

Pkcs11SessionPool::Lease Pkcs11SessionPool::acquire() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (!idle_.empty()) {
      std::unique_ptr<Pkcs11Session> session = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(session));
    }
    ++open_;  // counted before unlocking, so the limit check below sees it
    lock.unlock();
    try {
      return Lease(*this, std::make_unique<Pkcs11Session>(module_, slot_, what_));
    } catch (const Pkcs11Error& e) {
      lock.lock();
      --open_;
      if (e.rv() != CKR_SESSION_COUNT || open_ == 0) throw;
    }
    // The token is at its session limit: wait for a session to come back or to be closed.
    const std::size_t at_limit = open_;
    returned_.wait(lock, [&] { return !idle_.empty() || open_ < at_limit; });
  }
}

std::size_t Pkcs11SessionPool::open_sessions() const {
  std::lock_guard lock(mutex_);
  return open_;
}

void Pkcs11SessionPool::give_back(std::unique_ptr<Pkcs11Session> session) {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(session));
  }
  returned_.notify_one();
}

void Pkcs11SessionPool::forget(std::unique_ptr<Pkcs11Session> session) {
  session.reset();  // C_CloseSession outside the lock
  {
    std::lock_guard lock(mutex_);
    --open_;
  }
  returned_.notify_one();
}

}  // namespace signer::keys
