(* A handle freed while another thread is in a call on it: the free is safe (the library's
   object goes only once the last call in flight ends), later calls on the handle raise
   [Error (Invalid_argument, _)], and every root is gone once the calls end. The handler
   blocks on a gate the test opens, so the call is surely in flight when the handle is
   freed. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

(* A gate: the handler says it has entered, then waits until the test opens it. *)
type gate = { m : Mutex.t; c : Condition.t; mutable entered : bool; mutable opened : bool }

let gate () = { m = Mutex.create (); c = Condition.create (); entered = false; opened = false }

let await g f =
  Mutex.lock g.m;
  while not (f g) do Condition.wait g.c g.m done;
  Mutex.unlock g.m

let set g f =
  Mutex.lock g.m;
  f g;
  Condition.broadcast g.c;
  Mutex.unlock g.m

(* Answers after the gate opens; a heartbeat from "boom" fails instead. *)
let blocking g =
  M.Actor.make ~on_start:(fun () -> ())
    [
      M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
          set g (fun g -> g.entered <- true);
          await g (fun g -> g.opened);
          if h.sender = "boom" then M.fail "boom requested" else M.reply C.heartbeat h);
    ]

(* Runs [call] on another thread; frees [handle] with [free] once the handler has entered,
   checks [use] raises on the freed handle, opens the gate and returns what [call] gave. *)
let free_during what g call ~free ~use =
  let result = ref (Error "no result") in
  let t =
    Thread.create
      (fun () ->
        result :=
          match call () with
          | v -> Ok v
          | exception M.Error (k, msg) -> Error (M.error_name k ^ ": " ^ msg))
      ()
  in
  await g (fun g -> g.entered);
  free ();
  free ();
  ignore (expect_error (what ^ ": a call on the freed handle") M.Invalid_argument use);
  set g (fun g -> g.opened <- true);
  Thread.join t;
  !result

let () =
  (* A free that waited for the call it interrupts would never return (the gate opens only
     after it): fail instead of hanging. *)
  ignore
    (Thread.create
       (fun () ->
         Thread.delay 120.;
         print_endline "FAIL test_handles did not finish: a free waited for a call in flight";
         exit 1)
       ());
  let bus = M.Bus.create () in
  let roots0 = M.live_roots () in
  (* A supervisor's child, its handler failing once the gate opens (it is restarted). *)
  let g = gate () in
  let sup = M.Supervisor.start bus [ M.Supervisor.actor "w" (blocking g) () ] in
  let child = M.Supervisor.child sup "w" in
  let r =
    free_during "child" g
      (fun () -> M.Actor_ref.ask child C.heartbeat (hb ~sender:"boom" 1L) C.heartbeat)
      ~free:(fun () -> M.Actor_ref.free child)
      ~use:(fun () -> M.Actor_ref.is_alive child)
  in
  (match r with
  | Error msg -> check "the ask in flight fails as its handler did" (contains msg "boom requested")
  | Ok _ -> check "the ask in flight fails as its handler did" false);
  M.Supervisor.wait_restarts sup ~child:"w" 1;
  M.Supervisor.stop sup;
  (* An actor from spawn: freeing it stops it, once the ask in flight has its answer. *)
  let g = gate () in
  let a = M.spawn bus (blocking g) () in
  let r =
    free_during "spawned" g
      (fun () -> M.Actor_ref.ask a C.heartbeat (hb 7L) C.heartbeat)
      ~free:(fun () -> M.Actor_ref.free a)
      ~use:(fun () -> M.Actor_ref.tell a C.heartbeat (hb 1L))
  in
  (match r with
  | Ok h -> check_eq "the ask in flight is answered" Int64.to_string 7L h.seq
  | Error msg -> check ("the ask in flight is answered: " ^ msg) false);
  check_eq "no roots once the calls ended" string_of_int roots0 (M.live_roots ());
  (* The bus, closed while an ask through it is in flight. *)
  let g = gate () in
  let a = M.spawn bus (blocking g) () ~service:"slow" in
  let r =
    free_during "bus" g
      (fun () -> M.ask bus "slow" C.heartbeat (hb 9L) C.heartbeat)
      ~free:(fun () -> M.Bus.close bus)
      ~use:(fun () -> M.Bus.dead_letters bus)
  in
  (match r with
  | Ok h -> check_eq "the ask through the closed bus is answered" Int64.to_string 9L h.seq
  | Error msg -> check ("the ask through the closed bus is answered: " ^ msg) false);
  M.Actor_ref.free a;
  check_eq "no roots at the end" string_of_int roots0 (M.live_roots ());
  finish "test_handles"
