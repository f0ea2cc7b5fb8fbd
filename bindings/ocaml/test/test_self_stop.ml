(* Stops from inside the actor they stop: Actor_ref.free and Actor_ref.stop of an actor from
   its own handler, Supervisor.stop from a child's handler. None waits for the handler it is
   called from: the handler goes on and answers, the stop comes after it, and once the bus is
   closed no GC root is left. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

(* A handler that runs [quit] on the handle in [self], then answers. *)
let quitter self quit =
  M.Actor.make ~on_start:(fun () -> ())
    [
      M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
          (match !self with Some x -> quit x | None -> ());
          M.reply C.heartbeat { h with sender = "still here" });
    ]

let () =
  (* Without the fix these asks never return: fail instead of hanging. *)
  ignore
    (Thread.create
       (fun () ->
         Thread.delay 120.;
         print_endline "FAIL test_self_stop did not finish: a stop waited for its own handler";
         exit 1)
       ());
  let roots0 = M.live_roots () in
  let bus = M.Bus.create () in
  (* Actor_ref.free of itself, asked by service name. *)
  let self = ref None in
  let a = M.spawn bus (quitter self M.Actor_ref.free) () ~service:"freer" in
  self := Some a;
  let r = M.ask bus "freer" C.heartbeat (hb 1L) C.heartbeat in
  check_eq "the self-freeing handler answers" (fun s -> s) "still here" r.sender;
  ignore
    (expect_error "its handle is freed" M.Invalid_argument (fun () -> M.Actor_ref.is_alive a));
  (* Actor_ref.stop of itself, told through the handle of a bus service. *)
  let self2 = ref None in
  let b = M.spawn bus (quitter self2 M.Actor_ref.stop) () ~service:"stopper" in
  self2 := Some b;
  let r = M.ask bus "stopper" C.heartbeat (hb 2L) C.heartbeat in
  check_eq "the self-stopping handler answers" (fun s -> s) "still here" r.sender;
  (* The free waits for the stop the handler asked for. *)
  M.Actor_ref.free b;
  (* Supervisor.stop from a child's handler. *)
  let tree = ref None in
  let kid =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
            (match !tree with Some s -> M.Supervisor.stop s | None -> ());
            M.reply C.heartbeat { h with sender = "kid" });
      ]
  in
  let sup =
    M.Supervisor.start bus
      [ M.Supervisor.actor ~service:"kid" "kid" kid (); M.Supervisor.actor "other" kid () ]
  in
  tree := Some sup;
  let r = M.ask bus "kid" C.heartbeat (hb 3L) C.heartbeat in
  check_eq "the child's handler answers after stopping its tree" (fun s -> s) "kid" r.sender;
  ignore
    (expect_error "the tree's handle is freed" M.Invalid_argument (fun () ->
         M.Supervisor.restarts sup));
  M.Bus.close bus;
  check_eq "no roots left once the bus is closed" string_of_int roots0 (M.live_roots ());
  finish "test_self_stop"
