(* Topics: OCaml publishes to a Rust subscriber; an OCaml actor subscribes to what OCaml (and
   Rust) publish; unsubscribing stops delivery. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let quote ts : Trading.quote =
  { ts_ns = ts; instrument = 7; bid_px = 99.5; bid_qty = 1.; ask_px = 100.5; ask_qty = 2. }

let () =
  let bus = M.Bus.create () in
  M.spawn_rust bus ~kind:"quote_recorder" ~arg:"md.quote.*" ~service:"recorder";
  (* An OCaml actor that keeps the quotes it receives and reports them on a Heartbeat ask. *)
  let seen =
    M.Actor.make ~on_start:(fun () -> ref [])
      [
        M.Actor.on C.quote (fun seen (q : Trading.quote) ->
            seen := q.ts_ns :: !seen;
            M.no_reply);
        M.Actor.on C.heartbeat (fun seen _ ->
            M.reply C.heartbeat (hb ~ts:(match !seen with [] -> 0L | x :: _ -> x) (Int64.of_int (List.length !seen))));
      ]
  in
  let a = M.spawn bus seen () ~service:"ocaml-quotes" in
  let sub = M.subscribe a C.quote "md.quote.*" in
  let delivered = M.publish bus "md.quote.eu" C.quote (quote 1L) in
  check_eq "delivered to the Rust and the OCaml subscriber" string_of_int 2 delivered;
  ignore (M.publish ~key:7L bus "md.quote.us" C.quote (quote 2L));
  check_eq "an unmatched topic reaches nobody" string_of_int 0 (M.publish bus "md.trade.eu" C.quote (quote 3L));
  (* An ask queues behind the publications already delivered to the mailbox. *)
  let r = M.ask bus "ocaml-quotes" C.heartbeat (hb 0L) C.heartbeat in
  check_eq "OCaml subscriber count" Int64.to_string 2L r.seq;
  check_eq "OCaml subscriber last" Int64.to_string 2L r.ts_ns;
  let r = M.ask bus "recorder" C.heartbeat (hb 0L) C.heartbeat in
  check_eq "Rust subscriber count" Int64.to_string 2L r.seq;
  M.unsubscribe sub;
  check_eq "after unsubscribe only Rust" string_of_int 1 (M.publish bus "md.quote.eu" C.quote (quote 4L));
  let r = M.ask bus "ocaml-quotes" C.heartbeat (hb 0L) C.heartbeat in
  check_eq "nothing more for OCaml" Int64.to_string 2L r.seq;
  M.unsubscribe sub;
  ignore (expect_error "bad pattern" M.Invalid_argument (fun () -> M.subscribe a C.quote "md.*.x"));
  M.Actor_ref.free a;
  M.Bus.close bus;
  check_eq "no roots left" string_of_int 0 (M.live_roots ());
  finish "test_topics"
