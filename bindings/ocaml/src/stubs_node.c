/* Stubs of the nodes of a split deployment (Mycelium.Node). Shared machinery and runtime
   rules: mycelium_stubs.h. */

#include "mycelium_stubs.h"

/* ---- Nodes of a topology --------------------------------------------------------------- */

static MycStatus free_node(void *p) { return myc_node_free(p); }
static MycStatus free_node_now(void *p) { return myc_node_free_now(p); }

CAMLprim value myc_ml_node_start(value bus, value path, value name, value digest) {
  CAMLparam4(bus, path, name, digest);
  MycBus *b = handle_ptr(bus, "bus");
  MycNode *node = NULL;
  char *p = myc_stub_dup_string(path), *nm = myc_stub_dup_string(name);
  char *d = myc_stub_dup_string(digest);
  MycStatus st;
  ON_HANDLE(bus, "bus", b, st = myc_node_start_with_schema(b, p, nm, d, &node));
  free(p);
  free(nm);
  free(d);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(alloc_handle(node));
}

CAMLprim value myc_ml_node_is_remote(value node, value service) {
  CAMLparam2(node, service);
  MycNode *n = handle_ptr(node, "node");
  bool remote = false;
  char *s = myc_stub_dup_string(service);
  MycStatus st;
  ON_HANDLE(node, "node", n, st = myc_node_is_remote(n, s, &remote));
  free(s);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_bool(remote));
}

CAMLprim value myc_ml_node_tell(value node, value service, value type_id, value body) {
  CAMLparam4(node, service, type_id, body);
  MycNode *n = handle_ptr(node, "node");
  size_t len;
  char *svc = myc_stub_dup_string(service);
  uint8_t *data = myc_stub_dup_bytes(body, &len);
  MycStatus st;
  ON_HANDLE(node, "node", n, st = myc_node_tell(n, svc, (uint16_t)Int_val(type_id), data, len));
  free(svc);
  free(data);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_node_ask(value node, value service, value type_id, value body,
                               value timeout_ms) {
  CAMLparam5(node, service, type_id, body, timeout_ms);
  MycNode *n = handle_ptr(node, "node");
  size_t len;
  char *svc = myc_stub_dup_string(service);
  uint8_t *data = myc_stub_dup_bytes(body, &len);
  uint16_t rt = 0;
  MycBytes reply = {0};
  MycStatus st;
  int64_t t = (int64_t)Long_val(timeout_ms);
  ON_HANDLE(node, "node", n,
            st = myc_node_ask(n, svc, (uint16_t)Int_val(type_id), data, len, t, &rt, &reply));
  free(svc);
  free(data);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(myc_stub_reply_pair(rt, &reply));
}

CAMLprim value myc_ml_node_forward_topic(value node, value type_id) {
  CAMLparam2(node, type_id);
  MycNode *n = handle_ptr(node, "node");
  MycStatus st;
  ON_HANDLE(node, "node", n, st = myc_node_forward_topic(n, (uint16_t)Int_val(type_id)));
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

/* Subscribes to, or withdraws from, `pattern` on the other nodes. */
static value node_interest(value node, value type_id, value pattern,
                           MycStatus (*change)(const MycNode *, uint16_t, const char *)) {
  CAMLparam3(node, type_id, pattern);
  MycNode *n = handle_ptr(node, "node");
  char *p = myc_stub_dup_string(pattern);
  MycStatus st;
  ON_HANDLE(node, "node", n, st = change(n, (uint16_t)Int_val(type_id), p));
  free(p);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
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
  myc_stub_close_handle(node, free_node);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_node_free_now(value node) {
  CAMLparam1(node);
  myc_stub_close_handle(node, free_node_now);
  CAMLreturn(Val_unit);
}

/* Subscribes to `pattern` on the other nodes with the overflow policy named `overflow` (""
   for none given: the topology file's, else block) and `capacity` (0: the default). */
CAMLprim value myc_ml_node_subscribe_remote_with(value node, value type_id, value pattern,
                                                 value overflow, value capacity) {
  CAMLparam5(node, type_id, pattern, overflow, capacity);
  MycNode *n = handle_ptr(node, "node");
  char *p = myc_stub_dup_string(pattern);
  char *o = caml_string_length(overflow) == 0 ? NULL : myc_stub_dup_string(overflow);
  uint64_t c = (uint64_t)Long_val(capacity);
  MycStatus st;
  ON_HANDLE(node, "node", n,
            st = myc_node_subscribe_remote_with(n, (uint16_t)Int_val(type_id), p, o, c));
  free(p);
  free(o);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

/* Subscribes `actor` to the gaps `node` is told of: a subscription handle. */
CAMLprim value myc_ml_node_subscribe_gaps(value node, value actor) {
  CAMLparam2(node, actor);
  /* Both checked before either call starts, so neither begin_call below raises. */
  (void)handle_ptr(node, "node");
  (void)handle_ptr(actor, "actor");
  MycNode *n = begin_call(node, "node");
  MycActor *a = begin_call(actor, "actor");
  MycSubscription *sub = NULL;
  MycStatus st;
  BLOCKING(st = myc_node_subscribe_gaps(n, a, &sub));
  end_call(actor);
  end_call(node);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(alloc_handle(sub));
}
