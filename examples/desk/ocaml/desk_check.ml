(* The desk's Rust engine as an OCaml user meets it: started by name on a bus of the desk's
   schema (unsupervised and in a tree) and asked with the desk's messages, and the refusals,
   each an Error with a message in OCaml's terms: an unknown name, an argument the engine
   does not take, a bus of another schema (given at creation, or adopted from the engine
   first). Prints "ok" when every check holds. *)

module M = Mycelium
module C = Desk.Contracts (Mycelium.Contract)
module T = Trading.Contracts (Mycelium.Contract)

let contains s sub =
  let n = String.length sub in
  let rec at i = i + n <= String.length s && (String.sub s i n = sub || at (i + 1)) in
  at 0

(* [f ()] raises [Error (kind, msg)] with [text] in [msg]. *)
let refused what kind text f =
  match f () with
  | _ -> failwith (what ^ ": not refused")
  | exception M.Error (k, msg) ->
      if k <> kind || not (contains msg text) then
        failwith (Printf.sprintf "%s: %s %S, expected %s with %S" what (M.error_name k) msg
                    (M.error_name kind) text)

let order bus service id side mark =
  M.ask ~timeout_ms:5000 bus service C.new_order
    { order_id = Int64.of_int id; side; qty = 10; mark } C.fill

let () =
  let bus = M.Bus.create ~schema:(module Desk) () in
  refused "unknown name" M.Invalid_argument "execution (optional arg: the spread in ticks"
    (fun () -> M.spawn_rust bus ~kind:"executon" ~service:"execution");
  refused "bad arg" M.Invalid_argument "the spread is a whole number of ticks, not \"wide\""
    (fun () -> M.spawn_rust bus ~kind:"execution" ~arg:"wide" ~service:"execution");
  refused "a built-in of another schema" M.Invalid_argument
    "the Rust actor \"counter\" speaks the schema `trading`"
    (fun () -> M.spawn_rust bus ~kind:"counter" ~service:"counter");
  M.spawn_rust bus ~kind:"execution" ~arg:"4" ~service:"execution";
  let f = order bus "execution" 1 Desk.Buy 100.5 in
  assert (f.price = 100.52 && f.position = 10L);
  refused "service taken" M.Invalid_argument "the service name `execution` is taken"
    (fun () -> M.spawn_rust bus ~kind:"execution" ~service:"execution");
  (* Supervised: the tree restarts it as any child; reached by its service. *)
  let tree = M.Supervisor.start bus [ M.Supervisor.rust "engine" ~kind:"execution" ~service:"engine" ] in
  let f = order bus "engine" 2 Desk.Sell 99.0 in
  assert (f.price = 98.99 && f.position = -10L);
  M.Supervisor.stop tree;
  M.Bus.close bus;

  (* A bus of another schema refuses the engine, unsupervised and as a tree's child. *)
  let other = M.Bus.create ~schema:(module Trading) () in
  refused "another schema" M.Invalid_argument
    "the Rust actor \"execution\" speaks the schema `desk`"
    (fun () -> M.spawn_rust other ~kind:"execution" ~service:"execution");
  refused "another schema, in a tree" M.Invalid_argument "~schema:(module Desk)" (fun () ->
      M.Supervisor.start other [ M.Supervisor.rust "engine" ~kind:"execution" ~service:"engine" ]);
  M.Bus.close other;

  (* A bus created without a schema speaks the engine's once it runs: a message of another
     schema is refused then. *)
  let plain = M.Bus.create () in
  M.spawn_rust plain ~kind:"execution" ~service:"execution";
  assert (M.Bus.schema_digest plain = Some Desk.schema_digest);
  refused "adopted schema" M.Wrong_type "the bus already speaks the schema `desk`"
    (fun () ->
      M.tell plain "execution" T.heartbeat ({ ts_ns = 0L; seq = 1L; sender = "" } : Trading.heartbeat));
  refused "a Rust actor of another schema than the first" M.Invalid_argument
    "this bus speaks the schema `desk` (digest"
    (fun () -> M.spawn_rust plain ~kind:"counter" ~service:"counter");
  let f = order plain "execution" 3 Desk.Buy 10.0 in
  assert (f.position = 10L);
  M.Bus.close plain;
  print_endline "ok"
