(* Hibernating OCaml actors ([~hibernate:true]): no task while their mailbox is empty,
   otherwise the same actors: state kept across naps, a failure that restarts a supervised
   child in place, on_stop when the bus shuts down. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

(* The bus's task count once it is [at_most] or less: an actor that just answered may still
   be on its way back to sleep. Bounded (20 s), reached only when a check fails. *)
let settle bus at_most =
  let deadline = Unix.gettimeofday () +. 20.0 in
  let rec go () =
    let n = M.Bus.runtime_tasks bus in
    if n <= at_most || Unix.gettimeofday () > deadline then n
    else (
      Thread.yield ();
      go ())
  in
  go ()

(* The bus's task count once it is [count]: an actor that has served its first mail moves into
   a task of its own just after. Bounded (20 s), reached only when a check fails. *)
let become bus count =
  let deadline = Unix.gettimeofday () +. 20.0 in
  let rec go () =
    let n = M.Bus.runtime_tasks bus in
    if n = count || Unix.gettimeofday () > deadline then n
    else (
      Thread.yield ();
      go ())
  in
  go ()

let counter ~stops =
  M.Actor.make
    ~on_start:(fun base -> ref base)
    ~on_stop:(fun _ _ -> incr stops)
    [
      M.Actor.on C.heartbeat (fun total (h : Trading.heartbeat) ->
          if h.sender = "boom" then failwith "boom requested";
          total := Int64.add !total h.seq;
          M.reply C.heartbeat (hb !total));
    ]

let () =
  let bus = M.Bus.create () in
  let stops = ref 0 in
  let base = M.Bus.runtime_tasks bus in
  let sleepers = List.init 10 (fun i -> M.spawn ~hibernate:true bus (counter ~stops) (Int64.of_int i)) in
  List.iteri
    (fun i a ->
      let r = M.Actor_ref.ask a C.heartbeat (hb 100L) C.heartbeat in
      check_eq "a sleeper answers" Int64.to_string (Int64.of_int (100 + i)) r.seq)
    sleepers;
  (* The bus's hibernation driver is the one task more. *)
  check_eq "no task per idle hibernating actor" string_of_int (base + 1) (settle bus (base + 1));
  let first = List.hd sleepers in
  M.Actor_ref.tell first C.heartbeat (hb 5L);
  let r = M.Actor_ref.ask first C.heartbeat (hb 1L) C.heartbeat in
  check_eq "state kept across naps" Int64.to_string 106L r.seq;
  let plain = M.spawn bus (counter ~stops) 0L in
  ignore (M.Actor_ref.ask plain C.heartbeat (hb 1L) C.heartbeat);
  (* An ask from this thread runs through the actor's gate: it is no mail, and an actor that
     does not hibernate has no task until its first mail. The first sleeper may still be on
     its way back to sleep. *)
  check_eq "no task before a plain actor's first mail" string_of_int (base + 1)
    (settle bus (base + 1));
  M.Actor_ref.tell plain C.heartbeat (hb 1L);
  (* Answered after the tell, which the ask waits for. *)
  let r = M.Actor_ref.ask plain C.heartbeat (hb 0L) C.heartbeat in
  check_eq "the tell came first" Int64.to_string 2L r.seq;
  check_eq "a plain actor's first mail gives it a task" string_of_int (base + 2)
    (become bus (base + 2));
  (* A hibernating child of a tree restarts in place. *)
  let sup =
    M.Supervisor.start bus ~backoff_initial_ms:1
      [ M.Supervisor.actor "model" (counter ~stops) 1000L ~service:"model" ~hibernate:true ]
  in
  let r = M.ask bus "model" C.heartbeat (hb 5L) C.heartbeat in
  check_eq "the child answers" Int64.to_string 1005L r.seq;
  ignore
    (expect_error "the failing ask" M.Failed (fun () ->
         M.ask bus "model" C.heartbeat (hb ~sender:"boom" 1L) C.heartbeat));
  M.Supervisor.wait_restarts sup ~child:"model" 1;
  let r = M.ask bus "model" C.heartbeat (hb 1L) C.heartbeat in
  check_eq "fresh state after the restart" Int64.to_string 1001L r.seq;
  M.Supervisor.stop sup;
  List.iter M.Actor_ref.free sleepers;
  M.Actor_ref.free plain;
  M.Bus.close bus;
  check_eq "every incarnation's on_stop ran" string_of_int 13 !stops;
  finish "test_hibernation"
