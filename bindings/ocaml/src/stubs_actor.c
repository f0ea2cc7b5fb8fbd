/* Stubs of an actor reference (Mycelium.Actor_ref) and of its topic subscriptions. Shared
   machinery and runtime rules: mycelium_stubs.h. */

#include "mycelium_stubs.h"

#include <caml/custom.h>

/* ---- Actors ----------------------------------------------------------------------------- */

static MycStatus free_actor(void *p) { return myc_actor_free(p); }
static MycStatus free_subscription(void *p) { return myc_subscription_free(p); }

CAMLprim value myc_ml_actor_spawn(value bus, value def, value hibernate) {
  CAMLparam3(bus, def, hibernate);
  MycBus *b = handle_ptr(bus, "bus");
  uint32_t flags = Bool_val(hibernate) ? MYC_SPAWN_HIBERNATE : 0;
  MycActorCallbacks cb = myc_stub_make_callbacks(def);
  MycActor *actor = NULL;
  /* From here the library owns the callbacks: it calls free_user_data even when the start
     fails. */
  ON_HANDLE_CHECK(bus, "bus", b, myc_actor_spawn_with(b, &cb, NULL, 0, flags, &actor));
  CAMLreturn(alloc_handle(actor));
}

static MycStatus free_recorder(void *p) { return myc_recorder_free(p); }

CAMLprim value myc_ml_recorder_open(value path, value node) {
  CAMLparam2(path, node);
  char *p = myc_stub_dup_string(path);
  char *n = myc_stub_dup_string(node);
  MycRecorder *rec = NULL;
  MycStatus st = myc_recorder_open(p, n, &rec);
  free(p);
  free(n);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(alloc_handle(rec));
}

CAMLprim value myc_ml_recorder_open_with_schema(value path, value node, value digest,
                                                 value text) {
  CAMLparam4(path, node, digest, text);
  char *p = myc_stub_dup_string(path);
  char *n = myc_stub_dup_string(node);
  char *d = myc_stub_dup_string(digest);
  char *t = myc_stub_dup_string(text);
  MycRecorder *rec = NULL;
  MycStatus st = myc_recorder_open_with_schema(p, n, d, t, &rec);
  free(p);
  free(n);
  free(d);
  free(t);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(alloc_handle(rec));
}

CAMLprim value myc_ml_recorder_close(value rec) {
  CAMLparam1(rec);
  MycRecorder *r = handle_ptr(rec, "recorder");
  ON_HANDLE_CHECK(rec, "recorder", r, myc_recorder_close(r));
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_recorder_free(value rec) {
  CAMLparam1(rec);
  myc_stub_close_handle(rec, free_recorder);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_spawn_recorded(value bus, value def, value hibernate, value rec,
                                           value name) {
  CAMLparam5(bus, def, hibernate, rec, name);
  MycBus *b = handle_ptr(bus, "bus");
  MycRecorder *r = handle_ptr(rec, "recorder");
  uint32_t flags = Bool_val(hibernate) ? MYC_SPAWN_HIBERNATE : 0;
  char *n = myc_stub_dup_string(name);
  MycActorCallbacks cb = myc_stub_make_callbacks(def);
  MycActor *actor = NULL;
  MycStatus st;
  /* From here the library owns the callbacks: it calls free_user_data even when the start
     fails. */
  ON_HANDLE(bus, "bus", b, st = myc_actor_spawn_recorded(b, &cb, NULL, 0, flags, r, n, &actor));
  free(n);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(alloc_handle(actor));
}

CAMLprim value myc_ml_actor_export(value actor, value service, value ids) {
  CAMLparam3(actor, service, ids);
  MycActor *a = handle_ptr(actor, "actor");
  size_t n;
  char *s = myc_stub_dup_string(service);
  uint16_t *t = myc_stub_type_id_array(ids, &n);
  MycStatus st;
  ON_HANDLE(actor, "actor", a, st = myc_actor_export(a, s, t, n));
  free(s);
  free(t);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_tell(value actor, value type_id, value body) {
  CAMLparam3(actor, type_id, body);
  MycActor *a = handle_ptr(actor, "actor");
  size_t len;
  uint8_t *data = myc_stub_dup_bytes(body, &len);
  MycStatus st;
  ON_HANDLE(actor, "actor", a, st = myc_actor_tell(a, (uint16_t)Int_val(type_id), data, len));
  free(data);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_ask(value actor, value type_id, value body, value timeout_ms) {
  CAMLparam4(actor, type_id, body, timeout_ms);
  MycActor *a = handle_ptr(actor, "actor");
  size_t len;
  uint8_t *data = myc_stub_dup_bytes(body, &len);
  uint16_t rt = 0;
  MycBytes reply = {0};
  MycStatus st;
  int64_t t = (int64_t)Long_val(timeout_ms);
  ON_HANDLE(actor, "actor", a,
            st = myc_actor_ask(a, (uint16_t)Int_val(type_id), data, len, t, &rt, &reply));
  free(data);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(myc_stub_reply_pair(rt, &reply));
}

CAMLprim value myc_ml_actor_is_alive(value actor) {
  CAMLparam1(actor);
  MycActor *a = handle_ptr(actor, "actor");
  bool alive = false;
  ON_HANDLE_CHECK(actor, "actor", a, myc_actor_is_alive(a, &alive));
  CAMLreturn(Val_bool(alive));
}

CAMLprim value myc_ml_actor_number(value actor) {
  CAMLparam1(actor);
  MycActor *a = handle_ptr(actor, "actor");
  uint64_t number = 0;
  ON_HANDLE_CHECK(actor, "actor", a, myc_actor_number(a, &number));
  CAMLreturn(Val_long((intnat)number));
}

CAMLprim value myc_ml_actor_stop(value actor) {
  CAMLparam1(actor);
  MycActor *a = handle_ptr(actor, "actor");
  ON_HANDLE_CHECK(actor, "actor", a, myc_actor_stop(a));
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_drain_and_stop(value actor) {
  CAMLparam1(actor);
  MycActor *a = handle_ptr(actor, "actor");
  ON_HANDLE_CHECK(actor, "actor", a, myc_actor_drain_and_stop(a));
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_free(value actor) {
  CAMLparam1(actor);
  myc_stub_close_handle(actor, free_actor);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_actor_subscribe(value actor, value type_id, value pattern, value typed) {
  CAMLparam4(actor, type_id, pattern, typed);
  MycActor *a = handle_ptr(actor, "actor");
  MycSubscription *sub = NULL;
  char *p = myc_stub_dup_string(pattern);
  MycStatus st;
  uint16_t id = (uint16_t)Int_val(type_id);
  ON_HANDLE(actor, "actor", a,
            st = Bool_val(typed) ? myc_actor_subscribe(a, id, p, &sub)
                                 : myc_actor_subscribe_schema(a, id, p, &sub));
  free(p);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(alloc_handle(sub));
}

CAMLprim value myc_ml_subscription_free(value sub) {
  CAMLparam1(sub);
  myc_stub_close_handle(sub, free_subscription);
  CAMLreturn(Val_unit);
}

/* ---- Timers ----------------------------------------------------------------------------- */

/* A timer is a custom block holding the library's handle, freed (not cancelled) when the
   block is collected: a timer the program drops goes on until it ends. */
static void finalize_timer(value v) {
  MycTimer *t = *(MycTimer **)Data_custom_val(v);
  if (t != NULL) (void)myc_timer_free(t);
}

static struct custom_operations timer_ops = {
    "mycelium.timer",           finalize_timer,           custom_compare_default,
    custom_hash_default,        custom_serialize_default, custom_deserialize_default,
    custom_compare_ext_default, custom_fixed_length_default};

/* Mycelium.Actor.send_after / send_interval: [period_ns] 0 for a one-shot timer. Called
   from an actor's on_start or handler (the call of the callback running on this thread). */
CAMLprim value myc_ml_send_after(value type_id, value body, value delay_ns, value period_ns) {
  CAMLparam4(type_id, body, delay_ns, period_ns);
  CAMLlocal1(v);
  MycCall *call = myc_stub_current_call;
  uint16_t id = (uint16_t)Int_val(type_id);
  uint64_t delay = (uint64_t)Int64_val(delay_ns);
  uint64_t period = (uint64_t)Int64_val(period_ns);
  MycTimer *t = NULL;
  MycStatus st;
  /* It does not wait (the timer's task is spawned), and copies the body. */
  HOLDING(st = period == 0 ? myc_call_send_after(call, id, (const uint8_t *)String_val(body),
                                                 caml_string_length(body), delay, &t)
                           : myc_call_send_interval(call, id, (const uint8_t *)String_val(body),
                                                    caml_string_length(body), period, &t));
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  v = caml_alloc_custom(&timer_ops, sizeof(MycTimer *), 0, 1);
  *(MycTimer **)Data_custom_val(v) = t;
  CAMLreturn(v);
}

CAMLprim value myc_ml_in_actor_callback(value unit) {
  (void)unit;
  return Val_bool(myc_stub_current_call != NULL);
}

CAMLprim value myc_ml_current_handles(value type_id) {
  CAMLparam1(type_id);
  CAMLreturn(Val_bool(myc_stub_current_handles((uint16_t)Int_val(type_id))));
}

CAMLprim value myc_ml_timer_cancel(value timer) {
  CAMLparam1(timer);
  MycTimer *t = *(MycTimer **)Data_custom_val(timer);
  if (t != NULL) (void)myc_timer_cancel(t);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_timer_is_active(value timer) {
  CAMLparam1(timer);
  MycTimer *t = *(MycTimer **)Data_custom_val(timer);
  bool active = false;
  if (t != NULL) (void)myc_timer_is_active(t, &active);
  CAMLreturn(Val_bool(active));
}

/* ---- Replay ----------------------------------------------------------------------------- */

/* Mycelium.Replay.run: replays the recorded actor [actor] of run [run] of the journal in
   [journal] with a fresh actor of [def] on [bus] (a virtual-time bus), and returns the report
   as the record { inputs; differences; text; csv }, each difference { input; seq; time_ns;
   message; recorded; now }. */
CAMLprim value myc_ml_replay_actor(value bus, value def, value journal, value run, value actor,
                                   value name, value compare) {
  CAMLparam5(bus, def, journal, run, actor);
  CAMLxparam2(name, compare);
  CAMLlocal4(result, diffs, cell, d);
  MycBus *b = handle_ptr(bus, "bus");
  char *j = myc_stub_dup_string(journal);
  char *n = myc_stub_dup_string(name);
  uint32_t run_number = (uint32_t)Long_val(run);
  uint64_t number = (uint64_t)Long_val(actor);
  uint32_t mode = Bool_val(compare) ? MYC_REPLAY_COMPARE : MYC_REPLAY_FIRST;
  MycActorCallbacks cb = myc_stub_make_callbacks(def);
  MycReplayReport *rep = NULL;
  MycStatus st;
  /* From here the library owns the callbacks, as for a spawn. */
  ON_HANDLE(bus, "bus", b, st = myc_replay_actor(b, &cb, NULL, 0, j, run_number, number, n, mode, &rep));
  free(j);
  free(n);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  uint64_t inputs = 0;
  size_t count = 0;
  const char *text = "";
  const char *csv = "";
  if (myc_replay_report_counts(rep, &inputs, &count) != MYC_STATUS_OK ||
      myc_replay_report_string(rep, true, &text) != MYC_STATUS_OK ||
      myc_replay_report_string(rep, false, &csv) != MYC_STATUS_OK) {
    count = 0;
  }
  diffs = Val_emptylist;
  for (size_t i = count; i > 0; i--) {
    MycDifference df;
    if (myc_replay_report_difference(rep, i - 1, &df) != MYC_STATUS_OK) continue;
    d = caml_alloc_tuple(6);
    Store_field(d, 0, Val_long(df.input));
    Store_field(d, 1, Val_long(df.seq));
    Store_field(d, 2, caml_copy_int64((int64_t)df.time_ns));
    Store_field(d, 3, caml_copy_string(df.message));
    Store_field(d, 4, caml_copy_string(df.recorded));
    Store_field(d, 5, caml_copy_string(df.now));
    cell = caml_alloc(2, 0);
    Store_field(cell, 0, d);
    Store_field(cell, 1, diffs);
    diffs = cell;
  }
  result = caml_alloc_tuple(4);
  Store_field(result, 0, Val_long(inputs));
  Store_field(result, 1, diffs);
  Store_field(result, 2, caml_copy_string(text));
  Store_field(result, 3, caml_copy_string(csv));
  myc_replay_report_free(rep);
  CAMLreturn(result);
}

CAMLprim value myc_ml_replay_actor_bytecode(value *argv, int argn) {
  (void)argn;
  return myc_ml_replay_actor(argv[0], argv[1], argv[2], argv[3], argv[4], argv[5], argv[6]);
}
