/* Stubs of the benchmark aids (see "Diagnostics" in mycelium.mli). Shared machinery and
   runtime rules: mycelium_stubs.h. */

#include "mycelium_stubs.h"

/* ---- Measured round trips --------------------------------------------------------------- */

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
  char *svc = myc_stub_dup_string(service);
  uint8_t *data = myc_stub_dup_bytes(body, &len);
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
    myc_stub_raise_status(st);
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
  uint8_t *data = myc_stub_dup_bytes(body, &len);
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
    myc_stub_raise_status(st);
  }
  out = ns_array(times, count);
  pair = caml_alloc_tuple(2);
  Store_field(pair, 0, out);
  Store_field(pair, 1, Val_long((long)direct));
  CAMLreturn(pair);
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
