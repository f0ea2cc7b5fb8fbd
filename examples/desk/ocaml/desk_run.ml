(* The desk as an OCaml program hosting the team's Rust execution engine (direction (c)): a
   supervision tree with the Rust engine (started by its registered name, "execution"), the
   OCaml risk check and the OCaml momentum strategy; the strategy is asked to run and the
   program prints the same result line as desk-host (a) and trading_desk.run (b).

     desk_run.exe [TICKS [SEED]]     (defaults 500 and 7) *)

module M = Mycelium
module C = Strategy.C

let () =
  let arg i default = if Array.length Sys.argv > i then Sys.argv.(i) else default in
  let ticks = int_of_string (arg 1 "500") and seed = Int64.of_string (arg 2 "7") in
  let bus = M.Bus.create ~schema:(module Desk) () in
  let strategy = { Strategy.bus; execution = "execution"; risk = "risk" } in
  let tree =
    M.Supervisor.start bus
      [
        M.Supervisor.rust "execution" ~kind:"execution" ~service:"execution";
        M.Supervisor.actor "risk" Strategy.risk 10_000L;
        M.Supervisor.actor "strategy" ~service:"strategy" Strategy.momentum strategy;
      ]
  in
  (* The risk check takes plain values: reachable by name from OCaml through its handle. *)
  M.Actor_ref.export (M.Supervisor.child tree "risk") "risk" [];
  let summary = M.ask bus "strategy" C.run { ticks; seed } C.summary in
  M.Supervisor.stop tree;
  M.Bus.close bus;
  print_endline (Strategy.result_line summary)
