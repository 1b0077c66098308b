// PKCS#11 sessions of one token, handed to signing threads one at a time.
// A PKCS#11 session runs one operation at a time (C_SignInit then C_Sign), so two threads must
// never sign through the same session at once. The pool gives each caller a session of its own
// for the length of one signature and takes it back afterwards: with T signing threads it holds
// at most T sessions, each used by one thread at a time, and a session is opened only when every
// open one is busy. The login state is the token's, shared by all sessions of the process, so
// new sessions are logged in already (Pkcs11Key logs in once, on a session it keeps open).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "keys/pkcs11_api.h"

namespace signer::keys {

class Pkcs11Module;

// One open session (CKF_SERIAL_SESSION, read-only), closed by the destructor.
class Pkcs11Session {
 public:
  // Opens a session on `slot`. Throws Pkcs11Error(kDevice) naming `what` (for messages, e.g.
  // "token 'signer'") and the CKR_ code when C_OpenSession fails.
  Pkcs11Session(const Pkcs11Module& module, CK_SLOT_ID slot, const std::string& what);
  ~Pkcs11Session();
  Pkcs11Session(const Pkcs11Session&) = delete;
  Pkcs11Session& operator=(const Pkcs11Session&) = delete;

  CK_SESSION_HANDLE handle() const { return handle_; }

 private:
  const Pkcs11Module& module_;
  CK_SESSION_HANDLE handle_ = CK_INVALID_HANDLE;
};

class Pkcs11SessionPool {
 public:
  // A session lent to one caller. Returns it to the pool when destroyed, unless discard()ed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    CK_SESSION_HANDLE handle() const { return session_->handle(); }
    // The session failed and may be in any state: close it instead of lending it again.
    void discard();

   private:
    friend class Pkcs11SessionPool;
    Lease(Pkcs11SessionPool& pool, std::unique_ptr<Pkcs11Session> session)
        : pool_(&pool), session_(std::move(session)) {}
    Pkcs11SessionPool* pool_;
    std::unique_ptr<Pkcs11Session> session_;
  };

  // `module` must outlive the pool. `what` names the token in messages.
  Pkcs11SessionPool(const Pkcs11Module& module, CK_SLOT_ID slot, std::string what);
  // Closes the idle sessions. Every Lease must be gone by then.
  ~Pkcs11SessionPool() = default;
  Pkcs11SessionPool(const Pkcs11SessionPool&) = delete;
  Pkcs11SessionPool& operator=(const Pkcs11SessionPool&) = delete;

  // An idle session, or a new one when all are lent. When the token refuses a new session
  // (CKR_SESSION_COUNT: a hardware HSM's limit) and some are lent, waits for one to come back.
  // Throws Pkcs11Error(kDevice) when no session can be had.
  Lease acquire();

  // Sessions open now, idle or lent (for tests and metrics).
  std::size_t open_sessions() const;

 private:
  void give_back(std::unique_ptr<Pkcs11Session> session);
  void forget(std::unique_ptr<Pkcs11Session> session);

  const Pkcs11Module& module_;
  const CK_SLOT_ID slot_;
  const std::string what_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Pkcs11Session>> idle_;  // guarded by mutex_
  std::size_t open_ = 0;                              // guarded by mutex_
};

}  // namespace signer::keys
