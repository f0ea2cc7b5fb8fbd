/* The callbacks through which the library runs an OCaml actor: the registration of the
   threads they run on, the runtime lock they take, and the GC roots they keep. Shared
   machinery and runtime rules: mycelium_stubs.h. */

#include <signal.h>
#include <stdatomic.h>

#include "mycelium_stubs.h"

/* ---- Runtime lock and thread registration ------------------------------------------- */

static __thread int th_registered = 0;
static pthread_key_t unregister_key;
static pthread_once_t unregister_once = PTHREAD_ONCE_INIT;

/* The alternate signal stack this thread was given at its registration (NULL if it had one
   already). OCaml turns a stack overflow into the exception Stack_overflow from its SIGSEGV
   handler, which runs on the thread's alternate signal stack: the overflowed stack has no
   room for the signal frame. The runtime gives one to the threads it starts (Thread.create)
   but not to those registered with caml_c_thread_register, such as the runtime's pool
   threads: without one, a handler that recursed too deep there killed the process. The
   handler's other checks hold on these threads: the faulting address is below the top of
   stack recorded at registration, and the PC is in OCaml code. */
static __thread void *th_altstack = NULL;

enum { ALTSTACK_MIN = 64 * 1024 };

static void give_altstack(void) {
  stack_t old;
  if (sigaltstack(NULL, &old) != 0 || !(old.ss_flags & SS_DISABLE)) return;
  size_t size = (size_t)SIGSTKSZ > ALTSTACK_MIN ? (size_t)SIGSTKSZ : ALTSTACK_MIN;
  void *sp = malloc(size);
  if (sp == NULL) return; /* no detection on this thread: an overflow stays fatal */
  stack_t st = {.ss_sp = sp, .ss_size = size, .ss_flags = 0};
  if (sigaltstack(&st, NULL) != 0) {
    free(sp);
    return;
  }
  th_altstack = sp;
}

static void unregister_thread(void *unused) {
  (void)unused;
  caml_c_thread_unregister();
  if (th_altstack != NULL) {
    stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    if (sigaltstack(&off, NULL) == 0) free(th_altstack);
    th_altstack = NULL;
  }
}

static void make_unregister_key(void) {
  pthread_key_create(&unregister_key, unregister_thread);
}

/* Taking and giving back the runtime lock for a callback. OCaml 4's lock changes hands only
   when the thread holding it releases it (a blocking call) or yields it, and a thread that
   computes yields only when the runtime's tick thread asks it to, every 50 ms: an actor
   whose handler waited for the lock behind such a thread answered 50 ms late, every time,
   and later still when the yield handed the lock to another waiting thread. So the actor's
   thread asks for the yield itself, as the tick does (the runtime records the preemption
   signal, and the thread holding the lock yields at its next poll point: an allocation or
   a function's entry), then waits; not while another actor's callback holds the lock,
   which gives it back at the end of its batch. Once it has the lock it clears the
   request, which may have found nobody (the lock was free) and would make its own handler
   yield; a request of the tick thread's cleared with it is made again within 50 ms. A
   callback that gives the lock back while another actor's thread still waits asks again,
   for that one: if a computing thread takes the lock first, it yields it at once.
   An OCaml thread's own calls into the library take the lock back the same way
   (myc_stub_take_back), so that an ask beside a computing thread does not wait for the tick
   either; not while an actor's callback holds the lock: the batch would yield mid-way to
   the thread that tells it, which cost a stream of tells half its rate. OCaml 5 hands its
   lock over on its own terms. */
#if OCAML_VERSION_MAJOR < 5
static atomic_int lock_waiters = 0;    /* callbacks waiting in take_runtime */
static atomic_int callback_holds = 0;  /* 1 while a callback holds the lock */
static atomic_int program_waiters = 0; /* OCaml threads waiting in myc_stub_take_back */
#endif

/* Takes the lock, counted in `waiters` while it waits, asking a holder that is not a
   callback to yield it; the request is cleared once the lock is here. */
#if OCAML_VERSION_MAJOR < 5
static void take_asking(atomic_int *waiters) {
  atomic_fetch_add(waiters, 1);
  if (!atomic_load(&callback_holds)) caml_record_signal(SIGVTALRM);
  caml_acquire_runtime_system();
  atomic_fetch_sub(waiters, 1);
  caml_pending_signals[SIGVTALRM] = 0;
}
#endif

static void take_runtime(void) {
#if OCAML_VERSION_MAJOR < 5
  take_asking(&lock_waiters);
  atomic_store(&callback_holds, 1);
#else
  caml_acquire_runtime_system();
#endif
}

void myc_stub_take_back(void) {
#if OCAML_VERSION_MAJOR < 5
  take_asking(&program_waiters);
#else
  caml_acquire_runtime_system();
#endif
}

static void give_runtime(void) {
#if OCAML_VERSION_MAJOR < 5
  atomic_store(&callback_holds, 0);
  if (atomic_load(&lock_waiters) > 0) caml_record_signal(SIGVTALRM);
#endif
  caml_release_runtime_system();
}

/* From the preemption signal's handler (mycelium.ml), after its yield: a callback that
   still waits for the lock, while no other callback holds it, asks again. */
CAMLprim value myc_ml_preempt_again(value unit) {
  (void)unit;
#if OCAML_VERSION_MAJOR < 5
  if (atomic_load(&lock_waiters) + atomic_load(&program_waiters) > 0 &&
      !atomic_load(&callback_holds))
    caml_record_signal(SIGVTALRM);
#endif
  return Val_unit;
}

/* Takes the runtime lock for a callback; returns how to give it back to leave_ocaml. */
static int enter_ocaml(void) {
  switch (myc_stub_th_state) {
    case TH_HOLDING:
      return TH_HOLDING;
    case TH_RELEASED:
      take_runtime();
      myc_stub_th_state = TH_HOLDING;
      return TH_RELEASED;
    default:
      if (!th_registered) {
        caml_c_thread_register();
        give_altstack();
        th_registered = 1;
        pthread_once(&unregister_once, make_unregister_key);
        pthread_setspecific(unregister_key, (void *)1);
      }
      take_runtime();
      myc_stub_th_state = TH_HOLDING;
      return TH_UNKNOWN;
  }
}

static void leave_ocaml(int how) {
  if (how == TH_HOLDING) return;
  myc_stub_th_state = how;
  give_runtime();
}

/* ---- Actor callbacks ------------------------------------------------------------------ */

/* user_data: the actor's definition, an OCaml record { start : unit -> started }.
   state: a cell holding the incarnation, an OCaml record { handle; stop }.
   Both are generational global roots. */
typedef struct {
  value def;
} actor_def;

typedef struct {
  value instance;
} actor_cell;

static atomic_long live_roots = 0;

static value *new_root(value *slot, value v) {
  *slot = v;
  caml_register_generational_global_root(slot);
  atomic_fetch_add(&live_roots, 1);
  return slot;
}

static void drop_root(value *slot) {
  caml_remove_generational_global_root(slot);
  atomic_fetch_sub(&live_roots, 1);
}

static void fail_with(MycCall *call, value msg) {
  /* The message is copied by the library; an embedded NUL just ends it early. */
  myc_call_fail(call, String_val(msg));
}

__thread MycCall *myc_stub_current_call = NULL;
/* The definition of the actor whose callback runs on this thread (with the call above). */
static __thread actor_def *current_def = NULL;

int myc_stub_current_handles(uint16_t type_id) {
  if (current_def == NULL) return 0;
  return Bool_val(caml_callback(Field(current_def->def, 1), Val_int(type_id)));
}

static int32_t start_locked(actor_def *def, void **state, MycCall *call) {
  CAMLparam0();
  CAMLlocal1(res);
  int32_t rc = 0;
  MycCall *outer = myc_stub_current_call;
  actor_def *outer_def = current_def;
  myc_stub_current_call = call;
  current_def = def;
  res = caml_callback_exn(Field(def->def, 0), Val_unit);
  myc_stub_current_call = outer;
  current_def = outer_def;
  if (Is_exception_result(res)) {
    myc_call_fail(call, "an OCaml exception escaped the start wrapper");
    rc = 1;
  } else if (Tag_val(res) == 0) { /* Started instance */
    actor_cell *cell = malloc(sizeof *cell);
    if (cell == NULL) {
      myc_call_fail(call, "out of memory");
      rc = 1;
    } else {
      new_root(&cell->instance, Field(res, 0));
      *state = cell;
    }
  } else { /* Start_failed message */
    fail_with(call, Field(res, 0));
    rc = 1;
  }
  CAMLreturnT(int32_t, rc);
}

static int32_t cb_start(void *user_data, const uint8_t *args, size_t args_len, void **state,
                        MycCall *call) {
  (void)args;
  (void)args_len;
  int how = enter_ocaml();
  int32_t rc = start_locked(user_data, state, call);
  leave_ocaml(how);
  return rc;
}

static int32_t handle_locked(actor_def *def, actor_cell *cell, uint16_t type_id,
                             const uint8_t *body, size_t len, MycCall *call) {
  CAMLparam0();
  CAMLlocal2(msg, res);
  int32_t rc = 0;
  msg = caml_alloc_initialized_string(len, (const char *)body);
  MycCall *outer = myc_stub_current_call;
  actor_def *outer_def = current_def;
  myc_stub_current_call = call;
  current_def = def;
  res = caml_callback2_exn(Field(cell->instance, 0), Val_int(type_id), msg);
  myc_stub_current_call = outer;
  current_def = outer_def;
  if (Is_exception_result(res)) {
    myc_call_fail(call, "an OCaml exception escaped the handler wrapper");
    rc = 1;
  } else if (Is_block(res)) {
    if (Tag_val(res) == 0) { /* Replied (type_id, body) */
      value b = Field(res, 1);
      myc_call_reply(call, (uint16_t)Int_val(Field(res, 0)), (const uint8_t *)String_val(b),
                     caml_string_length(b));
    } else { /* Failed message */
      fail_with(call, Field(res, 0));
      rc = 1;
    }
  } /* else Done */
  CAMLreturnT(int32_t, rc);
}

static int32_t cb_handle(void *user_data, void *state, uint16_t type_id, const uint8_t *body,
                         size_t len, MycCall *call) {
  int how = enter_ocaml();
  int32_t rc = handle_locked(user_data, state, type_id, body, len, call);
  leave_ocaml(how);
  return rc;
}

/* A batch of handler calls under one acquisition of the runtime lock: each cb_handle inside
   finds it held (enter_ocaml returns TH_HOLDING) and leaves it so. */
static void cb_batch(void *user_data, void (*run)(void *batch), void *batch) {
  (void)user_data;
  int how = enter_ocaml();
  run(batch);
  leave_ocaml(how);
}

static void stop_locked(actor_cell *cell, const char *reason) {
  CAMLparam0();
  CAMLlocal1(text);
  text = caml_copy_string(reason ? reason : "");
  /* The wrapper catches exceptions from on_stop; a stray one changes nothing here. */
  (void)caml_callback_exn(Field(cell->instance, 1), text);
  drop_root(&cell->instance);
  CAMLreturn0;
}

static void cb_stop(void *user_data, void *state, const char *reason) {
  (void)user_data;
  if (state == NULL) return;
  int how = enter_ocaml();
  stop_locked(state, reason);
  leave_ocaml(how);
  free(state);
}

static void cb_free_user_data(void *user_data) {
  actor_def *def = user_data;
  int how = enter_ocaml();
  drop_root(&def->def);
  leave_ocaml(how);
  free(def);
}

/* Callbacks for the definition `def` (its root is registered here, dropped by
   free_user_data). Once they are passed to myc_actor_spawn or myc_tree_add_foreign the
   library owns them: a failed call has run free_user_data (on this thread) before it
   returns. */
MycActorCallbacks myc_stub_make_callbacks(value def) {
  actor_def *d = malloc(sizeof *d);
  if (d == NULL) caml_raise_out_of_memory();
  new_root(&d->def, def);
  MycActorCallbacks cb = {
      .user_data = d,
      .start = cb_start,
      .handle = cb_handle,
      .stop = cb_stop,
      .free_user_data = cb_free_user_data,
      .batch = cb_batch,
  };
  return cb;
}

CAMLprim value myc_ml_live_roots(value unit) {
  (void)unit;
  return Val_long(atomic_load(&live_roots));
}
