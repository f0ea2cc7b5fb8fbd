(* Asks in both directions with Rust actors: OCaml asks a Rust counter; a Rust relay asks an
   OCaml actor; an OCaml handler asks a Rust actor that asks an OCaml actor back. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let echo =
  M.Actor.make ~on_start:(fun () -> ())
    [ M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) -> M.reply C.heartbeat { h with sender = "echo" }) ]

let () =
  let bus = M.Bus.create () in
  M.spawn_rust bus ~kind:"counter" ~service:"rust-counter";
  (* OCaml -> Rust *)
  let r1 = M.ask bus "rust-counter" C.heartbeat (hb 5L) C.heartbeat in
  let r2 = M.ask bus "rust-counter" C.heartbeat (hb 7L) C.heartbeat in
  check_eq "Rust counter totals" Int64.to_string 12L r2.seq;
  check_eq "Rust counter first" Int64.to_string 5L r1.seq;
  check_eq "Rust counter sender" (fun s -> s) "counter" r2.sender;
  (* Rust -> OCaml: the relay asks the OCaml echo with seq + 1. *)
  let e = M.spawn bus echo () ~service:"echo" in
  M.spawn_rust bus ~kind:"relay" ~arg:"echo" ~service:"relay";
  let r = M.ask bus "relay" C.heartbeat (hb 41L) C.heartbeat in
  check_eq "relay -> OCaml echo seq" Int64.to_string 42L r.seq;
  check_eq "relay -> OCaml echo sender" (fun s -> s) "echo" r.sender;
  (* OCaml handler -> Rust relay -> OCaml echo, all from inside a callback. *)
  let asker =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
            let via = M.ask bus "relay" C.heartbeat h C.heartbeat in
            let total = M.ask bus "rust-counter" C.heartbeat via C.heartbeat in
            M.reply C.heartbeat total);
      ]
  in
  let a = M.spawn bus asker () ~service:"asker" in
  let r = M.ask bus "asker" C.heartbeat (hb 100L) C.heartbeat in
  (* relay gives 101; the counter adds it to 12. *)
  check_eq "OCaml -> Rust -> OCaml -> Rust" Int64.to_string 113L r.seq;
  (* Rust asks measured from Rust (the benchmark's path) reach the OCaml actor. *)
  let times = M.measure_asks bus "echo" C.heartbeat (hb 1L) 50 in
  check_eq "measured asks" string_of_int 50 (Array.length times);
  check "round trips are positive" (Array.for_all (fun t -> t > 0) times);
  ignore (expect_error "measure an unknown service" M.Unknown_service (fun () -> M.measure_asks bus "nobody" C.heartbeat (hb 1L) 3));
  (* A handler that asks its own service would wait behind itself: its inner ask is refused
     at once (with a timeout or without), and the outer ask gets the answer it made of that. *)
  let selfish =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
            match M.ask ~timeout_ms:50 bus "selfish" C.heartbeat h C.heartbeat with
            | r -> M.reply C.heartbeat r
            | exception M.Error (M.Invalid_argument, _) ->
                M.reply C.heartbeat { h with sender = "refused" });
      ]
  in
  let s = M.spawn bus selfish () ~service:"selfish" in
  let r = M.ask bus "selfish" C.heartbeat (hb 1L) C.heartbeat in
  check_eq "inner ask refused" (fun s -> s) "refused" r.sender;
  M.Actor_ref.free s;
  (* A reply of another type than asked for names both. *)
  let msg =
    expect_error "a reply of another type" M.Wrong_type (fun () ->
        M.ask bus "echo" C.heartbeat (hb 1L) C.telemetry)
  in
  check ("the reply's refusal names both types: " ^ msg)
    (contains msg "expected a Telemetry reply" && contains msg "got Heartbeat (type id");
  (* The C-only baseline actor echoes. *)
  let c = M.spawn_c_echo bus in
  M.Actor_ref.export c "c-echo" [ M.Contract.type_id C.heartbeat ];
  let r = M.ask bus "c-echo" C.heartbeat (hb ~sender:"c" 9L) C.heartbeat in
  check_eq "C echo" (fun s -> s) "c" r.sender;
  check_eq "C echo seq" Int64.to_string 9L r.seq;
  M.Actor_ref.free c;
  M.Actor_ref.free a;
  M.Actor_ref.free e;
  M.Bus.close bus;
  check_eq "no roots left" string_of_int 0 (M.live_roots ());
  finish "test_asks"
