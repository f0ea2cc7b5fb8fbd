(* An OCaml actor's timers on a virtual-time bus: a periodic and two one-shot timers set in
   on_start fire at their bus times, in order; a cancelled interval sends nothing more; what
   cannot be a timer's message is refused with the reason; a recorded actor's timers replay
   with every output as recorded. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let note = M.Contract.plain "note"

(* Every 10 ms "interval", at 25 ms "once"; at 40 ms it cancels the interval and sets "last"
   20 ms later; answers each tick with its bus time, and signals [finished] at "last". *)
let ticker bus seen finished =
  M.Actor.make
    ~on_start:(fun () ->
      let interval = M.Actor.send_interval C.heartbeat (hb ~sender:"interval" 0L) ~ms:10 in
      ignore (M.Actor.send_after C.heartbeat (hb ~sender:"once" 1L) ~ms:25);
      interval)
    [
      M.Actor.on C.heartbeat (fun interval (h : Trading.heartbeat) ->
          let ms = Int64.to_int (Int64.div (M.Bus.now_ns bus) 1_000_000L) in
          seen := (ms, h.sender) :: !seen;
          if ms >= 40 && h.sender = "interval" then (
            M.Actor.cancel interval;
            check "cancelled" (not (M.Actor.is_active interval));
            ignore (M.Actor.send_after C.heartbeat (hb ~sender:"last" 2L) ~ms:20));
          if h.sender = "last" then finished ();
          M.reply C.heartbeat (hb ~sender:"ticker" (Int64.of_int ms)));
    ]

let expected =
  [ (10, "interval"); (20, "interval"); (25, "once"); (30, "interval"); (40, "interval"); (60, "last") ]

(* Runs the ticker on a fresh virtual-time bus (recorded into [record] if given) until its last
   timer; what it saw. *)
let run ?record () =
  let bus = M.Bus.create ~virtual_time:true () in
  let seen = ref [] in
  let m = Mutex.create () and c = Condition.create () and finished = ref false in
  let finish () =
    Mutex.lock m;
    finished := true;
    Condition.signal c;
    Mutex.unlock m
  in
  let a = M.spawn bus (ticker bus seen finish) () ?record ~record_as:"Ticker" in
  Mutex.lock m;
  while not !finished do
    Condition.wait c m
  done;
  Mutex.unlock m;
  M.Actor_ref.free a;
  M.Bus.shutdown bus;
  M.Bus.close bus;
  List.rev !seen

let () =
  let show l = String.concat "; " (List.map (fun (ms, s) -> Printf.sprintf "%d %s" ms s) l) in
  check_eq "the timers fire at their bus times, in order" show expected (run ());
  check_eq "and again, the same" show expected (run ());
  (* What cannot be a timer's message, and a timer set outside an actor. *)
  ignore
    (expect_error "outside an actor" M.Invalid_argument (fun () ->
         M.Actor.send_after C.heartbeat (hb 1L) ~ms:1));
  let bus = M.Bus.create ~virtual_time:true () in
  let errors = ref [] in
  let attempt what kind f = errors := (what, expect_error what kind f) :: !errors in
  let careful =
    M.Actor.make
      ~on_start:(fun () ->
        attempt "a negative delay" M.Invalid_argument (fun () ->
            M.Actor.send_after C.heartbeat (hb 1L) ~ms:(-1));
        attempt "a zero period" M.Invalid_argument (fun () ->
            M.Actor.send_interval C.heartbeat (hb 1L) ~ms:0);
        attempt "a plain value" M.Wrong_type (fun () -> M.Actor.send_after note "hi" ~ms:1);
        attempt "a message with no handler" M.Wrong_type (fun () ->
            M.Actor.send_after C.quote
              { ts_ns = 0L; instrument = 1; bid_px = 1.; bid_qty = 1.; ask_px = 2.; ask_qty = 1. }
              ~ms:1))
      [ M.Actor.on C.heartbeat (fun () _ -> M.no_reply) ]
  in
  let a = M.spawn bus careful () in
  check "four refusals" (List.length !errors = 4);
  check "the no-handler refusal names the message"
    (contains (List.assoc "a message with no handler" !errors) "no handler of");
  M.Actor_ref.free a;
  M.Bus.close bus;
  (* Recorded, then replayed: the timers fire again, every output as recorded. *)
  let dir =
    Filename.concat (Filename.get_temp_dir_name ()) (Printf.sprintf "myc-timers-%d" (Unix.getpid ()))
  in
  let rec_ = M.Recorder.create dir in
  check_eq "recorded, as unrecorded" show expected (run ~record:rec_ ());
  M.Recorder.close rec_;
  M.Recorder.free rec_;
  let bus = M.Bus.create ~virtual_time:true () in
  let seen = ref [] in
  let report = M.Replay.run bus (ticker bus seen ignore) () ~journal:dir ~actor:1 in
  check ("replayed unchanged: " ^ report.text) (M.Replay.same report);
  check_eq "every timer input replayed" string_of_int 6 report.inputs;
  M.Bus.shutdown bus;
  M.Bus.close bus;
  Array.iter (fun f -> Sys.remove (Filename.concat dir f)) (Sys.readdir dir);
  Sys.rmdir dir;
  finish "test_timers"
