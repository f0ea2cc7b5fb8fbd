(* Lifecycle of an OCaml actor: start, tell, ask, stop, free; a failing start; misuse. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let () =
  let bus = M.Bus.create () in
  let events = ref [] in
  let log e = events := e :: !events in
  let counter =
    M.Actor.make
      ~on_start:(fun first ->
        log "start";
        ref first)
      ~on_stop:(fun _ reason -> log ("stop:" ^ reason))
      [
        M.Actor.on C.heartbeat (fun total (h : Trading.heartbeat) ->
            total := Int64.add !total h.seq;
            M.reply C.heartbeat (hb ~sender:"ocaml" !total));
      ]
  in
  check_eq "type ids" (fun l -> String.concat "," (List.map string_of_int l)) [ 900 ]
    (M.Actor.type_ids counter);
  let roots0 = M.live_roots () in
  let a = M.spawn bus counter 10L ~service:"ocaml-counter" in
  check "start ran before spawn returned" (!events = [ "start" ]);
  check "alive" (M.Actor_ref.is_alive a);
  check_eq "two roots while running (definition, state)" string_of_int (roots0 + 2)
    (M.live_roots ());
  M.Actor_ref.tell a C.heartbeat (hb 5L);
  let r = M.Actor_ref.ask a C.heartbeat (hb 1L) C.heartbeat in
  check_eq "ask after tell sees both" Int64.to_string 16L r.seq;
  check_eq "reply sender" (fun s -> s) "ocaml" r.sender;
  let r = M.ask bus "ocaml-counter" C.heartbeat (hb 4L) C.heartbeat in
  check_eq "ask by service name" Int64.to_string 20L r.seq;
  M.tell bus "ocaml-counter" C.heartbeat (hb 1L);
  let r = M.ask bus "ocaml-counter" C.heartbeat (hb 0L) C.heartbeat in
  check_eq "tell by service name" Int64.to_string 21L r.seq;
  (* Errors: a type the actor does not take, an unknown service, a reply of another type. *)
  let q : Trading.quote =
    { ts_ns = 1L; instrument = 1; bid_px = 1.; bid_qty = 1.; ask_px = 2.; ask_qty = 1. }
  in
  ignore (expect_error "wrong message type" M.Wrong_type (fun () -> M.tell bus "ocaml-counter" C.quote q));
  ignore (expect_error "unknown service" M.Unknown_service (fun () -> M.ask bus "nobody" C.heartbeat (hb 1L) C.heartbeat));
  ignore
    (expect_error "reply of another type" M.Wrong_type (fun () ->
         M.ask bus "ocaml-counter" C.heartbeat (hb 1L) C.quote));
  ignore (expect_error "NUL in a name" M.Invalid_argument (fun () -> M.tell bus "a\000b" C.heartbeat (hb 1L)));
  M.Actor_ref.stop a;
  check "stopped" (not (M.Actor_ref.is_alive a));
  check "stop ran once" (List.length (List.filter (fun e -> String.length e > 5 && String.sub e 0 5 = "stop:") !events) = 1);
  ignore (expect_error "tell a stopped actor" M.Stopped (fun () -> M.Actor_ref.tell a C.heartbeat (hb 1L)));
  M.Actor_ref.free a;
  check_eq "no roots once freed" string_of_int roots0 (M.live_roots ());
  ignore (expect_error "use after free" M.Invalid_argument (fun () -> M.Actor_ref.is_alive a));
  M.Actor_ref.free a;
  (* drain_and_stop: everything told before it is handled, then the actor stops; nothing
     goes to the dead letters. *)
  let seen = ref 0L in
  let tally =
    M.Actor.make
      ~on_start:(fun () -> ())
      ~on_stop:(fun () _ -> log (Printf.sprintf "tally stopped at %Ld" !seen))
      [ M.Actor.on C.heartbeat (fun () (_ : Trading.heartbeat) -> seen := Int64.succ !seen; M.no_reply) ]
  in
  let t = M.spawn bus tally () in
  let letters = M.Bus.dead_letters bus in
  for i = 1 to 500 do
    M.Actor_ref.tell t C.heartbeat (hb (Int64.of_int i))
  done;
  M.Actor_ref.drain_and_stop t;
  check "drained, then stopped" (not (M.Actor_ref.is_alive t));
  check_eq "every tell handled before the stop" Int64.to_string 500L !seen;
  check "on_stop saw them all" (List.mem "tally stopped at 500" !events);
  check_eq "no dead letter" string_of_int letters (M.Bus.dead_letters bus);
  M.Actor_ref.drain_and_stop t;
  M.Actor_ref.free t;
  (* A failing start: an exception in on_start. *)
  let broken = M.Actor.make ~on_start:(fun () -> failwith "no config") [] in
  let msg = expect_error "failing start" M.Start_failed (fun () -> M.spawn bus broken ()) in
  check "start failure names the exception" (contains msg "no config");
  check_eq "no roots after a failed start" string_of_int roots0 (M.live_roots ());
  (* An unencodable argument is refused before anything is sent. *)
  let bad_hb : Trading.heartbeat = { ts_ns = 0L; seq = 0L; sender = "\xff" } in
  ignore (expect_error "unencodable message" M.Invalid_argument (fun () -> M.tell bus "ocaml-counter" C.heartbeat bad_hb));
  (* Handlers that fail on purpose, answer nothing, or get a type they have no handler for. *)
  let picky =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
            match h.sender with
            | "fail" -> M.fail "refused on purpose"
            | "silent" -> M.no_reply
            | _ -> M.reply C.heartbeat h);
      ]
  in
  let p = M.spawn bus picky () in
  ignore (expect_error "no reply to an ask" M.Wrong_type (fun () ->
      M.Actor_ref.ask p C.heartbeat (hb ~sender:"silent" 1L) C.heartbeat));
  check "alive after a handler that answered nothing" (M.Actor_ref.is_alive p);
  let msg = expect_error "M.fail" M.Failed (fun () -> M.Actor_ref.ask p C.heartbeat (hb ~sender:"fail" 1L) C.heartbeat) in
  check "M.fail's message" (contains msg "refused on purpose");
  (* An unsupervised actor stops at its first failure, like a Rust one: a new one. *)
  M.Actor_ref.free p;
  let p = M.spawn bus picky () in
  let msg = expect_error "no handler for the type" M.Wrong_type (fun () -> M.Actor_ref.ask p C.quote q C.heartbeat) in
  check "no handler message" (contains msg "no handler for Quote (type id 100)");
  check "refused before it is sent" (M.Actor_ref.is_alive p);
  M.Actor_ref.free p;
  check_eq "no roots after picky" string_of_int roots0 (M.live_roots ());
  (* Arguments refused by the OCaml layer before anything is sent. *)
  ignore (expect_error "type id out of range" M.Invalid_argument (fun () ->
      M.Contract.make ~schema:(module Trading) ~name:"X" ~type_id:70000 ~encode:(fun s -> s) ~decode:(fun s -> s)));
  ignore (expect_error "negative shutdown timeout" M.Invalid_argument (fun () -> M.Bus.shutdown ~timeout_ms:(-1) bus));
  ignore (expect_error "negative measure count" M.Invalid_argument (fun () -> M.measure_asks bus "x" C.heartbeat (hb 1L) (-1)));
  ignore (expect_error "negative backoff" M.Invalid_argument (fun () -> M.Supervisor.start bus ~backoff_initial_ms:(-5) []));
  let p = M.spawn bus picky () in
  ignore (expect_error "export of a bad type id" M.Invalid_argument (fun () -> M.Actor_ref.export p "p" [ -1 ]));
  (* Any schema's type ids may be exported: the actor's own codec reads them. *)
  M.Actor_ref.export p "p" [ 999 ];
  M.Actor_ref.free p;
  ignore (expect_error "unknown Rust kind" M.Invalid_argument (fun () -> M.spawn_rust bus ~kind:"nothing" ~service:"n"));
  check_eq "no roots after the refusals" string_of_int roots0 (M.live_roots ());
  M.Bus.close bus;
  ignore (expect_error "closed bus" M.Invalid_argument (fun () -> M.Bus.now_ns bus));
  (* Closing a bus while its OCaml actor is busy on a Rust thread: the handler finishes and
     the actor's on_stop runs there, so close must not hold the OCaml runtime while it waits
     for the shutdown. *)
  let bus = M.Bus.create () in
  let started = Atomic.make false in
  let stopped = ref "" in
  let slow =
    M.Actor.make
      ~on_start:(fun () -> ())
      ~on_stop:(fun () reason -> stopped := reason)
      [
        M.Actor.on C.heartbeat (fun () (_ : Trading.heartbeat) ->
            Atomic.set started true;
            (* Work that releases the runtime, as blocking calls do. *)
            Unix.sleepf 0.2;
            M.no_reply);
      ]
  in
  let s = M.spawn bus slow () in
  M.Actor_ref.tell s C.heartbeat (hb 1L);
  (* Bounded (20 s), reached only when the check below fails. *)
  let deadline = Unix.gettimeofday () +. 20.0 in
  while (not (Atomic.get started)) && Unix.gettimeofday () < deadline do
    Thread.yield ()
  done;
  check "the handler started" (Atomic.get started);
  M.Bus.close bus;
  check_eq "the busy actor stopped through its on_stop" (fun s -> s) "shut down" !stopped;
  M.Actor_ref.free s;
  (* An exception of on_stop is written to standard error with the runtime's warnings (the
     incarnation ends all the same): stderr goes to a file meanwhile. *)
  let log = Filename.temp_file "mycelium-on-stop" ".log" in
  let saved = Unix.dup Unix.stderr in
  let fd = Unix.openfile log [ Unix.O_WRONLY; Unix.O_TRUNC ] 0o600 in
  Unix.dup2 fd Unix.stderr;
  Unix.close fd;
  let bus = M.Bus.create () in
  let broken =
    M.Actor.make ~on_start:(fun () -> ()) ~on_stop:(fun () _ -> failwith "on_stop broke") []
  in
  let b = M.spawn bus broken () in
  M.Actor_ref.stop b;
  M.Actor_ref.free b;
  M.Bus.close bus;
  Unix.dup2 saved Unix.stderr;
  Unix.close saved;
  let text =
    let ic = open_in_bin log in
    let t = really_input_string ic (in_channel_length ic) in
    close_in ic;
    t
  in
  Sys.remove log;
  let has part =
    let n = String.length part in
    let rec at i = i + n <= String.length text && (String.sub text i n = part || at (i + 1)) in
    at 0
  in
  if Sys.getenv_opt "MYCELIUM_LOG" <> Some "off" then
    check ("on_stop's exception is on stderr: " ^ text)
      (has "on_stop raised (ignored" && has "on_stop broke");
  finish "test_lifecycle"
