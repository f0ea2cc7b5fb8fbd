(* A stack overflow in a callback on one of the runtime's threads is a failure like any
   exception (Stack_overflow), not the end of the process: the supervisor restarts a handler
   that recursed too deep, and an on_start that did fails the spawn. Asks by service name
   run the handler on a runtime thread; the handler never runs on this one. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

(* Not a tail call and no allocation: it overflows in OCaml code, whatever the stack size. *)
let rec depth n = if n = 0 then 0 else 1 + depth (n - 1)
let bottomless () = depth max_int

let deep =
  M.Actor.make ~on_start:(fun () -> ())
    [
      M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
          if h.seq = 0L then ignore (bottomless ());
          M.reply C.heartbeat h);
    ]

let () =
  let roots0 = M.live_roots () in
  let bus = M.Bus.create () in
  let sup = M.Supervisor.start bus [ M.Supervisor.actor ~service:"deep" "deep" deep () ] in
  let r = M.ask bus "deep" C.heartbeat (hb 1L) C.heartbeat in
  check_eq "answers before" Int64.to_string 1L r.seq;
  let msg =
    expect_error "a handler that overflows fails the ask" M.Failed (fun () ->
        M.ask bus "deep" C.heartbeat (hb 0L) C.heartbeat)
  in
  check ("the failure names the overflow: " ^ msg) (contains msg "Stack overflow");
  M.Supervisor.wait_restarts ~child:"deep" sup 1;
  let r = M.ask bus "deep" C.heartbeat (hb 2L) C.heartbeat in
  check_eq "answers after its restart" Int64.to_string 2L r.seq;
  (* Again: the thread that overflowed (or another) still detects it. *)
  ignore
    (expect_error "a second overflow fails too" M.Failed (fun () ->
         M.ask bus "deep" C.heartbeat (hb 0L) C.heartbeat));
  M.Supervisor.wait_restarts ~child:"deep" sup 2;
  let r = M.ask bus "deep" C.heartbeat (hb 3L) C.heartbeat in
  check_eq "answers after its second restart" Int64.to_string 3L r.seq;
  M.Supervisor.stop sup;
  (* on_start runs on a runtime thread: an overflow there fails the start. *)
  let sinking = M.Actor.make ~on_start:(fun () -> bottomless ()) [] in
  let msg =
    expect_error "an on_start that overflows" M.Start_failed (fun () -> M.spawn bus sinking ())
  in
  check ("the start failure names the overflow: " ^ msg) (contains msg "Stack overflow");
  M.Bus.close bus;
  check_eq "no roots left" string_of_int roots0 (M.live_roots ());
  finish "test_overflow"
