(* A recorded OCaml actor: its journal holds its start, each message it handles (the contract
   type id and bytes), each answer, its failure and stop, read back byte for byte as
   docs/journal.md lays a journal out; an actor of plain values is refused. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let u16 s o = Char.code s.[o] lor (Char.code s.[o + 1] lsl 8)
let u32 s o = u16 s o lor (u16 s (o + 2) lsl 16)

(* The records of the journal in [dir]: (kind, contract type id, payload), in order. *)
let records dir =
  let segments =
    Sys.readdir dir |> Array.to_list
    |> List.filter (fun f -> Filename.check_suffix f ".journal")
    |> List.sort compare
  in
  List.concat_map
    (fun f ->
      let ic = open_in_bin (Filename.concat dir f) in
      let s = really_input_string ic (in_channel_length ic) in
      close_in ic;
      let rec go o acc =
        if o + 12 > String.length s then List.rev acc
        else
          let len = u32 s o in
          let body = String.sub s (o + 12) len in
          let name_len = u16 body 54 and topic_len = u16 body 56 in
          let payload_at = 58 + name_len + topic_len in
          let payload = String.sub body payload_at (len - payload_at) in
          go (o + 12 + len) ((Char.code body.[0], u16 body 52, payload) :: acc)
      in
      go (u32 s 12) [])
    segments

let () =
  let dir = Filename.concat (Filename.get_temp_dir_name ()) (Printf.sprintf "myc-rec-%d" (Unix.getpid ())) in
  let bus = M.Bus.create () in
  let rec_ = M.Recorder.create dir in
  let counter =
    M.Actor.make
      ~on_start:(fun first -> ref first)
      [
        M.Actor.on C.heartbeat (fun total (h : Trading.heartbeat) ->
            if h.seq = 13L then failwith "unlucky 13";
            total := Int64.add !total h.seq;
            M.reply C.heartbeat (hb ~sender:"ocaml" !total));
      ]
  in
  let a = M.spawn bus counter 10L ~record:rec_ ~record_as:"Counter" in
  let r = M.Actor_ref.ask a C.heartbeat (hb 5L) C.heartbeat in
  check_eq "answered while recorded" Int64.to_string 15L r.seq;
  M.Actor_ref.tell a C.heartbeat (hb 2L);
  ignore (expect_error "a failure while recorded" M.Failed (fun () -> M.Actor_ref.ask a C.heartbeat (hb 13L) C.heartbeat));
  M.Actor_ref.free a;
  (* Plain values have no encoding a journal can hold: refused when recording is asked for. *)
  let plain : int M.Contract.t = M.Contract.plain "count" in
  let of_plain = M.Actor.make ~on_start:(fun () -> ()) [ M.Actor.on plain (fun () _ -> M.no_reply) ] in
  (match M.spawn bus of_plain () ~record:rec_ with
  | _ -> check "an actor of plain values is refused" false
  | exception M.Error (M.Invalid_argument, msg) ->
      check "the refusal says why" (contains msg "plain OCaml values"));
  M.Bus.shutdown bus;
  M.Bus.close bus;
  M.Recorder.close rec_;
  M.Recorder.free rec_;
  let got = records dir in
  let kinds = List.map (fun (k, _, _) -> k) got in
  (* started, handled, replied, handled (tell), handled (the failing ask), failed, stopped *)
  check_eq "kinds" (fun l -> String.concat "," (List.map string_of_int l)) [ 7; 1; 4; 1; 1; 8; 10 ] kinds;
  (match got with
  | (_, _, _) :: (_, id, body) :: (_, reply_id, reply) :: _ ->
      check_eq "handled type id" string_of_int 900 id;
      check_eq "handled bytes" (fun s -> s) (M.Contract.encode C.heartbeat (hb 5L)) body;
      check_eq "reply type id" string_of_int 900 reply_id;
      check_eq "reply bytes" (fun s -> s) (M.Contract.encode C.heartbeat (hb ~sender:"ocaml" 15L)) reply
  | _ -> check "records" false);
  Array.iter (fun f -> Sys.remove (Filename.concat dir f)) (Sys.readdir dir);
  Sys.rmdir dir;
  (* With the schema, the journal's header carries its digest and canonical text. *)
  let dir = dir ^ "-schema" in
  let rec_ = M.Recorder.create dir ~schema:(Trading.schema_digest, Trading.schema_canonical) in
  M.Recorder.close rec_;
  M.Recorder.free rec_;
  let segment =
    Sys.readdir dir |> Array.to_list
    |> List.filter (fun f -> Filename.check_suffix f ".journal")
    |> List.hd
  in
  let ic = open_in_bin (Filename.concat dir segment) in
  let h = really_input_string ic (in_channel_length ic) in
  close_in ic;
  let hex = String.concat "" (List.init 32 (fun i -> Printf.sprintf "%02x" (Char.code h.[40 + i]))) in
  check_eq "the header's digest" (fun s -> s) Trading.schema_digest hex;
  let node_len = u16 h 72 in
  let text_len = u32 h (74 + node_len) in
  check_eq "the header's schema text" (fun s -> s) Trading.schema_canonical
    (String.sub h (78 + node_len) text_len);
  Array.iter (fun f -> Sys.remove (Filename.concat dir f)) (Sys.readdir dir);
  Sys.rmdir dir;
  (match M.Recorder.create (dir ^ "-bad") ~schema:("12ab", Trading.schema_canonical) with
  | _ -> check "a digest that is not 64 hex digits is refused" false
  | exception M.Error (M.Invalid_argument, msg) ->
      check "the refusal names the digest" (contains msg "64 hex digits"));
  (match M.Recorder.create (dir ^ "-bad") ~schema:(String.make 64 '0', Trading.schema_canonical) with
  | _ -> check "a text of another digest is refused" false
  | exception M.Error (M.Invalid_argument, msg) ->
      check "the refusal says the text is not the digest's" (contains msg "is not the one of digest"));
  finish "test_recording"
