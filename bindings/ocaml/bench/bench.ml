(* w12: the round trip of a Heartbeat ask from Rust to an OCaml counter actor, and to the
   built-in Rust counter, in the same run on the same bus. Both actors add the seq to a
   total and answer with a Heartbeat. Prints

     w12 ocaml p50_ns=.. p99_ns=..        Rust asks the OCaml actor's handle from the
                                          OCaml program's thread (Mycelium.Actor_ref.ask's
                                          path: the handler runs on the asking thread when
                                          the actor is idle)
     w12 ocaml-pool p50_ns=.. p99_ns=..   a Rust task on the bus runtime asks the OCaml
                                          actor by service name, as a Rust actor does (the
                                          idle actor's handler runs on the task's thread,
                                          stepped out of the runtime's workers)
     w12 rust p50_ns=.. p99_ns=..         a Rust task on the bus runtime asks the Rust actor
     w12 c-host p50_ns=.. p99_ns=..       as "ocaml", to an actor whose callbacks are C
     w12 c-host-pool p50_ns=.. p99_ns=..  as "ocaml-pool", to that C actor
     w12 ocaml-pool-busy p50_ns=.. p99_ns=..  as "ocaml-pool", while another OCaml thread
                                          computes (allocating: it yields the runtime lock
                                          when the actor's thread asks for it)
     w12 ocaml-thread-busy p50_ns=.. p99_ns=..  meanwhile, the OCaml program's thread asks
                                          the Rust actor by service name (Mycelium.ask,
                                          timed in OCaml): the runtime lock taken back
                                          from the computing thread after each ask
     w15 ocaml msgs_per_sec=..            a Rust actor (the built-in quote_source) publishes
                                          Quote messages (44-byte body) on a topic; an OCaml
                                          subscriber actor counts them; the time until it
                                          has counted them all
     w15 rust msgs_per_sec=..             the same, the subscriber the Rust quote_recorder
     w15 decode_ns=..                     what the OCaml subscriber's decode of one of those
                                          Quote bodies costs, in a loop of a million (the
                                          generated Trading.decode_quote)

   and a comment line saying how many "ocaml" asks ran on the asking thread. The C actor is
   a baseline: what the foreign host costs without OCaml.

   Usage: dune exec ./bench/bench.exe [-- ASKS [QUOTES]]
     (default 20000 asks each, after warm-up, and 500000 quotes; the median of three w15 runs) *)
module M = Mycelium
module C = Trading.Contracts (M.Contract)

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
  M.Actor_ref.export c_echo "c-echo" [ M.Contract.type_id C.heartbeat ];
  let msg : Trading.heartbeat = { ts_ns = 0L; seq = 1L; sender = "bench" } in
  (* Rounds alternate between the routes so all see the same machine conditions. *)
  let rounds = 10 in
  let per_round = max 1 (asks / rounds) in
  let by_service service () =
    ignore (M.measure_asks bus service C.heartbeat msg 1000);
    Array.concat (List.init rounds (fun _ -> M.measure_asks bus service C.heartbeat msg per_round))
  in
  let here = ref 0 and asked_here = ref 0 in
  let by_handle actor ~count () =
    ignore (M.measure_actor_asks actor C.heartbeat msg 1000);
    Array.concat
      (List.init rounds (fun _ ->
           let times, direct = M.measure_actor_asks actor C.heartbeat msg per_round in
           if count then begin
             here := !here + direct;
             asked_here := !asked_here + Array.length times
           end;
           times))
  in
  let routes =
    [
      ("ocaml", by_handle ocaml ~count:true);
      ("ocaml-pool", by_service "ocaml-counter");
      ("rust", by_service "rust-counter");
      ("c-host", by_handle c_echo ~count:false);
      ("c-host-pool", by_service "c-echo");
    ]
  in
  let results = List.map (fun (name, _) -> (name, ref [||])) routes in
  for _ = 1 to 2 do
    List.iter (fun (name, run) ->
        let acc = List.assoc name results in
        acc := Array.append !acc (run ()))
      routes
  done;
  List.iter
    (fun (name, times) ->
      let times = !times in
      Array.sort compare times;
      Printf.printf "w12 %s p50_ns=%d p99_ns=%d\n%!" name (percentile times 0.5)
        (percentile times 0.99))
    results;
  Printf.printf "# w12 ocaml: %d of %d asks ran the handler on the asking thread\n%!" !here
    !asked_here;
  (* w12 while another OCaml thread computes. *)
  let stop = ref false in
  let compute () =
    while not !stop do
      for i = 1 to 1000 do
        ignore (Sys.opaque_identity (ref i))
      done
    done
  in
  let worker = Thread.create compute () in
  let busy = by_service "ocaml-counter" () in
  (* The program's own thread asks, timed here: each ask takes the runtime lock back from
     the computing thread when it returns. *)
  let own =
    Array.init (max 100 (asks / 10)) (fun _ ->
        let t0 = Unix.gettimeofday () in
        ignore (M.ask bus "rust-counter" C.heartbeat msg C.heartbeat);
        int_of_float ((Unix.gettimeofday () -. t0) *. 1e9))
  in
  stop := true;
  Thread.join worker;
  Array.sort compare busy;
  Printf.printf "w12 ocaml-pool-busy p50_ns=%d p99_ns=%d\n%!" (percentile busy 0.5)
    (percentile busy 0.99);
  Array.sort compare own;
  Printf.printf "w12 ocaml-thread-busy p50_ns=%d p99_ns=%d\n%!" (percentile own 0.5)
    (percentile own 0.99);
  M.Actor_ref.free c_echo;
  M.Actor_ref.free ocaml;
  M.Bus.close bus;
  (* w15: a Rust publisher to an OCaml subscriber, and to the same subscriber in Rust. *)
  let quotes = if Array.length Sys.argv > 2 then int_of_string Sys.argv.(2) else 500_000 in
  let hb n : Trading.heartbeat = { ts_ns = 0L; seq = Int64.of_int n; sender = "bench" } in
  let subscriber =
    M.Actor.make ~on_start:(fun () -> ref 0)
      [
        M.Actor.on C.quote (fun seen (_ : Trading.quote) ->
            incr seen;
            M.no_reply);
        M.Actor.on C.heartbeat (fun seen (h : Trading.heartbeat) ->
            M.reply C.heartbeat { h with seq = Int64.of_int !seen });
      ]
  in
  let w15 kind =
    let bus = M.Bus.create () in
    let topic = "w15." ^ kind in
    let actor =
      if kind = "ocaml" then begin
        let a = M.spawn bus subscriber () ~service:"subscriber" in
        ignore (M.subscribe a C.quote topic);
        Some a
      end
      else begin
        M.spawn_rust bus ~kind:"quote_recorder" ~service:"subscriber" ~arg:topic;
        None
      end
    in
    M.spawn_rust bus ~kind:"quote_source" ~service:"source" ~arg:topic;
    let t0 = Unix.gettimeofday () in
    let published = M.ask bus "source" C.heartbeat (hb quotes) C.heartbeat in
    let seen = M.ask bus "subscriber" C.heartbeat (hb 0) C.heartbeat in
    let rate = float_of_int quotes /. (Unix.gettimeofday () -. t0) in
    assert (published.seq = Int64.of_int quotes && seen.seq = Int64.of_int quotes);
    Option.iter M.Actor_ref.free actor;
    M.Bus.close bus;
    rate
  in
  List.iter
    (fun kind ->
      let rates = List.sort compare (List.init 3 (fun _ -> w15 kind)) in
      Printf.printf "w15 %s msgs_per_sec=%.0f\n%!" kind (List.nth rates 1))
    [ "ocaml"; "rust" ];
  let body =
    Trading.encode_quote
      { ts_ns = 1L; instrument = 7; bid_px = 100.25; bid_qty = 5.0; ask_px = 100.5; ask_qty = 7.0 }
  in
  let decodes = 1_000_000 in
  let t0 = Unix.gettimeofday () in
  let sum = ref 0 in
  for _ = 1 to decodes do
    sum := !sum + (Trading.decode_quote body).instrument
  done;
  let ns = (Unix.gettimeofday () -. t0) *. 1e9 /. float_of_int decodes in
  assert (!sum = 7 * decodes);
  Printf.printf "w15 decode_ns=%.1f\n%!" ns
