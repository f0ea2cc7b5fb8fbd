(* Many OCaml actors and messages under GC pressure: every handler allocates and forces a
   major collection now and then, the host thread too. The states must survive the
   collections (they are roots), nothing may crash, and every root must be gone at the end. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let actors = 40
let rounds = 50

let () =
  let roots0 = M.live_roots () in
  let bus = M.Bus.create () in
  M.spawn_rust bus ~kind:"counter" ~service:"rust-counter";
  let def =
    M.Actor.make
      ~on_start:(fun id -> (id, ref [], Hashtbl.create 16))
      [
        M.Actor.on C.heartbeat (fun (id, history, table) (h : Trading.heartbeat) ->
            (* Garbage, and values kept in the state across calls. *)
            history := String.make 64 'x' :: !history;
            Hashtbl.replace table (Int64.to_int h.seq) (Array.make 32 h.seq);
            if Int64.rem h.seq 10L = 0L then Gc.full_major ();
            M.reply C.heartbeat (hb ~sender:(Printf.sprintf "a%d" id) (Int64.of_int (List.length !history))));
      ]
  in
  let refs = Array.init actors (fun i -> M.spawn bus def i ~service:(Printf.sprintf "gc-%d" i)) in
  check_eq "roots while running" string_of_int (roots0 + (2 * actors)) (M.live_roots ());
  for round = 1 to rounds do
    Array.iteri
      (fun i _ ->
        let r = M.ask bus (Printf.sprintf "gc-%d" i) C.heartbeat (hb (Int64.of_int round)) C.heartbeat in
        (* Actor 0 also got one tell per earlier round. *)
        let expected = if i = 0 then (2 * round) - 1 else round in
        if r.seq <> Int64.of_int expected || r.sender <> Printf.sprintf "a%d" i then (
          incr failures;
          Printf.printf "FAIL actor %d round %d: seq %Ld sender %s\n%!" i round r.seq r.sender))
      refs;
    (* Tells, answered by nobody, and asks to Rust, between collections on this thread. *)
    M.tell bus "gc-0" C.heartbeat (hb 1L);
    ignore (M.ask bus "rust-counter" C.heartbeat (hb 1L) C.heartbeat);
    if round mod 5 = 0 then Gc.full_major ();
    (* Compaction moves the heap: roots and handles must follow. *)
    if round mod 25 = 0 then Gc.compact ()
  done;
  let r = M.ask bus "rust-counter" C.heartbeat (hb 0L) C.heartbeat in
  check_eq "Rust counter saw every ask" Int64.to_string (Int64.of_int rounds) r.seq;
  (* Churn: actors started and freed under pressure. *)
  for i = 1 to 100 do
    let a = M.spawn bus def (1000 + i) in
    ignore (M.Actor_ref.ask a C.heartbeat (hb 10L) C.heartbeat);
    M.Actor_ref.free a;
    if i mod 20 = 0 then Gc.full_major ()
  done;
  check_eq "churned actors left no roots" string_of_int (roots0 + (2 * actors)) (M.live_roots ());
  Array.iter M.Actor_ref.free refs;
  Gc.full_major ();
  check_eq "no roots left" string_of_int roots0 (M.live_roots ());
  M.Bus.close bus;
  finish "test_gc"
