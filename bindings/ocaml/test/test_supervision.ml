(* Supervision: an OCaml child next to a Rust child. An exception in the OCaml handler is a
   failure like a Rust panic: the ask fails at once, a dead letter, a restart in place that
   re-runs on_start with the same arguments; the Rust sibling is untouched. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let () =
  let bus = M.Bus.create ~virtual_time:true () in
  let starts = ref [] in
  let stops = ref 0 in
  let last_stop = ref "" in
  let fragile =
    M.Actor.make
      ~on_start:(fun base ->
        starts := base :: !starts;
        ref base)
      ~on_stop:(fun _ reason ->
        incr stops;
        last_stop := reason)
      [
        M.Actor.on C.heartbeat (fun total (h : Trading.heartbeat) ->
            if h.sender = "boom" then failwith "boom requested";
            total := Int64.add !total h.seq;
            M.reply C.heartbeat (hb !total));
      ]
  in
  let roots0 = M.live_roots () in
  let sup =
    M.Supervisor.start bus ~backoff_initial_ms:100
      [
        M.Supervisor.actor "fragile" fragile 1000L ~service:"fragile";
        M.Supervisor.rust "counter" ~kind:"counter" ~service:"counter";
      ]
  in
  check_eq "one start" string_of_int 1 (List.length !starts);
  let r = M.ask bus "fragile" C.heartbeat (hb 5L) C.heartbeat in
  check_eq "state before the crash" Int64.to_string 1005L r.seq;
  ignore (M.ask bus "counter" C.heartbeat (hb 3L) C.heartbeat);
  let dead0 = M.Bus.dead_letters bus in
  let t0 = M.Bus.now_ns bus in
  let msg =
    expect_error "the ask fails at once" M.Failed (fun () ->
        M.ask bus "fragile" C.heartbeat (hb ~sender:"boom" 1L) C.heartbeat)
  in
  check "the failure carries the exception" (contains msg "boom requested");
  (* In OCaml's words: an exception raised in a handler, no Rust panic or Rust type. *)
  let ocaml_words text =
    contains text "raised while handling `Heartbeat`: "
    && contains text "OCaml exception: Failure(\"boom requested\")"
    && (not (contains text "panicked"))
    && not (contains text "ForeignCall")
  in
  check ("the asker's error in OCaml's words: " ^ msg) (ocaml_words msg);
  M.Supervisor.wait_restarts sup ~child:"fragile" 1;
  check "a dead letter" (M.Bus.dead_letters bus > dead0);
  check_eq "restarts of fragile" string_of_int 1 (M.Supervisor.restarts sup ~child:"fragile");
  (* A name the tree has no child of is an error, not a count of 0 or a wait without end. *)
  let msg =
    expect_error "restarts of a misspelt child" M.Invalid_argument (fun () ->
        M.Supervisor.restarts sup ~child:"fargile")
  in
  check ("the error names the tree's children: " ^ msg) (contains msg "`fragile`");
  ignore
    (expect_error "waiting for restarts of a misspelt child" M.Invalid_argument (fun () ->
         M.Supervisor.wait_restarts sup ~child:"fargile" 1));
  check "the backoff elapsed in bus time" (Int64.sub (M.Bus.now_ns bus) t0 >= 100_000_000L);
  check "on_start re-ran with the same args" (!starts = [ 1000L; 1000L ]);
  check_eq "the failed incarnation stopped" string_of_int 1 !stops;
  check ("on_stop's reason in OCaml's words: " ^ !last_stop) (ocaml_words !last_stop);
  let r = M.ask bus "fragile" C.heartbeat (hb 1L) C.heartbeat in
  check_eq "fresh state after the restart" Int64.to_string 1001L r.seq;
  let r = M.ask bus "counter" C.heartbeat (hb 4L) C.heartbeat in
  check_eq "the Rust sibling kept its state" Int64.to_string 7L r.seq;
  (* The child's handle stays valid across restarts. *)
  let child = M.Supervisor.child sup "fragile" in
  ignore (expect_error "crash through the handle" M.Failed (fun () ->
      M.Actor_ref.ask child C.heartbeat (hb ~sender:"boom" 1L) C.heartbeat));
  M.Supervisor.wait_restarts sup ~child:"fragile" 2;
  let r = M.Actor_ref.ask child C.heartbeat (hb 2L) C.heartbeat in
  check_eq "the handle reaches the new incarnation" Int64.to_string 1002L r.seq;
  (* Its supervisor would restart it: a child is stopped with its tree, not through its
     handle. *)
  let msg = expect_error "stop a child" M.Invalid_argument (fun () -> M.Actor_ref.stop child) in
  check "the message names the way" (contains msg "Supervisor.stop");
  check "the child still runs" (M.Actor_ref.is_alive child);
  M.Actor_ref.free child;
  ignore (expect_error "unknown child" M.Invalid_argument (fun () -> M.Supervisor.child sup "nobody"));
  M.Supervisor.stop sup;
  check_eq "every incarnation stopped" string_of_int 3 !stops;
  check_eq "no roots once the tree stopped" string_of_int roots0 (M.live_roots ());
  (* A child whose first start fails: the tree does not start, and says which child. *)
  let broken = M.Actor.make ~on_start:(fun () -> failwith "cannot start") [] in
  let msg =
    expect_error "failing first start" M.Start_failed (fun () ->
        M.Supervisor.start bus [ M.Supervisor.rust "c" ~kind:"counter"; M.Supervisor.actor "broken" broken () ])
  in
  check "the message names the child" (contains msg "broken");
  check_eq "no roots after the failed tree" string_of_int roots0 (M.live_roots ());
  (* Duplicate child names are refused before anything starts. *)
  ignore
    (expect_error "duplicate child" M.Invalid_argument (fun () ->
         M.Supervisor.start bus [ M.Supervisor.actor "x" fragile 1L; M.Supervisor.actor "x" fragile 2L ]));
  check_eq "no roots after the refused tree" string_of_int roots0 (M.live_roots ());
  (* A child's service is exported before the tree starts: a later child's on_start reaches
     an earlier child by name. *)
  let reader =
    M.Actor.make
      ~on_start:(fun () ->
        let r = M.ask bus "early" C.heartbeat (hb 41L) C.heartbeat in
        ref r.seq)
      [ M.Actor.on C.heartbeat (fun seen _ -> M.reply C.heartbeat (hb !seen)) ]
  in
  let tree =
    M.Supervisor.start bus
      [
        M.Supervisor.actor "early" fragile 0L ~service:"early";
        M.Supervisor.actor "reader" reader () ~service:"reader";
      ]
  in
  let r = M.ask bus "reader" C.heartbeat (hb 0L) C.heartbeat in
  check_eq "a later child's start reached an earlier one by name" Int64.to_string 41L r.seq;
  M.Supervisor.stop tree;
  (* A child that cannot be exported (its service name is taken): the tree is refused before
     any child starts, and nothing of it is left. *)
  M.spawn_rust bus ~kind:"counter" ~service:"taken";
  let stops0 = !stops in
  let msg =
    expect_error "a taken service" M.Invalid_argument (fun () ->
        M.Supervisor.start bus [ M.Supervisor.actor "late" fragile 1L ~service:"taken" ])
  in
  check "the message names the service" (contains msg "taken");
  check_eq "no child was started" string_of_int stops0 !stops;
  check_eq "no roots after the unwired tree" string_of_int roots0 (M.live_roots ());
  M.Bus.close bus;
  (* A tree started on a closed bus: refused, and its children's definitions released. *)
  let msg =
    expect_error "a tree on a closed bus" M.Invalid_argument (fun () ->
        M.Supervisor.start bus [ M.Supervisor.actor "late" fragile 1L ~service:"late" ])
  in
  check "the message names the bus" (contains msg "bus");
  check_eq "no roots after the tree on a closed bus" string_of_int roots0 (M.live_roots ());
  finish "test_supervision"
