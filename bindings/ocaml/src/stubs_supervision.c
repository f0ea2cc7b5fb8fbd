/* Stubs of supervision trees (Mycelium.Supervisor): a tree being built, then the supervisor
   that runs it. Shared machinery and runtime rules: mycelium_stubs.h. */

#include "mycelium_stubs.h"

/* ---- Supervision trees ----------------------------------------------------------------- */

static MycStatus free_tree(void *p) { return myc_tree_free(p); }
static MycStatus free_supervisor(void *p) { return myc_supervisor_free(p); }

CAMLprim value myc_ml_tree_new(value strategy, value max_restarts, value within_ms,
                               value initial_ms, value factor, value cap_ms) {
  CAMLparam5(strategy, max_restarts, within_ms, initial_ms, factor);
  CAMLxparam1(cap_ms);
  MycTree *tree = NULL;
  MycStatus st = myc_tree_new((uint32_t)Int_val(strategy), (uint32_t)Long_val(max_restarts),
                              (uint64_t)Long_val(within_ms), (uint64_t)Long_val(initial_ms),
                              Double_val(factor), (uint64_t)Long_val(cap_ms), &tree);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
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
  char *nm = myc_stub_dup_string(name), *svc = myc_stub_dup_option(service);
  uint16_t *types = myc_stub_type_id_array(ids, &n);
  MycActorCallbacks cb = myc_stub_make_callbacks(def);
  MycStatus st;
  /* From here the library owns the callbacks: a failed call has released them (on this
     thread). The call does not wait, so the runtime lock is kept: no other thread can use
     or free the tree meanwhile. */
  HOLDING(st = myc_tree_add_foreign_with(t, nm, &cb, NULL, 0, svc, types, n, flags));
  free(nm);
  free(svc);
  free(types);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_tree_add_foreign_bytecode(value *argv, int argn) {
  (void)argn;
  return myc_ml_tree_add_foreign(argv[0], argv[1], argv[2], argv[3], argv[4], argv[5]);
}

CAMLprim value myc_ml_tree_record_child(value tree, value name, value rec, value actor_type) {
  CAMLparam4(tree, name, rec, actor_type);
  MycTree *t = handle_ptr(tree, "tree");
  MycRecorder *r = handle_ptr(rec, "recorder");
  char *nm = myc_stub_dup_string(name), *ty = myc_stub_dup_string(actor_type);
  MycStatus st;
  /* Does not wait: the runtime lock is kept, as for adding a child. */
  HOLDING(st = myc_tree_record_child(t, nm, r, ty));
  free(nm);
  free(ty);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_tree_add_rust(value tree, value name, value kind, value arg,
                                    value service) {
  CAMLparam5(tree, name, kind, arg, service);
  MycTree *t = handle_ptr(tree, "tree");
  char *nm = myc_stub_dup_string(name), *k = myc_stub_dup_string(kind),
       *a = myc_stub_dup_option(arg), *s = myc_stub_dup_option(service);
  MycStatus st = myc_tree_add_rust(t, nm, k, a, s);
  free(nm);
  free(k);
  free(a);
  free(s);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_tree_free(value tree) {
  CAMLparam1(tree);
  myc_stub_close_handle(tree, free_tree);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_tree_start(value bus, value tree) {
  CAMLparam2(bus, tree);
  /* Consumed, even on an error: taken before the bus is checked, and freed (its children's
     callbacks released) when the bus is closed, as myc_tree_start does on its errors. */
  MycTree *t = take_handle(tree, "tree");
  if (handle_closed(bus)) {
    CHECK(myc_tree_free(t));
    myc_stub_raise_closed("bus");
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
  char *nm = myc_stub_dup_string(name);
  MycStatus st;
  ON_HANDLE(sup, "supervisor", s, st = myc_supervisor_child(s, nm, &a));
  free(nm);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(alloc_handle(a));
}

CAMLprim value myc_ml_supervisor_restarts(value sup, value name) {
  CAMLparam2(sup, name);
  MycSupervisor *s = handle_ptr(sup, "supervisor");
  uint64_t n = 0;
  char *nm = myc_stub_dup_option(name);
  MycStatus st;
  ON_HANDLE(sup, "supervisor", s, st = myc_supervisor_restarts(s, nm, &n));
  free(nm);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_long((long)n));
}

CAMLprim value myc_ml_supervisor_wait_restarts(value sup, value name, value n) {
  CAMLparam3(sup, name, n);
  MycSupervisor *s = handle_ptr(sup, "supervisor");
  char *nm = myc_stub_dup_option(name);
  MycStatus st;
  ON_HANDLE(sup, "supervisor", s, st = myc_supervisor_wait_restarts(s, nm, (uint64_t)Long_val(n)));
  free(nm);
  if (st != MYC_STATUS_OK) myc_stub_raise_status(st);
  CAMLreturn(Val_unit);
}

CAMLprim value myc_ml_supervisor_free(value sup) {
  CAMLparam1(sup);
  myc_stub_close_handle(sup, free_supervisor);
  CAMLreturn(Val_unit);
}
