(* A remote subscription's overflow policy and the gaps it leaves, from OCaml: two nodes of
   one topology file in this process (a bus each), linked over Unix sockets in a temporary
   directory removed at the end. Node "md" publishes heartbeats; node "trading" subscribes
   with [Drop_newest], and its only subscriber holds the first heartbeat until the test lets
   it go, so "trading" stops taking them and the link's queue (8) fills. The publisher never
   waits, and every heartbeat is either received, in order, or counted in a gap that an
   OCaml actor receives through [Node.subscribe_gaps]. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let secret_var = "MYCELIUM_OCAML_GAP_TEST_SECRET"
let limit = 20_000 (* ms: bounds every wait, never a measured duration *)
let n = 2_000

let temp_dir () =
  let base = Filename.temp_file "mycelium-ocaml-gaps" "" in
  Sys.remove base;
  Unix.mkdir base 0o700;
  base

let write_topology dir =
  let topology = Filename.concat dir "topology.toml" in
  let oc = open_out topology in
  output_string oc
    (String.concat "\n"
       [
         Printf.sprintf "secret_env = %S" secret_var;
         "[link]";
         "queue_capacity = 8";
         "[[node]]";
         "name = \"md\"";
         "endpoint = \"unix:md.sock\"";
         "services = [\"counter\"]";
         "[[node]]";
         "name = \"trading\"";
         "endpoint = \"unix:trading.sock\"";
         "";
       ]);
  close_out oc;
  topology

let deadline () = Unix.gettimeofday () +. (float_of_int limit /. 1000.)

(* Waits until [cond ()] holds, [limit] ms at most; a check names what never came. *)
let await what cond =
  let until = deadline () in
  while (not (cond ())) && Unix.gettimeofday () < until do
    Thread.yield ()
  done;
  check what (cond ())

let () =
  let dir = temp_dir () in
  let topology = write_topology dir in
  Unix.putenv secret_var "a test secret of at least 32 bytes!!";
  let md_bus = M.Bus.create ~schema:(module Trading) () in
  let trading_bus = M.Bus.create ~schema:(module Trading) () in
  M.spawn_rust md_bus ~kind:"counter" ~service:"counter";
  let lock = Mutex.create () and changed = Condition.create () in
  let released = ref false and received = ref [] and gaps = ref [] in
  let locked f =
    Mutex.lock lock;
    Fun.protect ~finally:(fun () -> Mutex.unlock lock) f
  in
  let holder =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
            locked (fun () ->
                while not !released do
                  Condition.wait changed lock
                done;
                received := h.seq :: !received);
            M.no_reply);
      ]
  in
  let watcher =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on M.Node.gap (fun () (g : M.Node.gap) ->
            locked (fun () -> gaps := g :: !gaps);
            M.no_reply);
      ]
  in
  let h = M.spawn trading_bus holder () in
  let w = M.spawn trading_bus watcher () in
  let sub = M.subscribe h C.heartbeat "hb.*" in
  let md = M.Node.join md_bus ~topology ~node:"md" in
  let trading = M.Node.join trading_bus ~topology ~node:"trading" in
  M.Node.forward_topic md C.heartbeat;
  let gap_sub = M.Node.subscribe_gaps trading w in
  ignore
    (expect_error "gaps to an actor of another bus" M.Invalid_argument (fun () ->
         M.Node.subscribe_gaps md w));
  ignore
    (expect_error "Drop_oldest 0" M.Invalid_argument (fun () ->
         M.Node.subscribe_remote ~overflow:(M.Node.Drop_oldest 0) trading C.heartbeat "hb.*"));
  ignore
    (expect_error "a contract on the gaps' type id" M.Invalid_argument (fun () ->
         M.Contract.make ~schema:(module Trading) ~name:"fake" ~type_id:0xFFFE
           ~encode:(fun () -> "")
           ~decode:(fun _ -> ())));
  (* Every policy is taken; the last one stays. *)
  List.iter
    (fun overflow -> M.Node.subscribe_remote ~overflow trading C.heartbeat "hb.*")
    [ M.Node.Block; M.Node.Drop_oldest 16; M.Node.Latest_per_key; M.Node.Drop_newest ];
  (* The subscription travels before this ask on the link: once answered, "md" forwards. *)
  ignore (M.Node.ask ~timeout_ms:limit trading "counter" C.heartbeat (hb 0L) C.heartbeat);
  let delivered = Array.init n (fun i -> M.publish md_bus "hb.md" C.heartbeat (hb (Int64.of_int i))) in
  let dropped = ref (Array.fold_left (fun k d -> if d = 0 then k + 1 else k) 0 delivered) in
  check (Printf.sprintf "the link's queue filled: %d dropped" !dropped) (!dropped > 0);
  locked (fun () ->
      released := true;
      Condition.broadcast changed);
  await "every heartbeat not dropped arrives" (fun () ->
      locked (fun () -> List.length !received = n - !dropped));
  let expected = List.filter (fun i -> delivered.(i) = 1) (List.init n Fun.id) in
  check "in order" (locked (fun () -> List.rev !received) = List.map Int64.of_int expected);
  (* The drops are told right behind the next publication the link takes. *)
  let until = deadline () in
  while M.publish md_bus "hb.md" C.heartbeat (hb (Int64.of_int n)) = 0 && Unix.gettimeofday () < until do
    incr dropped;
    Thread.yield ()
  done;
  let told () = locked (fun () -> List.fold_left (fun k (g : M.Node.gap) -> k + Int64.to_int g.count) 0 !gaps) in
  await "every drop is told" (fun () -> told () >= !dropped);
  check_eq "the gaps count the drops" string_of_int !dropped (told ());
  List.iter
    (fun (g : M.Node.gap) ->
      check ("a drop: " ^ g.text) (g.reason = M.Node.Dropped);
      check_eq "source" Fun.id "md" g.source;
      check_eq "pattern" Fun.id "hb.*" g.topic;
      check_eq "type id" string_of_int 900 g.type_id;
      check_eq "message" Fun.id "Heartbeat" g.message;
      check "no sequence numbers for a drop" (g.first = 0L && g.last = 0L);
      check ("text: " ^ g.text) (contains g.text "dropped by the subscription's overflow policy"))
    (locked (fun () -> !gaps));
  M.unsubscribe gap_sub;
  M.unsubscribe sub;
  M.Node.leave trading;
  M.Node.leave md;
  M.Actor_ref.free h;
  M.Actor_ref.free w;
  M.Bus.close trading_bus;
  M.Bus.close md_bus;
  Array.iter (fun f -> Sys.remove (Filename.concat dir f)) (Sys.readdir dir);
  Unix.rmdir dir;
  check_eq "no roots left" string_of_int 0 (M.live_roots ());
  finish "test_gaps"
