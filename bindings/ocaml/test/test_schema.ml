(* A user's own schema (desk.yaml, generated into desk.ml by the rule in ./dune): its messages
   through handlers, tell/ask by handle and by name, topics and a node link between two buses
   of this process; the bus knows the digest it speaks, and refuses a contract type of another
   schema (the repository's) and one from a stale module (desk_v1.ml, generated from an older
   desk.yaml), naming the type, both digests and the command that regenerates the module.
   Across the link, error kinds are those of the same mistake on one bus. *)
open Check
module M = Mycelium
module C = Desk.Contracts (M.Contract)
module Old = Desk_v1.Contracts (M.Contract)
module T = Trading.Contracts (M.Contract)

let limit = 20_000 (* ms: bounds every ask over the link *)

let order ?(qty = 10L) id : Desk.order = { id; symbol = "ABC"; qty; px = 1.5 }

(* A risk check: accepts orders up to [limit] in size, counts what it has seen. *)
let risk =
  M.Actor.make
    ~on_start:(fun limit -> (limit, ref 0))
    [
      M.Actor.on C.order (fun (limit, seen) (o : Desk.order) ->
          incr seen;
          M.reply C.verdict
            {
              order_id = o.id;
              accepted = Int64.abs o.qty <= limit;
              reason = Printf.sprintf "seen %d" !seen;
            });
    ]

let silent = M.Actor.make ~on_start:(fun () -> ()) [ M.Actor.on C.order (fun () _ -> M.no_reply) ]

let refuses_foreign_contracts bus =
  let msg =
    expect_error "a contract of another schema" M.Wrong_type (fun () ->
        M.tell bus "risk" T.heartbeat (hb 1L))
  in
  List.iter
    (fun part -> check (Printf.sprintf "another schema's refusal names %S: %s" part msg) (contains msg part))
    [ "Heartbeat"; Trading.schema_digest; Desk.schema_digest; "mycelium-codegen ocaml desk.yaml" ];
  (* Through a handle, the same refusal (not that the actor has no handler for it). *)
  let a = M.spawn bus silent () in
  let msg =
    expect_error "a contract of another schema, by handle" M.Wrong_type (fun () ->
        M.Actor_ref.tell a T.heartbeat (hb 1L))
  in
  List.iter
    (fun part -> check (Printf.sprintf "by handle, the refusal names %S: %s" part msg) (contains msg part))
    [ "Heartbeat"; Trading.schema_digest; Desk.schema_digest ];
  M.Actor_ref.stop a;
  M.Actor_ref.free a;
  let msg =
    expect_error "a stale module" M.Wrong_type (fun () -> M.ask bus "risk" Old.order
      ({ id = 1L; symbol = "ABC"; qty = 1L } : Desk_v1.order) C.verdict)
  in
  List.iter
    (fun part -> check (Printf.sprintf "the stale module's refusal names %S: %s" part msg) (contains msg part))
    [ "Order"; "another version"; Desk_v1.schema_digest; Desk.schema_digest;
      "mycelium-codegen ocaml desk.yaml -o desk.ml" ];
  (* Every way in refuses it: a reply type, a topic, a handler of a definition. *)
  ignore (expect_error "a reply of a stale module" M.Wrong_type (fun () ->
      M.ask bus "risk" C.order (order 1L) Old.verdict));
  ignore (expect_error "publish of another schema" M.Wrong_type (fun () ->
      M.publish bus "hb" T.heartbeat (hb 1L)));
  let stale_def = M.Actor.make ~on_start:(fun () -> ()) [ M.Actor.on Old.order (fun () _ -> M.no_reply) ] in
  ignore (expect_error "spawn with a stale handler" M.Wrong_type (fun () -> M.spawn bus stale_def ()));
  ignore (expect_error "tree with a stale handler" M.Wrong_type (fun () ->
      M.Supervisor.start bus [ M.Supervisor.actor "stale" stale_def () ]))

let one_bus () =
  let roots0 = M.live_roots () in
  let bus = M.Bus.create ~schema:(module Desk) () in
  check_eq "the bus speaks desk.yaml" (Option.value ~default:"none") (Some Desk.schema_digest)
    (M.Bus.schema_digest bus);
  check "the digests of the two versions differ" (Desk.schema_digest <> Desk_v1.schema_digest);
  let a = M.spawn bus risk 100L ~service:"risk" in
  check_eq "handled types" (fun l -> String.concat "," (List.map string_of_int l)) [ 1 ]
    (M.Actor.type_ids risk);
  let v = M.ask bus "risk" C.order (order 7L) C.verdict in
  check "ask by name" (v.order_id = 7L && v.accepted);
  M.tell bus "risk" C.order (order ~qty:500L 8L);
  let v = M.Actor_ref.ask a C.order (order ~qty:500L 9L) C.verdict in
  check_eq "ask through the handle, after a tell" (fun s -> s) "seen 3" v.reason;
  check "a large order is refused" (not v.accepted);
  (* Topics carry the schema's messages to OCaml subscribers. *)
  let sub = M.subscribe a C.order "desk.order.*" in
  check_eq "publish reaches the subscriber" string_of_int 1
    (M.publish bus "desk.order.ABC" C.order (order 10L));
  let v = M.Actor_ref.ask a C.order (order 11L) C.verdict in
  check_eq "the publication was handled" (fun s -> s) "seen 5" v.reason;
  M.unsubscribe sub;
  (* Hand-made contracts of the schema are accepted too. *)
  let own =
    M.Contract.make ~schema:(module Desk) ~name:"Order" ~type_id:1 ~encode:Desk.encode_order
      ~decode:Desk.decode_order
  in
  check "a hand-made contract of the schema"
    ((M.ask bus "risk" own (order 12L) C.verdict).order_id = 12L);
  refuses_foreign_contracts bus;
  check "the actor still runs" (M.Actor_ref.is_alive a);
  M.Actor_ref.free a;
  M.Bus.close bus;
  check_eq "no roots left" string_of_int roots0 (M.live_roots ());
  (* A bus created without a schema speaks that of the first contract type it carries. *)
  let bus = M.Bus.create () in
  check "no schema yet" (M.Bus.schema_digest bus = None);
  let a = M.spawn bus risk 100L ~service:"risk" in
  check_eq "the first contract type fixed it" (Option.value ~default:"none") (Some Desk.schema_digest)
    (M.Bus.schema_digest bus);
  refuses_foreign_contracts bus;
  M.Actor_ref.free a;
  M.Bus.close bus;
  (* A digest that is not one. *)
  let module Bad = struct
    let package = "bad"
    let schema_digest = "not a digest"
    let schema_file = "bad.yaml"
  end in
  ignore (expect_error "a malformed digest" M.Invalid_argument (fun () ->
      M.Bus.create ~schema:(module Bad) ()))

let temp_dir () =
  let base = Filename.temp_file "mycelium-ocaml-schema" "" in
  Sys.remove base;
  Unix.mkdir base 0o700;
  base

(* Two buses of this process, each a node of one topology over Unix sockets, speaking
   desk.yaml: node "front" asks node "back"'s risk check. *)
let over_a_link () =
  let dir = temp_dir () in
  let topology = Filename.concat dir "topology.toml" in
  let oc = open_out topology in
  output_string oc
    (String.concat "\n"
       [
         "secret_env = \"MYCELIUM_OCAML_SCHEMA_SECRET\"";
         "[[node]]"; "name = \"back\""; "endpoint = \"unix:back.sock\"";
         "services = [\"risk\", \"silent\", \"absent\"]";
         "[[node]]"; "name = \"front\""; "endpoint = \"unix:front.sock\""; "services = []"; "";
       ]);
  close_out oc;
  Unix.putenv "MYCELIUM_OCAML_SCHEMA_SECRET" "a test secret of at least 32 bytes!!";
  let back_bus = M.Bus.create ~schema:(module Desk) () in
  let r = M.spawn back_bus risk 100L ~service:"risk" in
  let s = M.spawn back_bus silent () ~service:"silent" in
  let back = M.Node.join back_bus ~topology ~node:"back" in
  (* A node tells its peers the schema it speaks: a bus that speaks none cannot join. *)
  let front_bus = M.Bus.create () in
  let msg =
    expect_error "a node of a bus with no schema" M.Invalid_argument (fun () ->
        M.Node.join front_bus ~topology ~node:"front")
  in
  check ("says to give the bus a schema: " ^ msg) (contains msg "~schema:(module");
  M.Bus.close front_bus;
  let front_bus = M.Bus.create ~schema:(module Desk) () in
  let front = M.Node.join front_bus ~topology ~node:"front" in
  check "risk is remote" (M.Node.is_remote front "risk");
  let v = M.Node.ask ~timeout_ms:limit front "risk" C.order (order 21L) C.verdict in
  check "ask over the link" (v.order_id = 21L && v.accepted);
  M.Node.tell front "risk" C.order (order 22L);
  let v = M.Node.ask ~timeout_ms:limit front "risk" C.order (order 23L) C.verdict in
  check_eq "the tell went first" (fun s -> s) "seen 3" v.reason;
  (* The same mistakes as on one bus, with the same kinds. *)
  let local = expect_error "no_reply on one bus" M.Wrong_type (fun () ->
      M.ask back_bus "silent" C.order (order 1L) C.verdict) in
  let remote = expect_error "no_reply across the link" M.Wrong_type (fun () ->
      M.Node.ask ~timeout_ms:limit front "silent" C.order (order 1L) C.verdict) in
  check ("the remote no_reply says so: " ^ remote ^ " / " ^ local) (contains remote "returned no reply");
  ignore (expect_error "a type the service does not take, on one bus" M.Wrong_type (fun () ->
      M.ask back_bus "risk" C.verdict { order_id = 1L; accepted = true; reason = "" } C.verdict));
  ignore (expect_error "a type the service does not take, across the link" M.Wrong_type (fun () ->
      M.Node.ask ~timeout_ms:limit front "risk" C.verdict { order_id = 1L; accepted = true; reason = "" } C.verdict));
  ignore (expect_error "a service nobody exports, on one bus" M.Unknown_service (fun () ->
      M.ask back_bus "absent" C.order (order 1L) C.verdict));
  ignore (expect_error "a service the peer does not export, across the link" M.Unknown_service (fun () ->
      M.Node.ask ~timeout_ms:limit front "absent" C.order (order 1L) C.verdict));
  (* The node speaks the bus's schema: another one's contract types are refused before sending. *)
  ignore (expect_error "a stale contract to a node" M.Wrong_type (fun () ->
      M.Node.tell front "risk" Old.order { id = 1L; symbol = "ABC"; qty = 1L }));
  M.Node.leave front;
  M.Node.leave back;
  M.Actor_ref.free r;
  M.Actor_ref.free s;
  M.Bus.close front_bus;
  M.Bus.close back_bus;
  Array.iter (fun f -> Sys.remove (Filename.concat dir f)) (Sys.readdir dir);
  Unix.rmdir dir

(* A Rust actor started by name speaks the schema it was registered with (the built-ins:
   the repository's): refused on a bus of another, unsupervised and in a tree, with both
   schemas and the module to create the bus with; a bus that speaks none adopts it, and
   then refuses another schema's contract types. *)
let rust_actors () =
  let bus = M.Bus.create ~schema:(module Desk) () in
  let says what msg =
    check (what ^ ": names both schemas: " ^ msg)
      (contains msg "\"counter\" speaks the schema `trading`" && contains msg "`desk`"
       && contains msg "~schema:(module Trading)")
  in
  says "spawn_rust" (expect_error "a Rust actor of another schema" M.Invalid_argument (fun () ->
      M.spawn_rust bus ~kind:"counter" ~service:"counter"));
  says "a tree" (expect_error "a Rust child of another schema" M.Invalid_argument (fun () ->
      M.Supervisor.start bus [ M.Supervisor.rust "c" ~kind:"counter" ~service:"counter" ]));
  let msg = expect_error "an unknown name" M.Invalid_argument (fun () ->
      M.spawn_rust bus ~kind:"countr" ~service:"c") in
  check ("lists the registered actors: " ^ msg)
    (contains msg "counter" && contains msg "relay (arg:" && contains msg "myc_library_init");
  M.Bus.close bus;
  let bus = M.Bus.create () in
  M.spawn_rust bus ~kind:"counter" ~service:"counter";
  let msg = expect_error "a contract of another schema than the Rust actor's" M.Wrong_type
      (fun () -> M.spawn bus risk 10L) in
  check ("names the adopted schema: " ^ msg) (contains msg "the bus already speaks the schema `trading`");
  let hb : Trading.heartbeat = { ts_ns = 0L; seq = 5L; sender = "" } in
  check "the Rust actor answers on its schema" ((M.ask bus "counter" T.heartbeat hb T.heartbeat).seq = 5L);
  M.Bus.close bus

let () =
  one_bus ();
  rust_actors ();
  over_a_link ();
  finish "test_schema"
