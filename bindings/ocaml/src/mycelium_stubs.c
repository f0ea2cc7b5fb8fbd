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
     callbacks, before their C cells are freed. live_roots counts them. */

#define CAML_NAME_SPACE
#include <caml/alloc.h>
#include <caml/callback.h>
#include <caml/fail.h>
#include <caml/memory.h>
#include <caml/mlvalues.h>
#include <caml/threads.h>

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mycelium.h"

/* ---- Runtime lock and thread registration ------------------------------------------- */

/* What this thread is to the OCaml runtime, as far as these stubs know. */
enum {
  TH_UNKNOWN = 0,   /* not holding the lock (a Rust thread, registered or not) */
  TH_HOLDING = 1,   /* holds the runtime lock (inside a callback these stubs entered) */
  TH_RELEASED = 2,  /* an OCaml thread waiting in a stub, the lock released */
};

static __thread int th_state = TH_UNKNOWN;
static __thread int th_registered = 0;
static pthread_key_t unregister_key;
static pthread_once_t unregister_once = PTHREAD_ONCE_INIT;
static atomic_long live_roots = 0;

static void unregister_thread(void *unused) {
  (void)unused;
  caml_c_thread_unregister();
}

static void make_unregister_key(void) {
  pthread_key_create(&unregister_key, unregister_thread);
}

/* Takes the runtime lock for a callback; returns how to give it back to leave_ocaml. */
static int enter_ocaml(void) {
  switch (th_state) {
    case TH_HOLDING:
      return TH_HOLDING;
    case TH_RELEASED:
      caml_acquire_runtime_system();
      th_state = TH_HOLDING;
      return TH_RELEASED;
    default:
      if (!th_registered) {
        caml_c_thread_register();
        th_registered = 1;
        pthread_once(&unregister_once, make_unregister_key);
        pthread_setspecific(unregister_key, (void *)1);
      }
      caml_acquire_runtime_system();
      th_state = TH_HOLDING;
      return TH_UNKNOWN;
  }
}

static void leave_ocaml(int how) {
  if (how == TH_HOLDING) return;
  th_state = how;
  caml_release_runtime_system();
}

/* Around a call from OCaml into the library that may wait: the lock is released. */
#define BLOCKING(stmt)                \
  do {                                \
    int prev_ = th_state;             \
    th_state = TH_RELEASED;           \
    caml_release_runtime_system();    \
    stmt;                             \
    caml_acquire_runtime_system();    \
    th_state = prev_;                 \
  } while (0)

/* ---- Errors ----------------------------------------------------------------------------- */

/* Raises Mycelium.Raw_error (status, message) with the library's last error. Call with the
   runtime lock held, on the thread that made the failed call. */
static void raise_status(MycStatus status) {
  const value *exn = caml_named_value("mycelium.raw_error");
  const char *text = myc_last_error();
  if (exn == NULL) caml_failwith(text ? text : "mycelium: error");
  /* caml_raise_with_args registers its arguments as roots before it allocates. */
  value items[2] = {Val_int((int)status), caml_copy_string(text ? text : "")};
  caml_raise_with_args(*exn, 2, items);
}

static void raise_closed(const char *what) {
  const value *exn = caml_named_value("mycelium.raw_error");
  char buf[128];
  snprintf(buf, sizeof buf, "the %s is already closed or freed", what);
  if (exn == NULL) caml_invalid_argument(buf);
  value items[2] = {Val_int((int)MYC_STATUS_INVALID_ARGUMENT), caml_copy_string(buf)};
  caml_raise_with_args(*exn, 2, items);
}

/* Around a call from OCaml into the library that does not wait: the lock is kept (a callback
   it runs on this thread, such as free_user_data, finds it held). */
#define HOLDING(stmt)             \
  do {                            \
    int prev_ = th_state;         \
    th_state = TH_HOLDING;        \
    stmt;                         \
    th_state = prev_;             \
  } while (0)

#define CHECK(call)                                 \
  do {                                              \
    MycStatus st_;                                  \
    BLOCKING(st_ = (call));                         \
    if (st_ != MYC_STATUS_OK) raise_status(st_);    \
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

static value alloc_handle(void *p) {
  value v = caml_alloc_small(3, Abstract_tag);
  Field(v, H_PTR) = (value)p;
  Field(v, H_IN_FLIGHT) = (value)0;
  Field(v, H_DEFERRED) = (value)NULL;
  return v;
}

static int handle_closed(value v) {
  return (void *)Field(v, H_PTR) == NULL || (void *)Field(v, H_DEFERRED) != NULL;
}

/* The pointer of a handle used only while the runtime lock is held. */
static void *handle_ptr(value v, const char *what) {
  if (handle_closed(v)) raise_closed(what);
  return (void *)Field(v, H_PTR);
}

/* Starts a call on the handle: its pointer stays valid until end_call. A stub checks its
   handle with handle_ptr first, so a closed handle raises before anything is copied, and
   takes the pointer again here, right before it releases the lock. */
static void *begin_call(value v, const char *what) {
  if (handle_closed(v)) raise_closed(what);
  Field(v, H_IN_FLIGHT) = (value)((intptr_t)Field(v, H_IN_FLIGHT) + 1);
  return (void *)Field(v, H_PTR);
}

/* Ends a call started by begin_call; the last one to end on a handle freed meanwhile makes
   the deferred free (its status is dropped: the free was asked for by a call that has
   returned). */
static void end_call(value v) {
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

#define ON_HANDLE_CHECK(h, what, p, call)             \
  do {                                                \
    MycStatus st_;                                    \
    ON_HANDLE(h, what, p, st_ = (call));              \
    if (st_ != MYC_STATUS_OK) raise_status(st_);      \
  } while (0)

/* Frees the handle with `release` (a second free does nothing). While calls on it are in
   flight (on other threads, or below on this one), the handle is closed at once (new calls
   raise) and the free is left to the last of them. */
static void close_handle(value v, free_fn release) {
  CAMLparam1(v);
  if (handle_closed(v)) CAMLreturn0;
  if ((intptr_t)Field(v, H_IN_FLIGHT) > 0) {
    Field(v, H_DEFERRED) = (value)release;
    CAMLreturn0;
  }
  void *p = (void *)Field(v, H_PTR);
  Field(v, H_PTR) = (value)NULL;
  CHECK(release(p));
  CAMLreturn0;
}

/* Takes the pointer out of a handle that is consumed (a tree when it starts). */
static void *take_handle(value v, const char *what) {
  if (handle_closed(v)) raise_closed(what);
  void *p = (void *)Field(v, H_PTR);
  Field(v, H_PTR) = (value)NULL;
  return p;
}

static MycStatus free_bus(void *p) { return myc_bus_free(p); }
static MycStatus free_actor(void *p) { return myc_actor_free(p); }
static MycStatus free_subscription(void *p) { return myc_subscription_free(p); }
static MycStatus free_tree(void *p) { return myc_tree_free(p); }
static MycStatus free_supervisor(void *p) { return myc_supervisor_free(p); }
static MycStatus free_node(void *p) { return myc_node_free(p); }

/* C copies of OCaml strings, made before the lock is released. */
static char *dup_string(value s) {
  size_t n = caml_string_length(s);
  char *p = malloc(n + 1);
  if (p == NULL) caml_raise_out_of_memory();
  memcpy(p, String_val(s), n);
  p[n] = '\0';
  return p;
}

static char *dup_option(value o) { return Is_block(o) ? dup_string(Field(o, 0)) : NULL; }

static uint8_t *dup_bytes(value s, size_t *len) {
  *len = caml_string_length(s);
  uint8_t *p = malloc(*len ? *len : 1);
  if (p == NULL) caml_raise_out_of_memory();
  memcpy(p, String_val(s), *len);
  return p;
}

static value reply_pair(uint16_t type_id, MycBytes *bytes) {
  CAMLparam0();
  CAMLlocal2(body, pair);
  body = caml_alloc_initialized_string(bytes->len, (const char *)bytes->data);
  myc_bytes_free(bytes);
  pair = caml_alloc_tuple(2);
  Store_field(pair, 0, Val_int(type_id));
  Store_field(pair, 1, body);
  CAMLreturn(pair);
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

static int32_t start_locked(actor_def *def, void **state, MycCall *call) {
  CAMLparam0();
  CAMLlocal1(res);
  int32_t rc = 0;
  res = caml_callback_exn(Field(def->def, 0), Val_unit);
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

static int32_t handle_locked(actor_cell *cell, uint16_t type_id, const uint8_t *body,
                             size_t len, MycCall *call) {
  CAMLparam0();
  CAMLlocal2(msg, res);
  int32_t rc = 0;
  msg = caml_alloc_initialized_string(len, (const char *)body);
  res = caml_callback2_exn(Field(cell->instance, 0), Val_int(type_id), msg);
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
  (void)user_data;
  int how = enter_ocaml();
  int32_t rc = handle_locked(state, type_id, body, len, call);
  leave_ocaml(how);
  return rc;
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
static MycActorCallbacks make_callbacks(value def) {
  actor_def *d = malloc(sizeof *d);
  if (d == NULL) caml_raise_out_of_memory();
  new_root(&d->def, def);
  MycActorCallbacks cb = {
      .user_data = d,
      .start = cb_start,
      .handle = cb_handle,
      .stop = cb_stop,
      .free_user_data = cb_free_user_data,
  };
  return cb;
}

/* ---- Buses ------------------------------------------------------------------------------ */

CAMLprim value myc_ml_bus_new(value virtual_time, value seed) {
  CAMLparam2(virtual_time, seed);
  MycBus *bus = NULL;
  bool v = Bool_val(virtual_time);
  uint64_t s = (uint64_t)Int64_val(seed);
  CHECK(myc_bus_new(v, s, &bus));
  CAMLreturn(alloc_handle(bus));
}

CAMLprim value myc_ml_bus_shutdown(value bus, value timeout_ms) {
  CAMLparam2(bus, timeout_ms);
  MycBus *b = handle_ptr(bus, "bus");
  uint64_t t = (uint64_t)Long_val(timeout_ms);
  ON_HANDLE_CHECK(bus, "bus", b, myc_bus_shutdown(b, t));
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_bus_free(value bus) {
  CAMLparam1(bus);
  close_handle(bus, free_bus);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_bus_now_ns(value bus) {
  CAMLparam1(bus);
  uint64_t now = 0;
  MycBus *b = handle_ptr(bus, "bus");
  ON_HANDLE_CHECK(bus, "bus", b, myc_bus_now_ns(b, &now));
  CAMLreturn(caml_copy_int64((int64_t)now));
}

CAMLprim value myc_ml_bus_dead_letters(value bus) {
  CAMLparam1(bus);
  uint64_t n = 0;
  MycBus *b = handle_ptr(bus, "bus");
  ON_HANDLE_CHECK(bus, "bus", b, myc_bus_dead_letters(b, &n));
  CAMLreturn(Val_long((long)n));
}

CAMLprim value myc_ml_bus_runtime_tasks(value bus) {
  CAMLparam1(bus);
  uint64_t n = 0;
  MycBus *b = handle_ptr(bus, "bus");
  ON_HANDLE_CHECK(bus, "bus", b, myc_bus_runtime_tasks(b, &n));
  CAMLreturn(Val_long((long)n));
}

CAMLprim value myc_ml_tell(value bus, value service, value type_id, value body) {
  CAMLparam4(bus, service, type_id, body);
  MycBus *b = handle_ptr(bus, "bus");
  size_t len;
  char *svc = dup_string(service);
  uint8_t *data = dup_bytes(body, &len);
  MycStatus st;
  ON_HANDLE(bus, "bus", b, st = myc_tell(b, svc, (uint16_t)Int_val(type_id), data, len));
  free(svc);
  free(data);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_ask(value bus, value service, value type_id, value body,
                          value timeout_ms) {
  CAMLparam5(bus, service, type_id, body, timeout_ms);
  MycBus *b = handle_ptr(bus, "bus");
  size_t len;
  char *svc = dup_string(service);
  uint8_t *data = dup_bytes(body, &len);
  uint16_t rt = 0;
  MycBytes reply = {0};
  MycStatus st;
  int64_t t = (int64_t)Long_val(timeout_ms);
  ON_HANDLE(bus, "bus", b,
            st = myc_ask(b, svc, (uint16_t)Int_val(type_id), data, len, t, &rt, &reply));
  free(svc);
  free(data);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(reply_pair(rt, &reply));
}

CAMLprim value myc_ml_publish(value bus, value type_id, value topic, value body, value key) {
  CAMLparam5(bus, type_id, topic, body, key);
  MycBus *b = handle_ptr(bus, "bus");
  size_t len, delivered = 0;
  char *t = dup_string(topic);
  uint8_t *data = dup_bytes(body, &len);
  uint64_t k = 0;
  int has_key = Is_block(key);
  if (has_key) k = (uint64_t)Int64_val(Field(key, 0));
  MycStatus st;
  ON_HANDLE(bus, "bus", b,
            st = myc_publish(b, (uint16_t)Int_val(type_id), t, data, len, has_key ? &k : NULL,
                             &delivered));
  free(t);
  free(data);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_long((long)delivered));
}

CAMLprim value myc_ml_spawn_rust(value bus, value kind, value arg, value service) {
  CAMLparam4(bus, kind, arg, service);
  MycBus *b = handle_ptr(bus, "bus");
  char *k = dup_string(kind), *a = dup_option(arg), *s = dup_string(service);
  MycStatus st;
  ON_HANDLE(bus, "bus", b, st = myc_spawn_rust(b, k, a, s));
  free(k);
  free(a);
  free(s);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

/* The measured round trips as an OCaml int array; frees `times`. */
static value ns_array(uint64_t *times, long count) {
  CAMLparam0();
  CAMLlocal1(out);
  out = caml_alloc(count, 0);
  for (long i = 0; i < count; i++) Store_field(out, i, Val_long((long)times[i]));
  free(times);
  CAMLreturn(out);
}

CAMLprim value myc_ml_measure_asks(value bus, value service, value type_id, value body,
                                   value n) {
  CAMLparam5(bus, service, type_id, body, n);
  CAMLlocal1(out);
  MycBus *b = handle_ptr(bus, "bus");
  long count = Long_val(n);
  if (count < 0) count = 0;
  size_t len;
  char *svc = dup_string(service);
  uint8_t *data = dup_bytes(body, &len);
  uint64_t *times = calloc(count ? count : 1, sizeof *times);
  if (times == NULL) caml_raise_out_of_memory();
  MycStatus st;
  ON_HANDLE(bus, "bus", b,
            st = myc_measure_asks(b, svc, (uint16_t)Int_val(type_id), data, len,
                                  (size_t)count, times));
  free(svc);
  free(data);
  if (st != MYC_STATUS_OK) {
    free(times);
    raise_status(st);
  }
  out = ns_array(times, count);
  CAMLreturn(out);
}

CAMLprim value myc_ml_measure_actor_asks(value actor, value type_id, value body, value n) {
  CAMLparam4(actor, type_id, body, n);
  CAMLlocal2(out, pair);
  MycActor *a = handle_ptr(actor, "actor");
  long count = Long_val(n);
  if (count < 0) count = 0;
  size_t len;
  uint8_t *data = dup_bytes(body, &len);
  uint64_t *times = calloc(count ? count : 1, sizeof *times);
  if (times == NULL) {
    free(data);
    caml_raise_out_of_memory();
  }
  size_t direct = 0;
  MycStatus st;
  /* The lock is released: an idle actor's handler takes it back on this very thread. */
  ON_HANDLE(actor, "actor", a,
            st = myc_measure_actor_asks(a, (uint16_t)Int_val(type_id), data, len,
                                        (size_t)count, times, &direct));
  free(data);
  if (st != MYC_STATUS_OK) {
    free(times);
    raise_status(st);
  }
  out = ns_array(times, count);
  pair = caml_alloc_tuple(2);
  Store_field(pair, 0, out);
  Store_field(pair, 1, Val_long((long)direct));
  CAMLreturn(pair);
}

CAMLprim value myc_ml_live_roots(value unit) {
  (void)unit;
  return Val_long(atomic_load(&live_roots));
}

/* ---- Actors ----------------------------------------------------------------------------- */

CAMLprim value myc_ml_actor_spawn(value bus, value def, value hibernate) {
  CAMLparam3(bus, def, hibernate);
  MycBus *b = handle_ptr(bus, "bus");
  uint32_t flags = Bool_val(hibernate) ? MYC_SPAWN_HIBERNATE : 0;
  MycActorCallbacks cb = make_callbacks(def);
  MycActor *actor = NULL;
  /* From here the library owns the callbacks: it calls free_user_data even when the start
     fails. */
  ON_HANDLE_CHECK(bus, "bus", b, myc_actor_spawn_with(b, &cb, NULL, 0, flags, &actor));
  CAMLreturn(alloc_handle(actor));
}

static uint16_t *type_id_array(value ids, size_t *n) {
  *n = Wosize_val(ids);
  uint16_t *out = malloc((*n ? *n : 1) * sizeof *out);
  if (out == NULL) caml_raise_out_of_memory();
  for (size_t i = 0; i < *n; i++) out[i] = (uint16_t)Int_val(Field(ids, i));
  return out;
}

CAMLprim value myc_ml_actor_export(value actor, value service, value ids) {
  CAMLparam3(actor, service, ids);
  MycActor *a = handle_ptr(actor, "actor");
  size_t n;
  char *s = dup_string(service);
  uint16_t *t = type_id_array(ids, &n);
  MycStatus st;
  ON_HANDLE(actor, "actor", a, st = myc_actor_export(a, s, t, n));
  free(s);
  free(t);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_tell(value actor, value type_id, value body) {
  CAMLparam3(actor, type_id, body);
  MycActor *a = handle_ptr(actor, "actor");
  size_t len;
  uint8_t *data = dup_bytes(body, &len);
  MycStatus st;
  ON_HANDLE(actor, "actor", a, st = myc_actor_tell(a, (uint16_t)Int_val(type_id), data, len));
  free(data);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_ask(value actor, value type_id, value body, value timeout_ms) {
  CAMLparam4(actor, type_id, body, timeout_ms);
  MycActor *a = handle_ptr(actor, "actor");
  size_t len;
  uint8_t *data = dup_bytes(body, &len);
  uint16_t rt = 0;
  MycBytes reply = {0};
  MycStatus st;
  int64_t t = (int64_t)Long_val(timeout_ms);
  ON_HANDLE(actor, "actor", a,
            st = myc_actor_ask(a, (uint16_t)Int_val(type_id), data, len, t, &rt, &reply));
  free(data);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(reply_pair(rt, &reply));
}

CAMLprim value myc_ml_actor_is_alive(value actor) {
  CAMLparam1(actor);
  MycActor *a = handle_ptr(actor, "actor");
  bool alive = false;
  ON_HANDLE_CHECK(actor, "actor", a, myc_actor_is_alive(a, &alive));
  CAMLreturn(Val_bool(alive));
}

CAMLprim value myc_ml_actor_stop(value actor) {
  CAMLparam1(actor);
  MycActor *a = handle_ptr(actor, "actor");
  ON_HANDLE_CHECK(actor, "actor", a, myc_actor_stop(a));
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_free(value actor) {
  CAMLparam1(actor);
  close_handle(actor, free_actor);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_subscribe(value actor, value type_id, value pattern) {
  CAMLparam3(actor, type_id, pattern);
  MycActor *a = handle_ptr(actor, "actor");
  MycSubscription *sub = NULL;
  char *p = dup_string(pattern);
  MycStatus st;
  ON_HANDLE(actor, "actor", a, st = myc_actor_subscribe(a, (uint16_t)Int_val(type_id), p, &sub));
  free(p);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(alloc_handle(sub));
}

CAMLprim value myc_ml_subscription_free(value sub) {
  CAMLparam1(sub);
  close_handle(sub, free_subscription);
  CAMLreturn(Val_unit);
}

/* ---- Supervision trees ----------------------------------------------------------------- */

CAMLprim value myc_ml_tree_new(value strategy, value max_restarts, value within_ms,
                               value initial_ms, value factor, value cap_ms) {
  CAMLparam5(strategy, max_restarts, within_ms, initial_ms, factor);
  CAMLxparam1(cap_ms);
  MycTree *tree = NULL;
  MycStatus st = myc_tree_new((uint32_t)Int_val(strategy), (uint32_t)Long_val(max_restarts),
                              (uint64_t)Long_val(within_ms), (uint64_t)Long_val(initial_ms),
                              Double_val(factor), (uint64_t)Long_val(cap_ms), &tree);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(alloc_handle(tree));
}

CAMLprim value myc_ml_tree_new_bytecode(value *argv, int argn) {
  (void)argn;
  return myc_ml_tree_new(argv[0], argv[1], argv[2], argv[3], argv[4], argv[5]);
}

CAMLprim value myc_ml_tree_add_foreign(value tree, value name, value def, value service,
                                       value ids, value hibernate) {
  CAMLparam5(tree, name, def, service, ids);
  CAMLxparam1(hibernate);
  MycTree *t = handle_ptr(tree, "tree");
  uint32_t flags = Bool_val(hibernate) ? MYC_SPAWN_HIBERNATE : 0;
  size_t n;
  char *nm = dup_string(name), *svc = dup_option(service);
  uint16_t *types = type_id_array(ids, &n);
  MycActorCallbacks cb = make_callbacks(def);
  MycStatus st;
  /* From here the library owns the callbacks: a failed call has released them (on this
     thread). The call does not wait, so the runtime lock is kept: no other thread can use
     or free the tree meanwhile. */
  HOLDING(st = myc_tree_add_foreign_with(t, nm, &cb, NULL, 0, svc, types, n, flags));
  free(nm);
  free(svc);
  free(types);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_tree_add_foreign_bytecode(value *argv, int argn) {
  (void)argn;
  return myc_ml_tree_add_foreign(argv[0], argv[1], argv[2], argv[3], argv[4], argv[5]);
}

CAMLprim value myc_ml_tree_add_rust(value tree, value name, value kind, value arg,
                                    value service) {
  CAMLparam5(tree, name, kind, arg, service);
  MycTree *t = handle_ptr(tree, "tree");
  char *nm = dup_string(name), *k = dup_string(kind), *a = dup_option(arg),
       *s = dup_option(service);
  MycStatus st = myc_tree_add_rust(t, nm, k, a, s);
  free(nm);
  free(k);
  free(a);
  free(s);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_tree_free(value tree) {
  CAMLparam1(tree);
  close_handle(tree, free_tree);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_tree_start(value bus, value tree) {
  CAMLparam2(bus, tree);
  /* Consumed, even on an error: taken before the bus is checked, and freed (its children's
     callbacks released) when the bus is closed, as myc_tree_start does on its errors. */
  MycTree *t = take_handle(tree, "tree");
  if (handle_closed(bus)) {
    CHECK(myc_tree_free(t));
    raise_closed("bus");
  }
  MycBus *b = handle_ptr(bus, "bus");
  MycSupervisor *sup = NULL;
  ON_HANDLE_CHECK(bus, "bus", b, myc_tree_start(b, t, &sup));
  CAMLreturn(alloc_handle(sup));
}

CAMLprim value myc_ml_supervisor_child(value sup, value name) {
  CAMLparam2(sup, name);
  MycSupervisor *s = handle_ptr(sup, "supervisor");
  MycActor *a = NULL;
  char *nm = dup_string(name);
  MycStatus st;
  ON_HANDLE(sup, "supervisor", s, st = myc_supervisor_child(s, nm, &a));
  free(nm);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(alloc_handle(a));
}

CAMLprim value myc_ml_supervisor_restarts(value sup, value name) {
  CAMLparam2(sup, name);
  MycSupervisor *s = handle_ptr(sup, "supervisor");
  uint64_t n = 0;
  char *nm = dup_option(name);
  MycStatus st;
  ON_HANDLE(sup, "supervisor", s, st = myc_supervisor_restarts(s, nm, &n));
  free(nm);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_long((long)n));
}

CAMLprim value myc_ml_supervisor_wait_restarts(value sup, value name, value n) {
  CAMLparam3(sup, name, n);
  MycSupervisor *s = handle_ptr(sup, "supervisor");
  char *nm = dup_option(name);
  MycStatus st;
  ON_HANDLE(sup, "supervisor", s, st = myc_supervisor_wait_restarts(s, nm, (uint64_t)Long_val(n)));
  free(nm);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_supervisor_free(value sup) {
  CAMLparam1(sup);
  close_handle(sup, free_supervisor);
  CAMLreturn(Val_unit);
}

/* ---- Nodes of a topology --------------------------------------------------------------- */

CAMLprim value myc_ml_node_start(value bus, value path, value name) {
  CAMLparam3(bus, path, name);
  MycBus *b = handle_ptr(bus, "bus");
  MycNode *node = NULL;
  char *p = dup_string(path), *nm = dup_string(name);
  MycStatus st;
  ON_HANDLE(bus, "bus", b, st = myc_node_start(b, p, nm, &node));
  free(p);
  free(nm);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(alloc_handle(node));
}

CAMLprim value myc_ml_node_is_remote(value node, value service) {
  CAMLparam2(node, service);
  MycNode *n = handle_ptr(node, "node");
  bool remote = false;
  char *s = dup_string(service);
  MycStatus st;
  ON_HANDLE(node, "node", n, st = myc_node_is_remote(n, s, &remote));
  free(s);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_bool(remote));
}

CAMLprim value myc_ml_node_tell(value node, value service, value type_id, value body) {
  CAMLparam4(node, service, type_id, body);
  MycNode *n = handle_ptr(node, "node");
  size_t len;
  char *svc = dup_string(service);
  uint8_t *data = dup_bytes(body, &len);
  MycStatus st;
  ON_HANDLE(node, "node", n, st = myc_node_tell(n, svc, (uint16_t)Int_val(type_id), data, len));
  free(svc);
  free(data);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_node_ask(value node, value service, value type_id, value body,
                               value timeout_ms) {
  CAMLparam5(node, service, type_id, body, timeout_ms);
  MycNode *n = handle_ptr(node, "node");
  size_t len;
  char *svc = dup_string(service);
  uint8_t *data = dup_bytes(body, &len);
  uint16_t rt = 0;
  MycBytes reply = {0};
  MycStatus st;
  int64_t t = (int64_t)Long_val(timeout_ms);
  ON_HANDLE(node, "node", n,
            st = myc_node_ask(n, svc, (uint16_t)Int_val(type_id), data, len, t, &rt, &reply));
  free(svc);
  free(data);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(reply_pair(rt, &reply));
}

CAMLprim value myc_ml_node_forward_topic(value node, value type_id) {
  CAMLparam2(node, type_id);
  MycNode *n = handle_ptr(node, "node");
  MycStatus st;
  ON_HANDLE(node, "node", n, st = myc_node_forward_topic(n, (uint16_t)Int_val(type_id)));
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

/* Subscribes to, or withdraws from, `pattern` on the other nodes. */
static value node_interest(value node, value type_id, value pattern,
                           MycStatus (*change)(const MycNode *, uint16_t, const char *)) {
  CAMLparam3(node, type_id, pattern);
  MycNode *n = handle_ptr(node, "node");
  char *p = dup_string(pattern);
  MycStatus st;
  ON_HANDLE(node, "node", n, st = change(n, (uint16_t)Int_val(type_id), p));
  free(p);
  if (st != MYC_STATUS_OK) raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_node_subscribe_remote(value node, value type_id, value pattern) {
  return node_interest(node, type_id, pattern, myc_node_subscribe_remote);
}

CAMLprim value myc_ml_node_unsubscribe_remote(value node, value type_id, value pattern) {
  return node_interest(node, type_id, pattern, myc_node_unsubscribe_remote);
}

CAMLprim value myc_ml_node_free(value node) {
  CAMLparam1(node);
  close_handle(node, free_node);
  CAMLreturn(Val_unit);
}

/* ---- A baseline for benchmarks: an actor whose callbacks are C only ------------------- */

static int32_t echo_start(void *user_data, const uint8_t *args, size_t args_len, void **state,
                          MycCall *call) {
  (void)user_data;
  (void)args;
  (void)args_len;
  (void)call;
  *state = NULL;
  return 0;
}

static int32_t echo_handle(void *user_data, void *state, uint16_t type_id, const uint8_t *body,
                           size_t len, MycCall *call) {
  (void)user_data;
  (void)state;
  myc_call_reply(call, type_id, body, len);
  return 0;
}

CAMLprim value myc_ml_spawn_c_echo(value bus) {
  CAMLparam1(bus);
  MycBus *b = handle_ptr(bus, "bus");
  MycActorCallbacks cb = {
      .user_data = NULL, .start = echo_start, .handle = echo_handle, .stop = NULL,
      .free_user_data = NULL};
  MycActor *actor = NULL;
  ON_HANDLE_CHECK(bus, "bus", b, myc_actor_spawn(b, &cb, NULL, 0, &actor));
  CAMLreturn(alloc_handle(actor));
}
