/* The shared machinery of the C stubs that is not inline: each thread's state towards the
   runtime lock, raising errors, closing handles, copies of OCaml values. The runtime rules,
   the inline part of the machinery and where the stubs are: mycelium_stubs.h. */

#include <stdio.h>

#include "mycelium_stubs.h"

/* ---- Runtime lock ----------------------------------------------------------------------- */

__thread int myc_stub_th_state = TH_UNKNOWN;

/* ---- Errors ----------------------------------------------------------------------------- */

/* Raises Mycelium.Raw_error (status, message) with the library's last error. Call with the
   runtime lock held, on the thread that made the failed call. */
void myc_stub_raise_status(MycStatus status) {
  const value *exn = caml_named_value("mycelium.raw_error");
  const char *text = myc_last_error();
  if (exn == NULL) caml_failwith(text ? text : "mycelium: error");
  /* caml_raise_with_args registers its arguments as roots before it allocates. */
  value items[2] = {Val_int((int)status), caml_copy_string(text ? text : "")};
  caml_raise_with_args(*exn, 2, items);
}

void myc_stub_raise_closed(const char *what) {
  const value *exn = caml_named_value("mycelium.raw_error");
  char buf[128];
  snprintf(buf, sizeof buf, "the %s is already closed or freed", what);
  if (exn == NULL) caml_invalid_argument(buf);
  value items[2] = {Val_int((int)MYC_STATUS_INVALID_ARGUMENT), caml_copy_string(buf)};
  caml_raise_with_args(*exn, 2, items);
}

/* ---- Handles -------------------------------------------------------------------------- */

/* Frees the handle with `release` (a second free does nothing). While calls on it are in
   flight (on other threads, or below on this one), the handle is closed at once (new calls
   raise) and the free is left to the last of them. */
void myc_stub_close_handle(value v, free_fn release) {
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

/* ---- Copies of OCaml values ------------------------------------------------------------- */

/* C copies of OCaml strings, made before the lock is released. */
char *myc_stub_dup_string(value s) {
  size_t n = caml_string_length(s);
  char *p = malloc(n + 1);
  if (p == NULL) caml_raise_out_of_memory();
  memcpy(p, String_val(s), n);
  p[n] = '\0';
  return p;
}

char *myc_stub_dup_option(value o) { return Is_block(o) ? myc_stub_dup_string(Field(o, 0)) : NULL; }

uint8_t *myc_stub_dup_bytes(value s, size_t *len) {
  *len = caml_string_length(s);
  uint8_t *p = malloc(*len ? *len : 1);
  if (p == NULL) caml_raise_out_of_memory();
  memcpy(p, String_val(s), *len);
  return p;
}

uint16_t *myc_stub_type_id_array(value ids, size_t *n) {
  *n = Wosize_val(ids);
  uint16_t *out = malloc((*n ? *n : 1) * sizeof *out);
  if (out == NULL) caml_raise_out_of_memory();
  for (size_t i = 0; i < *n; i++) out[i] = (uint16_t)Int_val(Field(ids, i));
  return out;
}

value myc_stub_reply_pair(uint16_t type_id, MycBytes *bytes) {
  CAMLparam0();
  CAMLlocal2(body, pair);
  body = caml_alloc_initialized_string(bytes->len, (const char *)bytes->data);
  myc_bytes_free(bytes);
  pair = caml_alloc_tuple(2);
  Store_field(pair, 0, Val_int(type_id));
  Store_field(pair, 1, body);
  CAMLreturn(pair);
}
