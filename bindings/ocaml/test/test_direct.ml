(* Asks from an OCaml thread to an idle OCaml actor run its handler on the asking thread
   (no hand-off to the bus runtime), with the same state, order and failure handling as
   through the mailbox: what is queued before an ask is handled before it; an exception
   fails the actor, the ask fails at once, and the supervisor restarts it; a virtual-time
   bus never takes this path. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let me () = Thread.id (Thread.self ())

(* Adds each seq to a total and replies with it; records the thread of the last call. *)
let counter ~ran_on =
  M.Actor.make
    ~on_start:(fun base -> ref base)
    [
      M.Actor.on C.heartbeat (fun total (h : Trading.heartbeat) ->
          ran_on := me ();
          if h.sender = "boom" then failwith "boom requested";
          if h.sender = "gc" then Gc.full_major ();
          total := Int64.add !total h.seq;
          M.reply C.heartbeat (hb !total));
    ]

let () =
  let roots0 = M.live_roots () in
  let bus = M.Bus.create () in
  let ran_on = ref (-1) in
  let a = M.spawn bus (counter ~ran_on) 0L ~service:"direct-counter" in
  (* An idle actor: the handler runs here. *)
  let r = M.Actor_ref.ask a C.heartbeat (hb 5L) C.heartbeat in
  check_eq "reply" Int64.to_string 5L r.seq;
  check_eq "the handler ran on the asking thread" string_of_int (me ()) !ran_on;
  let times, direct = M.measure_actor_asks a C.heartbeat (hb 1L) 200 in
  check_eq "measured asks" string_of_int 200 (Array.length times);
  check_eq "every ask to the idle actor ran here" string_of_int 200 direct;
  let r = M.Actor_ref.ask a C.heartbeat (hb 0L) C.heartbeat in
  check_eq "the direct asks kept the state" Int64.to_string 205L r.seq;
  (* By service name the ask goes through the mailbox: the handler runs on the runtime. *)
  let r = M.ask bus "direct-counter" C.heartbeat (hb 0L) C.heartbeat in
  check_eq "by name, same state" Int64.to_string 205L r.seq;
  check "by name, the handler ran on another thread" (!ran_on <> me ());
  (* Order: tells queued before an ask are handled before it, whichever path it takes. *)
  let total = ref 205L in
  for round = 1 to 20 do
    for _ = 1 to 50 do
      M.Actor_ref.tell a C.heartbeat (hb 1L)
    done;
    total := Int64.add !total 50L;
    let r = M.Actor_ref.ask a C.heartbeat (hb 0L) C.heartbeat in
    check_eq (Printf.sprintf "round %d sees every tell before it" round) Int64.to_string !total
      r.seq
  done;
  (* Under GC pressure, on this thread. *)
  for _ = 1 to 50 do
    ignore (M.Actor_ref.ask a C.heartbeat (hb ~sender:"gc" 0L) C.heartbeat)
  done;
  check_eq "still the same state after full majors" Int64.to_string !total
    (M.Actor_ref.ask a C.heartbeat (hb 0L) C.heartbeat).seq;
  (* An actor's handler asking another idle actor runs it on its own (runtime) thread. *)
  let inner_on = ref (-1) in
  let b = M.spawn bus (counter ~ran_on:inner_on) 100L in
  let outer_on = ref (-1) in
  let relay =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
            outer_on := me ();
            let r = M.Actor_ref.ask b C.heartbeat h C.heartbeat in
            M.reply C.heartbeat r);
      ]
  in
  let rl = M.spawn bus relay () ~service:"relay" in
  let r = M.ask bus "relay" C.heartbeat (hb 1L) C.heartbeat in
  check_eq "relayed reply" Int64.to_string 101L r.seq;
  check "the relay ran on the runtime" (!outer_on <> me ());
  check_eq "the inner actor ran on the relay's thread" string_of_int !outer_on !inner_on;
  M.Actor_ref.free rl;
  M.Actor_ref.free b;
  M.Actor_ref.free a;
  (* A failure on the asking thread: the ask fails at once, a dead letter, a restart in place
     with fresh state; the child's handle and its service take the same paths as above. *)
  let starts = ref 0 in
  let fragile =
    M.Actor.make
      ~on_start:(fun base ->
        incr starts;
        ref base)
      [
        M.Actor.on C.heartbeat (fun total (h : Trading.heartbeat) ->
            ran_on := me ();
            if h.sender = "boom" then failwith "boom requested";
            total := Int64.add !total h.seq;
            M.reply C.heartbeat (hb !total));
      ]
  in
  let sup =
    M.Supervisor.start bus ~backoff_initial_ms:1
      [ M.Supervisor.actor "fragile" fragile 1000L ~service:"fragile" ]
  in
  let child = M.Supervisor.child sup "fragile" in
  let _, direct = M.measure_actor_asks child C.heartbeat (hb 1L) 10 in
  check_eq "a tree's child is asked on this thread too" string_of_int 10 direct;
  let dead0 = M.Bus.dead_letters bus in
  let msg =
    expect_error "the ask fails at once" M.Failed (fun () ->
        M.Actor_ref.ask child C.heartbeat (hb ~sender:"boom" 1L) C.heartbeat)
  in
  check "the failure carries the exception" (contains msg "boom requested");
  check_eq "the failing handler ran on the asking thread" string_of_int (me ()) !ran_on;
  M.Supervisor.wait_restarts sup ~child:"fragile" 1;
  check "a dead letter" (M.Bus.dead_letters bus > dead0);
  check_eq "restarted once" string_of_int 2 !starts;
  let r = M.Actor_ref.ask child C.heartbeat (hb 2L) C.heartbeat in
  check_eq "fresh state after the restart" Int64.to_string 1002L r.seq;
  check_eq "and asked on this thread again" string_of_int (me ()) !ran_on;
  let r = M.ask bus "fragile" C.heartbeat (hb 3L) C.heartbeat in
  check_eq "the service reaches the new incarnation" Int64.to_string 1005L r.seq;
  M.Actor_ref.free child;
  M.Supervisor.stop sup;
  M.Bus.close bus;
  (* Virtual time: the handler always runs on the bus runtime (it holds the clock still). *)
  let vbus = M.Bus.create ~virtual_time:true () in
  let v = M.spawn vbus (counter ~ran_on) 0L in
  let _, direct = M.measure_actor_asks v C.heartbeat (hb 1L) 20 in
  check_eq "no direct asks on a virtual-time bus" string_of_int 0 direct;
  check "the handler ran on the runtime" (!ran_on <> me ());
  M.Actor_ref.free v;
  M.Bus.close vbus;
  (* While another OCaml thread computes (allocating, never blocking), asks through the
     mailbox still get the runtime lock: the actor's thread asks the computing thread to
     yield it, as the runtime's tick does every 50 ms. Waiting for the tick, these 400 asks
     took 20 s, and a run could wait far longer. The computing thread runs on between them,
     and the actor's state is its own. *)
  let bus = M.Bus.create () in
  let c = M.spawn bus (counter ~ran_on) 0L ~service:"busy-counter" in
  let stop = Atomic.make false and spins = Atomic.make 0 in
  let compute () =
    while not (Atomic.get stop) do
      ignore (Sys.opaque_identity (ref (Atomic.get spins)));
      Atomic.incr spins
    done
  in
  M.spawn_rust bus ~kind:"counter" ~service:"busy-rust-counter";
  let worker = Thread.create compute () in
  let times = M.measure_asks bus "busy-counter" C.heartbeat (hb 1L) 400 in
  (* This thread's own asks take the lock back from the computing thread the same way (with
     the tick, some or all of them waited 50 ms; how long they take is w12
     ocaml-thread-busy's to measure): each is answered, in order. *)
  let own =
    List.init 200 (fun _ -> (M.ask bus "busy-rust-counter" C.heartbeat (hb 1L) C.heartbeat).seq)
  in
  let spun = Atomic.get spins in
  Atomic.set stop true;
  Thread.join worker;
  check_eq "every ask answered beside the computing thread" string_of_int 400
    (Array.length times);
  check "the computing thread ran" (spun > 0);
  check_eq "this thread's asks answered in order" Int64.to_string 200L
    (List.nth own 199);
  check_eq "each ask handled once" Int64.to_string 400L
    (M.Actor_ref.ask c C.heartbeat (hb 0L) C.heartbeat).seq;
  M.Actor_ref.free c;
  M.Bus.close bus;
  (* A handler that ran on the asking thread past the ask's timeout cannot be cut short:
     Timeout all the same, saying the message was handled. *)
  let bus = M.Bus.create () in
  let slow =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
            Unix.sleepf 0.05;
            M.reply C.heartbeat h);
      ]
  in
  let s = M.spawn bus slow () in
  let msg =
    expect_error "a late direct answer" M.Timeout (fun () ->
        M.Actor_ref.ask ~timeout_ms:1 s C.heartbeat (hb 1L) C.heartbeat)
  in
  check ("the late direct answer says the message was handled: " ^ msg)
    (contains msg "ran on this thread" && contains msg "the message was handled");
  M.Actor_ref.free s;
  M.Bus.close bus;
  check_eq "no roots left" string_of_int roots0 (M.live_roots ());
  finish "test_direct"
