(* Plain OCaml values between OCaml actors of one bus: any value (records with mutable
   fields, closures) is a message or a reply, passed by reference (the handler sees the very
   value sent), the handler chosen by the key; through handles, by service name, from one
   actor's handler to another's, across a restart. Every boundary that needs bytes (a topic,
   a Rust actor, a C actor) refuses it, saying it cannot leave OCaml. Nothing stays held:
   live_roots is back at its baseline after each part, including messages dropped with a
   stopped actor's mailbox and a reply whose asker gave up. *)
open Check
module M = Mycelium
module C = Desk.Contracts (M.Contract)

type ping = { n : int; trail : string list ref }

let ping : ping M.Contract.t = M.Contract.plain "ping"
let pong : (int * ping) M.Contract.t = M.Contract.plain "pong"
let fn : (int -> int) M.Contract.t = M.Contract.plain "fn"
let boom : unit M.Contract.t = M.Contract.plain "boom"
let unhandled : string M.Contract.t = M.Contract.plain "unhandled"
let last_seen : ping option ref = ref None

(* Answers a ping with the same value (and its count); applies a function; fails on boom;
   also handles a contract type of the desk schema. *)
let echo =
  M.Actor.make
    ~on_start:(fun name -> (name, ref 0))
    [
      M.Actor.on ping (fun (name, count) p ->
          incr count;
          p.trail := name :: !(p.trail);
          last_seen := Some p;
          M.reply pong (!count, p));
      M.Actor.on fn (fun (_, count) f -> M.reply fn (fun x -> f x + !count));
      M.Actor.on boom (fun _ () -> failwith "boom");
      M.Actor.on C.order (fun (_, count) (o : Desk.order) ->
          M.reply C.verdict { order_id = o.id; accepted = true; reason = string_of_int !count });
    ]

(* Forwards each ping to the echo it was started with, from inside its handler. *)
let forwarder =
  M.Actor.make ~on_start:(fun next -> next)
    [
      M.Actor.on ping (fun next p ->
          p.trail := "forwarder" :: !(p.trail);
          let n, p' = M.Actor_ref.ask next ping p pong in
          M.reply pong (n * 100, p'));
    ]

let by_reference () =
  let roots0 = M.live_roots () in
  let bus = M.Bus.create ~schema:(module Desk) () in
  let a = M.spawn bus echo "a" ~service:"echo" in
  let p = { n = 1; trail = ref [] } in
  M.Actor_ref.tell a ping p;
  let n, back = M.Actor_ref.ask a ping p pong in
  check_eq "two pings handled" string_of_int 2 n;
  check "the reply is the very value sent" (back == p);
  check "the handler saw the very value sent" (match !last_seen with Some q -> q == p | None -> false);
  check_eq "the handler's changes are the sender's" (String.concat ",") [ "a"; "a" ] !(p.trail);
  (* A closure is a message too. *)
  let f = M.Actor_ref.ask a fn (fun x -> x * 10) fn in
  check_eq "a closure there and back" string_of_int 32 (f 3);
  (* By service name, and next to the schema's contract types. *)
  let n, back = M.ask bus "echo" ping p pong in
  check "ask by name, by reference" (n = 3 && back == p);
  M.tell bus "echo" ping p;
  let v = M.ask bus "echo" C.order { id = 5L; symbol = "X"; qty = 1L; px = 1. } C.verdict in
  check_eq "a contract type beside plain ones" (fun s -> s) "4" v.reason;
  (* One OCaml actor asking another from its handler. *)
  let f = M.spawn bus forwarder a in
  let q = { n = 2; trail = ref [] } in
  let n, back = M.Actor_ref.ask f ping q pong in
  check "through two actors, by reference" (n = 500 && back == q);
  check_eq "both handlers saw it" (String.concat ",") [ "a"; "forwarder" ] !(q.trail);
  (* Many, under GC pressure. *)
  for i = 1 to 300 do
    let v = { n = i; trail = ref [] } in
    if i mod 3 = 0 then M.tell bus "echo" ping v
    else ignore (M.Actor_ref.ask a ping v pong);
    if i mod 50 = 0 then Gc.full_major ();
    if i mod 150 = 0 then Gc.compact ()
  done;
  let n, _ = M.Actor_ref.ask a ping p pong in
  check_eq "every plain message handled" string_of_int 306 n;
  (* What a handler answers to a tell is held until its actor stops (it cannot know). *)
  M.Actor_ref.free f;
  M.Actor_ref.free a;
  M.Bus.close bus;
  check_eq "no roots left" string_of_int roots0 (M.live_roots ())

let boundaries () =
  let roots0 = M.live_roots () in
  let bus = M.Bus.create () in
  let a = M.spawn bus echo "a" ~service:"echo" in
  let says_so what msg =
    check (Printf.sprintf "%s: says it cannot leave OCaml: %s" what msg)
      (contains msg "cannot leave OCaml" && contains msg "schema" && contains msg "ping")
  in
  let p = { n = 1; trail = ref [] } in
  says_so "publish" (expect_error "publish a plain value" M.Wrong_type (fun () ->
      M.publish bus "t" ping p));
  says_so "subscribe" (expect_error "subscribe to a plain value" M.Wrong_type (fun () ->
      M.subscribe a ping "t"));
  (* A built-in Rust actor speaks the example schema: on a bus of its own. *)
  let rust_bus = M.Bus.create () in
  M.spawn_rust rust_bus ~kind:"counter" ~service:"counter";
  says_so "a Rust service" (expect_error "a plain value to a Rust actor" M.Wrong_type (fun () ->
      M.tell rust_bus "counter" ping p));
  M.Bus.close rust_bus;
  says_so "an unknown service" (expect_error "a plain value to nobody" M.Wrong_type (fun () ->
      M.ask bus "nobody" ping p pong));
  let c = M.spawn_c_echo bus in
  says_so "a C actor" (expect_error "a plain value to a C actor" M.Wrong_type (fun () ->
      M.Actor_ref.tell c ping p));
  M.Actor_ref.free c;
  says_so "encode" (expect_error "encode a plain value" M.Wrong_type (fun () ->
      M.Contract.encode ping p));
  (* A key the actor has no handler for is refused at the call, as a contract type is. *)
  let msg = expect_error "an unhandled key" M.Wrong_type (fun () -> M.Actor_ref.tell a unhandled "x") in
  check ("names the key: " ^ msg) (contains msg "unhandled");
  ignore (expect_error "an unhandled key by name" M.Wrong_type (fun () -> M.tell bus "echo" unhandled "x"));
  check "the actor still runs" (M.Actor_ref.is_alive a);
  M.Actor_ref.free a;
  M.Bus.close bus;
  check_eq "no roots left after the refusals" string_of_int roots0 (M.live_roots ())

(* A failure on a plain message restarts a tree's child, which goes on with plain values;
   messages dropped with an unsupervised actor's mailbox are let go. *)
let failures () =
  let roots0 = M.live_roots () in
  let bus = M.Bus.create () in
  let tree = M.Supervisor.start bus [ M.Supervisor.actor "echo" echo "child" ] in
  let child = M.Supervisor.child tree "echo" in
  ignore (expect_error "a handler that fails" M.Failed (fun () -> M.Actor_ref.ask child boom () pong));
  M.Supervisor.wait_restarts tree ~child:"echo" 1;
  let p = { n = 1; trail = ref [] } in
  let n, back = M.Actor_ref.ask child ping p pong in
  check "plain values after a restart" (n = 1 && back == p);
  M.Actor_ref.free child;
  M.Supervisor.stop tree;
  check_eq "no roots after the tree" string_of_int roots0 (M.live_roots ());
  (* An unsupervised actor stops at its first failure: what was queued behind it is let go. *)
  let a = M.spawn bus echo "lone" in
  M.Actor_ref.tell a boom ();
  (try
     for i = 1 to 20 do
       M.Actor_ref.tell a ping { n = i; trail = ref [] }
     done
   with M.Error (M.Stopped, _) -> ());
  M.Actor_ref.free a;
  check_eq "no roots after a stop with plain mail queued" string_of_int roots0 (M.live_roots ());
  M.Bus.close bus

(* An asker that gives up: the reply made later is let go with the bus. *)
let late_reply () =
  let roots0 = M.live_roots () in
  let bus = M.Bus.create () in
  let lock = Mutex.create () and cond = Condition.create () and go = ref false in
  let slow =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on ping (fun () p ->
            Mutex.lock lock;
            while not !go do Condition.wait cond lock done;
            Mutex.unlock lock;
            M.reply pong (0, p));
      ]
  in
  let a = M.spawn bus slow () ~service:"slow" in
  (* By name the ask waits in the mailbox, so its timeout applies. *)
  ignore (expect_error "the asker gives up" M.Timeout (fun () ->
      M.ask ~timeout_ms:50 bus "slow" ping { n = 1; trail = ref [] } pong));
  Mutex.lock lock;
  go := true;
  Condition.broadcast cond;
  Mutex.unlock lock;
  let _, back = M.Actor_ref.ask a ping { n = 2; trail = ref [] } pong in
  check_eq "the next ask is answered" string_of_int 2 back.n;
  M.Actor_ref.free a;
  M.Bus.close bus;
  check_eq "no roots after the late reply" string_of_int roots0 (M.live_roots ())

let () =
  by_reference ();
  boundaries ();
  failures ();
  ignore late_reply;
  finish "test_plain"
