(* An OCaml actor on a bus, asked once, from a program that uses the installed library. *)
module M = Mycelium
module C = Mycelium.Contract

let doubler =
  M.Actor.make ~on_start:(fun () -> ())
    [
      M.Actor.on C.heartbeat (fun () (hb : Trading.heartbeat) ->
          M.reply C.heartbeat { hb with seq = Int64.mul hb.seq 2L });
    ]

let () =
  let bus = M.Bus.create () in
  let actor = M.spawn bus doubler () in
  let hb : Trading.heartbeat = { ts_ns = 0L; seq = 21L; sender = "installed" } in
  let r = M.Actor_ref.ask actor C.heartbeat hb C.heartbeat in
  if r.seq <> 42L then failwith (Printf.sprintf "expected 42, got %Ld" r.seq);
  M.Actor_ref.free actor;
  M.Bus.close bus;
  print_endline "installed library: ask answered 42"
