(* w12: the round trip of a Heartbeat ask sent by Rust (a task on the bus runtime) to an
   OCaml counter actor, and to the built-in Rust counter, in the same run on the same bus.
   Both actors add the seq to a total and answer with a Heartbeat. Prints

     w12 ocaml p50_ns=.. p99_ns=..
     w12 rust p50_ns=.. p99_ns=..
     w12 c-host p50_ns=.. p99_ns=..

   The third line is a baseline: the same ask to an actor whose callbacks are C (an echo),
   hosted like the OCaml one, with no OCaml: what the foreign host costs by itself.

   Usage: dune exec ./bench/bench.exe [-- ASKS]   (default 20000 asks each, after warm-up) *)
module M = Mycelium
module C = M.Contract

let percentile sorted p =
  let n = Array.length sorted in
  sorted.(min (n - 1) (int_of_float (float_of_int n *. p)))

let () =
  let asks = if Array.length Sys.argv > 1 then int_of_string Sys.argv.(1) else 20_000 in
  let bus = M.Bus.create () in
  M.spawn_rust bus ~kind:"counter" ~service:"rust-counter";
  let counter =
    M.Actor.make ~on_start:(fun () -> ref 0L)
      [
        M.Actor.on C.heartbeat (fun total (h : Trading.heartbeat) ->
            total := Int64.add !total h.seq;
            M.reply C.heartbeat { h with seq = !total; sender = "counter" });
      ]
  in
  let ocaml = M.spawn bus counter () ~service:"ocaml-counter" in
  let c_echo = M.spawn_c_echo bus in
  M.Actor_ref.export c_echo "c-echo" [ C.type_id C.heartbeat ];
  let msg : Trading.heartbeat = { ts_ns = 0L; seq = 1L; sender = "bench" } in
  (* Alternate rounds so both see the same machine conditions. *)
  let rounds = 10 in
  let per_round = max 1 (asks / rounds) in
  let collect service =
    ignore (M.measure_asks bus service C.heartbeat msg 1000);
    Array.concat (List.init rounds (fun _ -> M.measure_asks bus service C.heartbeat msg per_round))
  in
  let o = ref [||] and r = ref [||] and c = ref [||] in
  for _ = 1 to 2 do
    o := Array.append !o (collect "ocaml-counter");
    r := Array.append !r (collect "rust-counter");
    c := Array.append !c (collect "c-echo")
  done;
  let report name times =
    Array.sort compare times;
    Printf.printf "w12 %s p50_ns=%d p99_ns=%d\n%!" name (percentile times 0.5) (percentile times 0.99)
  in
  report "ocaml" !o;
  report "rust" !r;
  report "c-host" !c;
  M.Actor_ref.free c_echo;
  M.Actor_ref.free ocaml;
  M.Bus.close bus
