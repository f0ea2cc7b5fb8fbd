/* Stubs of Mycelium.Bus and of what goes through a bus by service name or topic (tell, ask,
   publish, Rust actors). Shared machinery and runtime rules: mycelium_stubs.h. */

#include "mycelium_stubs.h"

/* ---- Buses ------------------------------------------------------------------------------ */

static MycStatus free_bus(void *p) { return myc_bus_free(p); }

/* Defined only by a team's actor library (mycelium_ffi::actor_library!), linked instead of
   libmycelium_ffi.a: weak, so a program on the plain library links without it. The team's
   dune library makes the linker take it from the archive (-Wl,-u,myc_library_init). */
extern MycStatus myc_library_init(void) __attribute__((weak));

CAMLprim value myc_ml_bus_new(value virtual_time, value seed) {
  CAMLparam2(virtual_time, seed);
  MycBus *bus = NULL;
  bool v = Bool_val(virtual_time);
  uint64_t s = (uint64_t)Int64_val(seed);
  if (myc_library_init != NULL) CHECK(myc_library_init());
  /* What OCaml code sends from outside its actors is journaled as OCaml's. */
  CHECK(myc_set_host_language(2));
  CHECK(myc_bus_new(v, s, &bus));
  CAMLreturn(alloc_handle(bus));
}

CAMLprim value myc_ml_bus_set_schema(value bus, value package, value digest) {
  CAMLparam3(bus, package, digest);
  MycBus *b = handle_ptr(bus, "bus");
  char *p = myc_stub_dup_string(package), *d = myc_stub_dup_string(digest);
  MycStatus st;
  ON_HANDLE(bus, "bus", b, st = myc_bus_set_schema(b, p, d));
  free(p);
  free(d);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

/* The registered Rust actor's schema: (package, digest). */
CAMLprim value myc_ml_rust_actor_schema(value kind) {
  CAMLparam1(kind);
  CAMLlocal1(pair);
  const char *package = NULL, *digest = NULL;
  char *k = myc_stub_dup_string(kind);
  MycStatus st = myc_rust_actor_schema(k, &package, &digest);
  free(k);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  pair = caml_alloc_tuple(2);
  Store_field(pair, 0, caml_copy_string(package));
  Store_field(pair, 1, caml_copy_string(digest));
  CAMLreturn(pair);
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
  myc_stub_close_handle(bus, free_bus);
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
  char *svc = myc_stub_dup_string(service);
  uint8_t *data = myc_stub_dup_bytes(body, &len);
  MycStatus st;
  ON_HANDLE(bus, "bus", b, st = myc_tell(b, svc, (uint16_t)Int_val(type_id), data, len));
  free(svc);
  free(data);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_ask(value bus, value service, value type_id, value body,
                          value timeout_ms) {
  CAMLparam5(bus, service, type_id, body, timeout_ms);
  MycBus *b = handle_ptr(bus, "bus");
  size_t len;
  char *svc = myc_stub_dup_string(service);
  uint8_t *data = myc_stub_dup_bytes(body, &len);
  uint16_t rt = 0;
  MycBytes reply = {0};
  MycStatus st;
  int64_t t = (int64_t)Long_val(timeout_ms);
  ON_HANDLE(bus, "bus", b,
            st = myc_ask(b, svc, (uint16_t)Int_val(type_id), data, len, t, &rt, &reply));
  free(svc);
  free(data);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(myc_stub_reply_pair(rt, &reply));
}

/* Publishes through [myc_publish] (the example schema's Rust types) or [myc_publish_schema]
   (a schema without Rust types). */
static value publish(value bus, value type_id, value topic, value body, value key,
                     MycStatus (*pub)(const MycBus *, uint16_t, const char *, const uint8_t *,
                                      size_t, const uint64_t *, size_t *)) {
  CAMLparam5(bus, type_id, topic, body, key);
  MycBus *b = handle_ptr(bus, "bus");
  size_t len, delivered = 0;
  char *t = myc_stub_dup_string(topic);
  uint8_t *data = myc_stub_dup_bytes(body, &len);
  uint64_t k = 0;
  int has_key = Is_block(key);
  if (has_key) k = (uint64_t)Int64_val(Field(key, 0));
  MycStatus st;
  ON_HANDLE(bus, "bus", b,
            st = pub(b, (uint16_t)Int_val(type_id), t, data, len, has_key ? &k : NULL,
                     &delivered));
  free(t);
  free(data);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_long((long)delivered));
}

CAMLprim value myc_ml_publish(value bus, value type_id, value topic, value body, value key) {
  return publish(bus, type_id, topic, body, key, myc_publish);
}

CAMLprim value myc_ml_publish_schema(value bus, value type_id, value topic, value body,
                                     value key) {
  return publish(bus, type_id, topic, body, key, myc_publish_schema);
}

/* Names a contract message for the library's failures and journals. A name the library
   refuses (an empty one) only leaves the message named by its type id. */
CAMLprim value myc_ml_contract_name(value digest, value type_id, value name) {
  CAMLparam3(digest, type_id, name);
  (void)myc_contract_name(String_val(digest), (uint16_t)Int_val(type_id), String_val(name));
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_warn(value message) {
  CAMLparam1(message);
  (void)myc_warn(String_val(message));
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_example_schema_digest(value unit) {
  CAMLparam1(unit);
  CAMLreturn(caml_copy_string(myc_example_schema_digest()));
}

CAMLprim value myc_ml_spawn_rust(value bus, value kind, value arg, value service) {
  CAMLparam4(bus, kind, arg, service);
  MycBus *b = handle_ptr(bus, "bus");
  char *k = myc_stub_dup_string(kind), *a = myc_stub_dup_option(arg),
       *s = myc_stub_dup_string(service);
  MycStatus st;
  ON_HANDLE(bus, "bus", b, st = myc_spawn_rust(b, k, a, s));
  free(k);
  free(a);
  free(s);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}
