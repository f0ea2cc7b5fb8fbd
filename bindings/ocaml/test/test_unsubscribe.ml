(* Unsubscribing under a publisher that keeps publishing: once [unsubscribe] returns, the
   handler sees nothing more of that subscription, not even publications that were already
   queued in the actor's mailbox or being handled on another thread. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let quote : Trading.quote =
  { ts_ns = 1L; instrument = 7; bid_px = 99.5; bid_qty = 1.; ask_px = 100.5; ask_qty = 2. }

let () =
  let bus = M.Bus.create () in
  let lock = Mutex.create () and delivered = Condition.create () in
  let got = ref 0 in
  let count () =
    Mutex.lock lock;
    let n = !got in
    Mutex.unlock lock;
    n
  in
  let counter =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on C.quote (fun () _ ->
            Mutex.lock lock;
            incr got;
            Condition.broadcast delivered;
            Mutex.unlock lock;
            M.no_reply);
        M.Actor.on C.heartbeat (fun () h -> M.reply C.heartbeat h);
      ]
  in
  let a = M.spawn bus counter () in
  let publishing = Atomic.make true in
  let publisher =
    Thread.create
      (fun () ->
        while Atomic.get publishing do
          ignore (M.publish bus "md.quote.eu" C.quote quote)
        done)
      ()
  in
  for round = 1 to 20 do
    let sub = M.subscribe a C.quote "md.quote.*" in
    (* Some publications reach the handler (more are queued behind them). *)
    Mutex.lock lock;
    let target = !got + 20 in
    while !got < target do
      Condition.wait delivered lock
    done;
    Mutex.unlock lock;
    M.unsubscribe sub;
    let after = count () in
    (* Answered behind whatever was queued before the unsubscribe: all of it is done with. *)
    ignore (M.Actor_ref.ask a C.heartbeat (hb 0L) C.heartbeat);
    check_eq
      (Printf.sprintf "round %d: nothing handled after unsubscribe returned" round)
      string_of_int after (count ())
  done;
  Atomic.set publishing false;
  Thread.join publisher;
  M.Actor_ref.free a;
  M.Bus.close bus;
  check_eq "no roots left" string_of_int 0 (M.live_roots ());
  finish "test_unsubscribe"
