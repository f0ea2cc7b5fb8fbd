(* Replaying a recorded OCaml actor on a virtual-time bus: unchanged, every output as
   recorded; changed, each input whose answer differs reported (first difference, or every
   one), as text and CSV; a real-time bus and a missing actor refused with the reason. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let u16 s o = Char.code s.[o] lor (Char.code s.[o + 1] lsl 8)
let u32 s o = u16 s o lor (u16 s (o + 2) lsl 16)

(* The number of the first actor the journal in [dir] records as started, read from its
   bytes: what [Actor_ref.number] must give. *)
let first_started dir =
  let f =
    Sys.readdir dir |> Array.to_list
    |> List.filter (fun f -> Filename.check_suffix f ".journal")
    |> List.sort compare |> List.hd
  in
  let ic = open_in_bin (Filename.concat dir f) in
  let s = really_input_string ic (in_channel_length ic) in
  close_in ic;
  let rec go o =
    let len = u32 s o in
    let body = String.sub s (o + 12) len in
    if Char.code body.[0] = 7 then u32 body 24 else go (o + 12 + len)
  in
  go (u32 s 12)

(* Adds up the seqs it is sent, [factor] times each above 4; answers the total. *)
let counter factor =
  M.Actor.make
    ~on_start:(fun first -> ref first)
    [
      M.Actor.on C.heartbeat (fun total (h : Trading.heartbeat) ->
          if h.seq = 13L then failwith "unlucky 13";
          let n = if h.seq > 4L then Int64.mul factor h.seq else h.seq in
          total := Int64.add !total n;
          M.reply C.heartbeat (hb ~sender:"ocaml" !total));
    ]

let () =
  let dir =
    Filename.concat (Filename.get_temp_dir_name ()) (Printf.sprintf "myc-replay-%d" (Unix.getpid ()))
  in
  let bus = M.Bus.create ~virtual_time:true () in
  let rec_ = M.Recorder.create dir in
  let a = M.spawn bus (counter 1L) 10L ~record:rec_ ~record_as:"Counter" in
  let actor = M.Actor_ref.number a in
  List.iter
    (fun seq -> ignore (M.Actor_ref.ask a C.heartbeat (hb seq) C.heartbeat))
    [ 3L; 5L; 2L; 7L ];
  M.Actor_ref.tell a C.heartbeat (hb 1L);
  (* Answered after the tell: the tell was handled before the recording closes. (A failure
     is recorded and replayed by the supervised child below.) *)
  ignore (M.Actor_ref.ask a C.heartbeat (hb 2L) C.heartbeat);
  M.Actor_ref.free a;
  M.Bus.shutdown bus;
  M.Bus.close bus;
  M.Recorder.close rec_;
  M.Recorder.free rec_;
  check_eq "the actor's number is the journal's" string_of_int (first_started dir) actor;
  let replay ?mode factor =
    let bus = M.Bus.create ~virtual_time:true () in
    let report = M.Replay.run ?mode bus (counter factor) 10L ~journal:dir ~actor in
    M.Bus.shutdown bus;
    M.Bus.close bus;
    report
  in
  (* Unchanged: every input replayed, every output as recorded. *)
  let same = replay 1L in
  check "unchanged: no difference" (M.Replay.same same);
  check_eq "inputs replayed" string_of_int 6 same.inputs;
  check "the text says so" (contains same.text "every output as recorded");
  (* Changed (seqs above 4 count twice): from the second ask on every answer differs. *)
  let first = replay 2L in
  (match first.differences with
  | [ d ] ->
      check_eq "the first difference is input 1" string_of_int 1 d.input;
      check "recorded answer" (contains d.recorded "replied");
      check "the answers differ" (d.recorded <> d.now)
  | l -> check (Printf.sprintf "one difference, not %d" (List.length l)) false);
  let every = replay ~mode:M.Replay.Compare 2L in
  check_eq "compare: every answer after it differs" string_of_int 4 (List.length every.differences);
  check "the CSV has a header" (contains every.csv "input,seq,time_ns,message,recorded,now,before");
  check_eq "the CSV has a row per difference" string_of_int 6
    (List.length (String.split_on_char '\n' every.csv));
  (* A real-time bus, and an actor the journal does not hold: refused with the reason. *)
  let live = M.Bus.create () in
  ignore
    (expect_error "a real-time bus" M.Invalid_argument (fun () ->
         M.Replay.run live (counter 1L) 10L ~journal:dir ~actor));
  M.Bus.shutdown live;
  M.Bus.close live;
  let bus = M.Bus.create ~virtual_time:true () in
  let msg =
    expect_error "an actor the journal does not hold" M.Invalid_argument (fun () ->
        M.Replay.run bus (counter 1L) 10L ~journal:dir ~actor:(actor + 40))
  in
  check ("the error names the actors it holds: " ^ msg) (contains msg "not in the journal");
  M.Bus.shutdown bus;
  M.Bus.close bus;
  (* A second process opens the journal again: its run numbers its actors anew, so its first
     actor has the number the first run's had, and each run replays alone. *)
  let bus = M.Bus.create ~virtual_time:true () in
  let rec_ = M.Recorder.create dir in
  let a = M.spawn bus (counter 1L) 100L ~record:rec_ ~record_as:"Counter" in
  check_eq "numbered anew" string_of_int actor (M.Actor_ref.number a);
  ignore (M.Actor_ref.ask a C.heartbeat (hb 1L) C.heartbeat);
  M.Actor_ref.free a;
  M.Bus.shutdown bus;
  M.Bus.close bus;
  M.Recorder.close rec_;
  M.Recorder.free rec_;
  let replay_run ?run first =
    let bus = M.Bus.create ~virtual_time:true () in
    let report = M.Replay.run ?run bus (counter 1L) first ~journal:dir ~actor in
    M.Bus.shutdown bus;
    M.Bus.close bus;
    report
  in
  let first_run = replay_run 10L in
  check "the first run by default, unchanged" (M.Replay.same first_run);
  check_eq "the first run's inputs only" string_of_int 6 first_run.inputs;
  let second = replay_run ~run:1 100L in
  check "the second run, unchanged" (M.Replay.same second);
  check_eq "the second run's inputs" string_of_int 1 second.inputs;
  check "the second run started from 10 differs" (not (M.Replay.same (replay_run ~run:1 10L)));
  let msg =
    expect_error "a run the journal does not hold" M.Invalid_argument (fun () -> replay_run ~run:2 10L)
  in
  check ("the error says how many runs it holds: " ^ msg) (contains msg "holds 2 run");
  Array.iter (fun f -> Sys.remove (Filename.concat dir f)) (Sys.readdir dir);
  Sys.rmdir dir;
  (* A supervised child recorded across a restart, replayed with its restart. *)
  let dir2 = dir ^ "-tree" in
  let bus = M.Bus.create ~virtual_time:true () in
  let rec_ = M.Recorder.create dir2 in
  let sup =
    M.Supervisor.start ~backoff_initial_ms:0 bus
      [ M.Supervisor.actor ~record:rec_ ~record_as:"Counter" "c" (counter 1L) 10L ]
  in
  let c = M.Supervisor.child sup "c" in
  ignore (M.Actor_ref.ask c C.heartbeat (hb 5L) C.heartbeat);
  ignore
    (expect_error "the child fails" M.Failed (fun () ->
         M.Actor_ref.ask c C.heartbeat (hb 13L) C.heartbeat));
  M.Supervisor.wait_restarts sup 1;
  let after = M.Actor_ref.ask c C.heartbeat (hb 6L) C.heartbeat in
  check_eq "restarted afresh" Int64.to_string 16L after.seq;
  let child = M.Actor_ref.number c in
  M.Supervisor.stop sup;
  M.Bus.shutdown bus;
  M.Bus.close bus;
  M.Recorder.close rec_;
  M.Recorder.free rec_;
  let bus = M.Bus.create ~virtual_time:true () in
  check_eq "a child's number, across its restart, is the journal's" string_of_int
    (first_started dir2) child;
  let tree = M.Replay.run bus (counter 1L) 10L ~journal:dir2 ~actor:child in
  M.Bus.shutdown bus;
  M.Bus.close bus;
  check (Printf.sprintf "a supervised child replays with its restart:\n%s" tree.text) (M.Replay.same tree);
  check_eq "its inputs" string_of_int 3 tree.inputs;
  Array.iter (fun f -> Sys.remove (Filename.concat dir2 f)) (Sys.readdir dir2);
  Sys.rmdir dir2;
  finish "test_replay"
