(* On a virtual-time bus the clock stands still while an OCaml handler runs and moves while
   it waits on the bus: a handler that asks an actor during its restart backoff hears from
   it once the backoff has passed in bus time, and a timeout passes in bus time. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let () =
  let bus = M.Bus.create ~virtual_time:true () in
  let venue =
    M.Actor.make
      ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
            if h.sender = "boom" then failwith "venue refuses";
            M.reply C.heartbeat h);
      ]
  in
  let sup =
    M.Supervisor.start bus ~backoff_initial_ms:500 ~backoff_factor:1.0 ~backoff_cap_ms:500
      [ M.Supervisor.actor "venue" venue () ~service:"venue" ]
  in
  let times = ref [] in
  let trader =
    M.Actor.make
      ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (_ : Trading.heartbeat) ->
            let asked = M.Bus.now_ns bus in
            ignore
              (expect_error "the venue fails" M.Failed (fun () ->
                   M.ask bus "venue" C.heartbeat (hb ~sender:"boom" 1L) C.heartbeat));
            let failed = M.Bus.now_ns bus in
            (* Restarting for half a second: a quarter-second timeout passes first... *)
            ignore
              (expect_error "the ask times out" M.Timeout (fun () ->
                   M.ask ~timeout_ms:250 bus "venue" C.heartbeat (hb 9L) C.heartbeat));
            let timed_out = M.Bus.now_ns bus in
            (* ...and the next ask is answered by the restarted venue. *)
            let r = M.ask bus "venue" C.heartbeat (hb 8L) C.heartbeat in
            check_eq "the restarted venue answers" Int64.to_string 8L r.seq;
            let answered = M.Bus.now_ns bus in
            times := [ Int64.sub failed asked; Int64.sub timed_out asked; Int64.sub answered asked ];
            M.reply C.heartbeat (hb 1L));
      ]
  in
  let t = M.spawn bus trader () in
  ignore (M.Actor_ref.ask t C.heartbeat (hb 1L) C.heartbeat);
  (match !times with
   | [ held; timeout; answer ] ->
       check_eq "the clock held still while the handler ran" Int64.to_string 0L held;
       check_eq "the timeout passed in bus time" Int64.to_string 250_000_000L timeout;
       check_eq "the answer came after the backoff" Int64.to_string 500_000_000L answer
   | _ -> check "the handler ran" false);
  M.Actor_ref.free t;
  M.Supervisor.stop sup;
  M.Bus.close bus;
  finish "test_virtual_waits"
