(* A split deployment over Unix sockets: this process is node "ocaml" of a topology file (an
   OCaml echo actor), and starts a second process, node "rust", hosting a Rust counter. Asks
   and tells cross the link both ways. The peer process is this executable run with
   [peer TOPOLOGY]; it serves until its stdin closes. Everything lives in a temporary
   directory removed at the end. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let secret_var = "MYCELIUM_OCAML_TEST_SECRET"
let limit = 20_000 (* ms: bounds every cross-process ask *)

let peer topology =
  let bus = M.Bus.create ~schema:(module Trading) () in
  M.spawn_rust bus ~kind:"counter" ~service:"counter";
  let node = M.Node.join bus ~topology ~node:"rust" in
  M.Node.forward_topic node C.heartbeat;
  print_endline "ready";
  (try
     while true do
       match input_line stdin with
       | "ask" ->
           let r = M.Node.ask ~timeout_ms:limit node "ocaml-echo" C.heartbeat (hb 41L) C.heartbeat in
           Printf.printf "%Ld %s\n%!" r.seq r.sender
       | "publish" ->
           (* One subscriber: the link to the node that subscribed. The ask then follows the
              publication on the same link. *)
           let n = M.publish bus "hb.rust" C.heartbeat (hb 77L) in
           let r = M.Node.ask ~timeout_ms:limit node "ocaml-echo" C.heartbeat (hb 0L) C.heartbeat in
           Printf.printf "%d %s\n%!" n r.sender
       | _ -> print_endline "?"
     done
   with End_of_file -> ());
  (* The parent has gone: nothing is waited for (the abrupt close). *)
  M.Node.leave_now node;
  M.Bus.close bus;
  exit 0

let temp_dir () =
  let base = Filename.temp_file "mycelium-ocaml-node" "" in
  Sys.remove base;
  Unix.mkdir base 0o700;
  base

(* Writes [dir/topology.toml]: the secret from [secret_var], the [link] lines, then one node per
   (name, services), each on the Unix socket [name.sock]; returns the file's path. *)
let write_topology dir ?(link = []) nodes =
  let topology = Filename.concat dir "topology.toml" in
  let node (name, services) =
    [
      "[[node]]";
      Printf.sprintf "name = %S" name;
      Printf.sprintf "endpoint = \"unix:%s.sock\"" name;
      Printf.sprintf "services = [%s]" (String.concat ", " (List.map (Printf.sprintf "%S") services));
    ]
  in
  let oc = open_out topology in
  output_string oc
    (String.concat "\n" ((Printf.sprintf "secret_env = %S" secret_var :: link) @ List.concat_map node nodes @ [ "" ]));
  close_out oc;
  topology

(* A node whose link gave up (its peer never starts; one connection attempt): an ask to the
   peer's service, never sent, fails with [Stopped] when the link gives up, and a remote
   subscription is refused with [Stopped]; both name the closed link. *)
let gave_up () =
  let dir = temp_dir () in
  let topology =
    write_topology dir ~link:[ "[link]"; "max_attempts = 1" ] [ ("alone", []); ("never", [ "absent" ]) ]
  in
  let bus = M.Bus.create ~schema:(module Trading) () in
  let node = M.Node.join bus ~topology ~node:"alone" in
  let msg =
    expect_error "ask over a link that gave up" M.Stopped (fun () ->
        M.Node.ask ~timeout_ms:limit node "absent" C.heartbeat (hb 1L) C.heartbeat)
  in
  check ("the ask was not sent: " ^ msg) (contains msg "the request was not sent: the link to never is closed");
  let msg =
    expect_error "subscription over a link that gave up" M.Stopped (fun () ->
        M.Node.subscribe_remote node C.heartbeat "hb.*")
  in
  check ("the refusal says the link is closed: " ^ msg) (contains msg "the link to never is closed");
  M.Node.leave node;
  M.Bus.close bus;
  Array.iter (fun f -> Sys.remove (Filename.concat dir f)) (Sys.readdir dir);
  Unix.rmdir dir

let main () =
  let dir = temp_dir () in
  let topology = write_topology dir [ ("ocaml", [ "ocaml-echo" ]); ("rust", [ "counter" ]) ] in
  Unix.putenv secret_var "a test secret of at least 32 bytes!!";
  let bus = M.Bus.create ~schema:(module Trading) () in
  let echo =
    M.Actor.make ~on_start:(fun () -> ())
      [ M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) -> M.reply C.heartbeat { h with sender = "ocaml-echo" }) ]
  in
  let e = M.spawn bus echo () ~service:"ocaml-echo" in
  (* Errors first: an unknown node, a missing file. *)
  ignore (expect_error "unknown node" M.Invalid_argument (fun () -> M.Node.join bus ~topology ~node:"nobody"));
  ignore
    (expect_error "missing topology" M.Invalid_argument (fun () ->
         M.Node.join bus ~topology:(Filename.concat dir "missing.toml") ~node:"ocaml"));
  let node = M.Node.join bus ~topology ~node:"ocaml" in
  let to_child_r, to_child_w = Unix.pipe ~cloexec:true () in
  let from_child_r, from_child_w = Unix.pipe ~cloexec:true () in
  let pid =
    Unix.create_process Sys.executable_name [| Sys.executable_name; "peer"; topology |] to_child_r
      from_child_w Unix.stderr
  in
  Unix.close to_child_r;
  Unix.close from_child_w;
  let to_child = Unix.out_channel_of_descr to_child_w in
  let from_child = Unix.in_channel_of_descr from_child_r in
  let line () = try input_line from_child with End_of_file -> "<the peer exited>" in
  check_eq "peer ready" (fun s -> s) "ready" (line ());
  check "counter is remote" (M.Node.is_remote node "counter");
  check "ocaml-echo is local" (not (M.Node.is_remote node "ocaml-echo"));
  (* OCaml node -> Rust actor in the other process. *)
  let r = M.Node.ask ~timeout_ms:limit node "counter" C.heartbeat (hb 5L) C.heartbeat in
  check_eq "remote Rust counter" Int64.to_string 5L r.seq;
  M.Node.tell node "counter" C.heartbeat (hb 10L);
  let r = M.Node.ask ~timeout_ms:limit node "counter" C.heartbeat (hb 1L) C.heartbeat in
  check_eq "a tell crossed before the ask" Int64.to_string 16L r.seq;
  (* A local service through the node. *)
  let r = M.Node.ask node "ocaml-echo" C.heartbeat (hb 3L) C.heartbeat in
  check_eq "local through the node" (fun s -> s) "ocaml-echo" r.sender;
  (* The same kind as the same mistake on one bus: Wrong_type, not Failed. *)
  let msg = expect_error "wrong type to a remote service" M.Wrong_type (fun () ->
      M.Node.ask ~timeout_ms:limit node "counter" C.quote
        { ts_ns = 1L; instrument = 1; bid_px = 1.; bid_qty = 1.; ask_px = 1.; ask_qty = 1. } C.heartbeat) in
  check ("names the type: " ^ msg) (contains msg "does not accept type id 100");
  (* The other process asks the OCaml actor here. *)
  output_string to_child "ask\n";
  flush to_child;
  check_eq "remote node asked the OCaml actor" (fun s -> s) "41 ocaml-echo" (line ());
  (* Topics across the link: the peer forwards heartbeats; this node subscribes to "hb.*"
     there, for an OCaml actor here that keeps the last one (and answers a quote with it). *)
  let last =
    M.Actor.make ~on_start:(fun () -> ref 0L)
      [
        M.Actor.on C.heartbeat (fun last (h : Trading.heartbeat) ->
            last := h.seq;
            M.no_reply);
        M.Actor.on C.quote (fun last _ -> M.reply C.heartbeat (hb !last));
      ]
  in
  let l = M.spawn bus last () ~service:"last-heartbeat" in
  let sub = M.subscribe l C.heartbeat "hb.*" in
  ignore
    (expect_error "bad remote pattern" M.Invalid_argument (fun () ->
         M.Node.subscribe_remote node C.heartbeat "hb.*.x"));
  M.Node.subscribe_remote node C.heartbeat "hb.*";
  (* An ask over the link after the subscription: once answered, the peer serves it. *)
  ignore (M.Node.ask ~timeout_ms:limit node "counter" C.heartbeat (hb 0L) C.heartbeat);
  output_string to_child "publish\n";
  flush to_child;
  check_eq "published once, to the link" (fun s -> s) "1 ocaml-echo" (line ());
  let q : Trading.quote = { ts_ns = 0L; instrument = 0; bid_px = 0.; bid_qty = 0.; ask_px = 0.; ask_qty = 0. } in
  let r = M.ask bus "last-heartbeat" C.quote q C.heartbeat in
  check_eq "the peer's publication reached the OCaml subscriber" Int64.to_string 77L r.seq;
  (* Withdrawn: once an ask over the link is answered, the peer forwards nothing more. *)
  M.Node.unsubscribe_remote node C.heartbeat "hb.*";
  ignore (M.Node.ask ~timeout_ms:limit node "counter" C.heartbeat (hb 0L) C.heartbeat);
  output_string to_child "publish\n";
  flush to_child;
  check_eq "published to nobody after the unsubscription" (fun s -> s) "0 ocaml-echo" (line ());
  M.unsubscribe sub;
  M.Actor_ref.free l;
  close_out to_child;
  let _, status = Unix.waitpid [] pid in
  check "peer exited cleanly" (status = Unix.WEXITED 0);
  close_in from_child;
  M.Node.leave node;
  M.Actor_ref.free e;
  M.Bus.close bus;
  Array.iter (fun f -> Sys.remove (Filename.concat dir f)) (Sys.readdir dir);
  Unix.rmdir dir;
  gave_up ();
  check_eq "no roots left" string_of_int 0 (M.live_roots ());
  finish "test_node"

let () =
  match Sys.argv with
  | [| _; "peer"; topology |] -> peer topology
  | _ -> main ()
