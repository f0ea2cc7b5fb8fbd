(* An OCaml actor of a schema of this project's own (desk.yaml), asked once, from a program
   that uses the installed library; a plain OCaml value too. *)
module M = Mycelium
module C = Desk.Contracts (Mycelium.Contract)

let note : string ref M.Contract.t = M.Contract.plain "note"

let risk =
  M.Actor.make ~on_start:(fun () -> ())
    [
      M.Actor.on C.order (fun () (o : Desk.order) ->
          M.reply C.verdict { order_id = o.id; accepted = o.qty <= 100L; reason = "installed" });
      M.Actor.on note (fun () r -> r := "seen"; M.reply note r);
    ]

let () =
  let bus = M.Bus.create ~schema:(module Desk) () in
  let actor = M.spawn bus risk () ~service:"risk" in
  let o : Desk.order = { id = 42L; symbol = "ABC"; qty = 10L; px = 1.5 } in
  let v = M.ask bus "risk" C.order o C.verdict in
  if not (v.accepted && v.order_id = 42L) then failwith "the verdict is wrong";
  let r = ref "" in
  if M.Actor_ref.ask actor note r note != r || !r <> "seen" then failwith "not by reference";
  M.Actor_ref.free actor;
  M.Bus.close bus;
  print_endline "installed library: order 42 accepted"
