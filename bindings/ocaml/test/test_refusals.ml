(* Mistakes refused at the call: a message type the actor has no handler for (through its
   handle, as by service name), a timeout that is not positive, a reply contract whose decode
   raises. Each leaves the actor running. *)
open Check
module M = Mycelium
module C = Trading.Contracts (M.Contract)

let echo =
  M.Actor.make ~on_start:(fun () -> ())
    [ M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) -> M.reply C.heartbeat h) ]

(* A contract of a type the echo has no handler for (its bytes never matter: refused first). *)
let other = M.Contract.make ~schema:(module Trading) ~name:"Other" ~type_id:(M.Contract.type_id C.telemetry) ~encode:(fun () -> "") ~decode:(fun _ -> ())

let fragile =
  M.Contract.make ~schema:(module Trading) ~name:"Fragile" ~type_id:(M.Contract.type_id C.heartbeat) ~encode:Trading.encode_heartbeat
    ~decode:(fun _ -> failwith "fragile decode")

let still_answers what bus a =
  check (what ^ ": alive") (M.Actor_ref.is_alive a);
  let r = M.Actor_ref.ask a C.heartbeat (hb 3L) C.heartbeat in
  check_eq (what ^ ": answers") Int64.to_string 3L r.seq;
  let r = M.ask bus "echo" C.heartbeat (hb 4L) C.heartbeat in
  check_eq (what ^ ": answers by name") Int64.to_string 4L r.seq

let () =
  let bus = M.Bus.create () in
  let a = M.spawn bus echo () ~service:"echo" in
  (* By name, the mistake was always refused up front. *)
  ignore (expect_error "tell by name, no handler" M.Wrong_type (fun () -> M.tell bus "echo" other ()));
  (* Through the handle: refused too, naming the type and the actor; the actor lives on. *)
  let msg = expect_error "tell by handle, no handler" M.Wrong_type (fun () -> M.Actor_ref.tell a other ()) in
  check ("the refusal names the type: " ^ msg) (contains msg "Other");
  check ("the refusal names the actor: " ^ msg) (contains msg "echo");
  still_answers "after a refused tell" bus a;
  ignore
    (expect_error "ask by handle, no handler" M.Wrong_type (fun () ->
         M.Actor_ref.ask a other () C.heartbeat));
  still_answers "after a refused ask" bus a;
  (* An unexported actor is named too. *)
  let b = M.spawn bus echo () in
  let msg = expect_error "tell an unnamed actor" M.Wrong_type (fun () -> M.Actor_ref.tell b other ()) in
  check ("the refusal names the type: " ^ msg) (contains msg "Other");
  check "the unnamed actor lives on" (M.Actor_ref.is_alive b);
  M.Actor_ref.free b;
  (* A supervisor's child: refused, and not restarted. *)
  let sup = M.Supervisor.start bus [ M.Supervisor.actor "kid" echo () ] in
  let kid = M.Supervisor.child sup "kid" in
  let msg = expect_error "tell a child" M.Wrong_type (fun () -> M.Actor_ref.tell kid other ()) in
  check ("the refusal names the child: " ^ msg) (contains msg "kid");
  let r = M.Actor_ref.ask kid C.heartbeat (hb 5L) C.heartbeat in
  check_eq "the child answers" Int64.to_string 5L r.seq;
  check_eq "the child never restarted" string_of_int 0 (M.Supervisor.restarts sup);
  M.Actor_ref.free kid;
  M.Supervisor.stop sup;
  (* Timeouts must be positive. *)
  List.iter
    (fun ms ->
      let what = Printf.sprintf "timeout_ms %d" ms in
      let m1 =
        expect_error (what ^ " by handle") M.Invalid_argument (fun () ->
            M.Actor_ref.ask ~timeout_ms:ms a C.heartbeat (hb 1L) C.heartbeat)
      in
      let m2 =
        expect_error (what ^ " by name") M.Invalid_argument (fun () ->
            M.ask ~timeout_ms:ms bus "echo" C.heartbeat (hb 1L) C.heartbeat)
      in
      check (what ^ " is named: " ^ m1) (contains m1 "timeout_ms");
      check (what ^ " is named: " ^ m2) (contains m2 "timeout_ms"))
    [ 0; -1; -500 ];
  let r = M.ask ~timeout_ms:10_000 bus "echo" C.heartbeat (hb 6L) C.heartbeat in
  check_eq "a positive timeout" Int64.to_string 6L r.seq;
  (* A reply contract whose decode raises: a Mycelium.Error naming the contract and the
     exception, not the raw exception. *)
  let check_fragile what f =
    match f () with
    | _ -> check (what ^ ": no error") false
    | exception M.Error (M.Wrong_type, msg) ->
        check (what ^ " names the contract: " ^ msg) (contains msg "Fragile");
        check (what ^ " names the exception: " ^ msg) (contains msg "fragile decode")
    | exception e -> check (what ^ ": raw exception " ^ Printexc.to_string e) false
  in
  check_fragile "decode raises, by handle" (fun () -> M.Actor_ref.ask a C.heartbeat (hb 1L) fragile);
  check_fragile "decode raises, by name" (fun () -> M.ask bus "echo" C.heartbeat (hb 1L) fragile);
  still_answers "after the raising decodes" bus a;
  (* A handler that answers an ask with no_reply: Wrong_type, by name as through the handle,
     naming the request's type; the actor lives on. *)
  let mute =
    M.Actor.make ~on_start:(fun () -> ()) [ M.Actor.on C.heartbeat (fun () _ -> M.no_reply) ]
  in
  let m = M.spawn bus mute () ~service:"mute" in
  let msg =
    expect_error "no_reply, by name" M.Wrong_type (fun () ->
        M.ask bus "mute" C.heartbeat (hb 1L) C.heartbeat)
  in
  check ("no_reply by name names the type: " ^ msg) (contains msg "Heartbeat");
  let msg =
    expect_error "no_reply, by handle" M.Wrong_type (fun () ->
        M.Actor_ref.ask m C.heartbeat (hb 1L) C.heartbeat)
  in
  check ("no_reply by handle names the type: " ^ msg) (contains msg "Heartbeat");
  check "the mute actor lives on" (M.Actor_ref.is_alive m);
  (* A handler that asks its own actor (by handle or by name) is refused at once: the ask
     would wait for that very handler. Asked through the mailbox (a tell) and directly. *)
  let me = ref None in
  let answers = ref [] in
  let selfish =
    M.Actor.make ~on_start:(fun () -> ())
      [
        M.Actor.on C.heartbeat (fun () (h : Trading.heartbeat) ->
            if h.sender = "outer" then begin
              let by_handle () = M.Actor_ref.ask (Option.get !me) C.heartbeat (hb 2L) C.heartbeat in
              let by_name () = M.ask bus "selfish" C.heartbeat (hb 2L) C.heartbeat in
              List.iter
                (fun ask ->
                  match ask () with
                  | _ -> answers := "answered" :: !answers
                  | exception M.Error (k, msg) ->
                      answers := (M.error_name k ^ ": " ^ msg) :: !answers)
                [ by_handle; by_name ]
            end;
            M.reply C.heartbeat h);
      ]
  in
  let s = M.spawn bus selfish () ~service:"selfish" in
  me := Some s;
  ignore (M.Actor_ref.ask s C.heartbeat (hb ~sender:"outer" 1L) C.heartbeat);
  ignore (M.ask bus "selfish" C.heartbeat (hb ~sender:"outer" 1L) C.heartbeat);
  check_eq "four self-asks refused" string_of_int 4 (List.length !answers);
  List.iter
    (fun a -> check ("a self-ask is refused saying why: " ^ a) (contains a "asked from its own handler"))
    !answers;
  M.Actor_ref.free s;
  M.tell bus "mute" C.heartbeat (hb 2L);
  M.Actor_ref.free m;
  M.Actor_ref.free a;
  M.Bus.close bus;
  (* Subscribing an actor of a closed bus: the closed-bus error, not a dead subscription. *)
  let bus = M.Bus.create () in
  let a = M.spawn bus echo () in
  M.Bus.close bus;
  ignore
    (expect_error "subscribe on a closed bus" M.Invalid_argument (fun () ->
         M.subscribe a C.heartbeat "beats"));
  M.Actor_ref.free a;
  finish "test_refusals"
