/* C stubs of the Mycelium OCaml binding, over the C ABI in mycelium.h.

   Runtime rules (see mycelium.mli, "Threads and the runtime lock"):
   - OCaml code runs only on threads registered with the OCaml runtime: the program's own
     threads, or the Rust runtime's blocking-pool threads, which register themselves
     (caml_c_thread_register) the first time a callback runs on them and unregister when they
     exit (a pthread key destructor).
   - Every stub that can wait (for a reply, a mailbox, a start, a stop) copies its OCaml
     arguments to C memory and releases the runtime lock while it waits, so the actors'
     callbacks (which take the lock) can run meanwhile.
   - A handle counts the calls in flight on it (see "Handles"): a handle freed by one thread
     while another waits in a call on it is closed at once, and the library's object is
     freed when the last such call ends, never under a call that still uses it.
   - The OCaml values kept across calls (an actor's definition, an incarnation's handlers)
     are generational global roots, removed synchronously by the stop and free_user_data
     callbacks, before their C cells are freed. live_roots counts them.

   Where things are: this internal header (not installed) holds the machinery every stub
   uses, inline where it is on every call; mycelium_stubs.c the rest of it (each thread's
   lock state, raising errors, closing handles, copies). The stubs themselves are in one
   file per kind of object: stubs_bus.c, stubs_actor.c (with subscriptions),
   stubs_callbacks.c (the callbacks that run an OCaml actor, and the registration of the
   threads they run on), stubs_supervision.c, stubs_node.c and stubs_bench.c (the
   benchmark aids). */

#ifndef MYCELIUM_STUBS_H
#define MYCELIUM_STUBS_H

#define CAML_NAME_SPACE
#include <caml/alloc.h>
#include <caml/callback.h>
#include <caml/fail.h>
#include <caml/memory.h>
#include <caml/mlvalues.h>
#include <caml/threads.h>
#include <caml/version.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mycelium.h"

#if OCAML_VERSION_MAJOR < 5
/* From the runtime's caml/signals.h, where they are internal (CAML_INTERNALS): how the
   runtime's tick thread asks the thread that holds the runtime lock to yield it
   (stubs_callbacks.c, take_runtime). Declared outside the hidden block below: they are
   the runtime's. */
CAMLextern void caml_record_signal(int signal_number);
CAMLextern intnat volatile caml_pending_signals[];
#endif

/* What the stub files share stays inside the library: the bytecode runtime's shared object
   exports only the stubs (myc_ml_*). */
#pragma GCC visibility push(hidden)

/* ---- Runtime lock ----------------------------------------------------------------------- */

/* What this thread is to the OCaml runtime, as far as these stubs know. */
enum {
  TH_UNKNOWN = 0,   /* not holding the lock (a Rust thread, registered or not) */
  TH_HOLDING = 1,   /* holds the runtime lock (inside a callback these stubs entered) */
  TH_RELEASED = 2,  /* an OCaml thread waiting in a stub, the lock released */
};

extern __thread int myc_stub_th_state;

/* Takes the runtime lock back after a call that released it, asking a thread that computes
   to yield it (stubs_callbacks.c). */
void myc_stub_take_back(void);

/* Around a call from OCaml into the library that may wait: the lock is released. */
#define BLOCKING(stmt)                \
  do {                                \
    int prev_ = myc_stub_th_state;    \
    myc_stub_th_state = TH_RELEASED;  \
    caml_release_runtime_system();    \
    stmt;                             \
    myc_stub_take_back();             \
    myc_stub_th_state = prev_;        \
  } while (0)

/* ---- Errors ----------------------------------------------------------------------------- */

/* Declared noreturn, as the compiler found them when they were static in one file: callers
   need no code after a raise. */
CAMLnoreturn_start
void myc_stub_raise_status(MycStatus status)
CAMLnoreturn_end;

CAMLnoreturn_start
void myc_stub_raise_closed(const char *what)
CAMLnoreturn_end;

/* Around a call from OCaml into the library that does not wait: the lock is kept (a callback
   it runs on this thread, such as free_user_data, finds it held). */
#define HOLDING(stmt)               \
  do {                              \
    int prev_ = myc_stub_th_state;  \
    myc_stub_th_state = TH_HOLDING; \
    stmt;                           \
    myc_stub_th_state = prev_;      \
  } while (0)

#define CHECK(call)                                       \
  do {                                                    \
    MycStatus st_;                                        \
    BLOCKING(st_ = (call));                               \
    if (st_ != MYC_STATUS_OK) myc_stub_raise_status(st_); \
  } while (0)

/* ---- Handles -------------------------------------------------------------------------- */

/* A handle is an abstract block: the library's pointer (NULL once freed), how many calls on it
   are in flight (a stub that released the runtime lock for a call still uses the pointer),
   and the free deferred to the last of them (NULL unless freed while calls were in flight).
   Every field is read and written with the runtime lock held, so no other lock is needed;
   a stub re-reads the block from its root after taking the lock back, as the GC may have
   moved it. */
typedef MycStatus (*free_fn)(void *);

enum { H_PTR = 0, H_IN_FLIGHT = 1, H_DEFERRED = 2 };

static inline value alloc_handle(void *p) {
  value v = caml_alloc_small(3, Abstract_tag);
  Field(v, H_PTR) = (value)p;
  Field(v, H_IN_FLIGHT) = (value)0;
  Field(v, H_DEFERRED) = (value)NULL;
  return v;
}

static inline int handle_closed(value v) {
  return (void *)Field(v, H_PTR) == NULL || (void *)Field(v, H_DEFERRED) != NULL;
}

/* The pointer of a handle used only while the runtime lock is held. */
static inline void *handle_ptr(value v, const char *what) {
  if (handle_closed(v)) myc_stub_raise_closed(what);
  return (void *)Field(v, H_PTR);
}

/* Starts a call on the handle: its pointer stays valid until end_call. A stub checks its
   handle with handle_ptr first, so a closed handle raises before anything is copied, and
   takes the pointer again here, right before it releases the lock. */
static inline void *begin_call(value v, const char *what) {
  if (handle_closed(v)) myc_stub_raise_closed(what);
  Field(v, H_IN_FLIGHT) = (value)((intptr_t)Field(v, H_IN_FLIGHT) + 1);
  return (void *)Field(v, H_PTR);
}

/* Ends a call started by begin_call; the last one to end on a handle freed meanwhile makes
   the deferred free (its status is dropped: the free was asked for by a call that has
   returned). */
static inline void end_call(value v) {
  intptr_t n = (intptr_t)Field(v, H_IN_FLIGHT) - 1;
  Field(v, H_IN_FLIGHT) = (value)n;
  free_fn deferred = (free_fn)Field(v, H_DEFERRED);
  if (n == 0 && deferred != NULL) {
    void *p = (void *)Field(v, H_PTR);
    Field(v, H_PTR) = (value)NULL;
    Field(v, H_DEFERRED) = (value)NULL;
    MycStatus st;
    BLOCKING(st = deferred(p));
    (void)st;
  }
}

/* A call on the handle `h` (a registered root, such as a CAMLparam) with the runtime lock
   released: `p` is its pointer for the call. */
#define ON_HANDLE(h, what, p, stmt) \
  do {                              \
    p = begin_call(h, what);        \
    BLOCKING(stmt);                 \
    end_call(h);                    \
  } while (0)

#define ON_HANDLE_CHECK(h, what, p, call)                 \
  do {                                                    \
    MycStatus st_;                                        \
    ON_HANDLE(h, what, p, st_ = (call));                  \
    if (st_ != MYC_STATUS_OK) myc_stub_raise_status(st_); \
  } while (0)

void myc_stub_close_handle(value v, free_fn release);

/* Takes the pointer out of a handle that is consumed (a tree when it starts). */
static inline void *take_handle(value v, const char *what) {
  if (handle_closed(v)) myc_stub_raise_closed(what);
  void *p = (void *)Field(v, H_PTR);
  Field(v, H_PTR) = (value)NULL;
  return p;
}

/* ---- Copies of OCaml values ------------------------------------------------------------- */

char *myc_stub_dup_string(value s);
char *myc_stub_dup_option(value o);
uint8_t *myc_stub_dup_bytes(value s, size_t *len);
uint16_t *myc_stub_type_id_array(value ids, size_t *n);
value myc_stub_reply_pair(uint16_t type_id, MycBytes *bytes);

/* ---- Actor callbacks ------------------------------------------------------------------ */

MycActorCallbacks myc_stub_make_callbacks(value def);

/* The call of the actor callback (start or handle) running on this thread, innermost: what
   Mycelium.Actor.send_after sets its timer with. NULL outside callbacks. */
extern __thread MycCall *myc_stub_current_call;

/* Whether the actor whose callback runs on this thread has a handler of contract type
   [type_id] (runtime lock held; only while myc_stub_current_call is set). */
int myc_stub_current_handles(uint16_t type_id);

#pragma GCC visibility pop

#endif /* MYCELIUM_STUBS_H */
