(* The OCaml side of the binding: typed wrappers over the C stubs (mycelium_stubs.h says
   which file holds what). The interface (mycelium.mli) documents the rules; this file keeps
   every exception out of the callbacks that the stubs run (each is caught and turned into a
   failure message). *)

(* The callbacks run on threads the stubs register with the OCaml runtime: the threads
   library must be initialised before the first one runs. *)
let () = ignore (Thread.self ())

type error =
  | Invalid_argument
  | Unknown_service
  | Wrong_type
  | Mailbox_full
  | Stopped
  | Failed
  | Timeout
  | Start_failed
  | Panic
  | Runtime

exception Error of error * string

let error_name = function
  | Invalid_argument -> "Invalid_argument"
  | Unknown_service -> "Unknown_service"
  | Wrong_type -> "Wrong_type"
  | Mailbox_full -> "Mailbox_full"
  | Stopped -> "Stopped"
  | Failed -> "Failed"
  | Timeout -> "Timeout"
  | Start_failed -> "Start_failed"
  | Panic -> "Panic"
  | Runtime -> "Runtime"

let () =
  Printexc.register_printer (function
    | Error (kind, msg) -> Some (Printf.sprintf "Mycelium.Error(%s, %S)" (error_name kind) msg)
    | _ -> None)

(* What the stubs raise: the C ABI's status code and message. *)
exception Raw_error of int * string

let () = Callback.register_exception "mycelium.raw_error" (Raw_error (0, ""))

let error_of_status = function
  | 1 -> Invalid_argument
  | 2 -> Unknown_service
  | 3 -> Wrong_type
  | 4 -> Mailbox_full
  | 5 -> Stopped
  | 6 -> Failed
  | 7 -> Timeout
  | 8 -> Start_failed
  | 9 -> Panic
  | _ -> Runtime

let checked f x =
  match f x with
  | v -> v
  | exception Raw_error (code, msg) -> raise (Error (error_of_status code, msg))

let invalid fmt = Printf.ksprintf (fun s -> raise (Error (Invalid_argument, s))) fmt

(* ---- Contract types ---------------------------------------------------------------- *)

module Contract = struct
  type 'a t = {
    name : string;
    type_id : int;
    encode : 'a -> string;
    decode : string -> 'a;
  }

  let make ~name ~type_id ~encode ~decode =
    if type_id < 0 || type_id > 0xFFFF then
      invalid "contract %s: type id %d is not a u16" name type_id;
    { name; type_id; encode; decode }

  let name c = c.name
  let type_id c = c.type_id
  let encode c v = c.encode v
  let decode c s = c.decode s

  let quote =
    make ~name:"Quote" ~type_id:100 ~encode:Trading.encode_quote ~decode:Trading.decode_quote

  let book_snapshot =
    make ~name:"BookSnapshot" ~type_id:101 ~encode:Trading.encode_book_snapshot
      ~decode:Trading.decode_book_snapshot

  let trade =
    make ~name:"Trade" ~type_id:110 ~encode:Trading.encode_trade ~decode:Trading.decode_trade

  let new_order =
    make ~name:"NewOrder" ~type_id:200 ~encode:Trading.encode_new_order
      ~decode:Trading.decode_new_order

  let cancel_order =
    make ~name:"CancelOrder" ~type_id:201 ~encode:Trading.encode_cancel_order
      ~decode:Trading.decode_cancel_order

  let order_ack =
    make ~name:"OrderAck" ~type_id:210 ~encode:Trading.encode_order_ack
      ~decode:Trading.decode_order_ack

  let order_fill =
    make ~name:"OrderFill" ~type_id:211 ~encode:Trading.encode_order_fill
      ~decode:Trading.decode_order_fill

  let order_reject =
    make ~name:"OrderReject" ~type_id:212 ~encode:Trading.encode_order_reject
      ~decode:Trading.decode_order_reject

  let heartbeat =
    make ~name:"Heartbeat" ~type_id:900 ~encode:Trading.encode_heartbeat
      ~decode:Trading.decode_heartbeat

  let telemetry =
    make ~name:"Telemetry" ~type_id:901 ~encode:Trading.encode_telemetry
      ~decode:Trading.decode_telemetry
end

(* Encodes for sending: an unencodable value is the caller's error. *)
let encode_arg (c : 'a Contract.t) v =
  match c.encode v with
  | s -> s
  | exception Trading.Wire.Encode_error detail ->
      invalid "%s cannot be encoded: %s" c.name detail

(* Decodes a reply: checks its type, then its bytes. *)
let decode_reply (c : 'r Contract.t) (type_id, body) =
  if type_id <> c.type_id then
    raise
      (Error
         ( Wrong_type,
           Printf.sprintf "expected a %s reply (type id %d), got type id %d" c.name c.type_id
             type_id ));
  match c.decode body with
  | v -> v
  | exception Trading.Wire.Decode_error (kind, detail) ->
      raise (Error (Wrong_type, Printf.sprintf "the %s reply does not decode: %s: %s" c.name kind detail))
  | exception (Out_of_memory | Stack_overflow as e) -> raise e
  | exception e ->
      (* A user contract's decode may raise anything: still a reply that does not decode. *)
      raise
        (Error
           ( Wrong_type,
             Printf.sprintf "the %s reply does not decode: %s's decode raised %s" c.name c.name
               (Printexc.to_string e) ))

(* Runs a raw ask of a [c]: a [Wrong_type] (no handler for it, or a handler that gave no
   reply) names the request's contract type. *)
let asking (c : 'a Contract.t) f x =
  match checked f x with
  | v -> v
  | exception Error (Wrong_type, msg) ->
      raise
        (Error (Wrong_type, Printf.sprintf "%s (the request: a %s, type id %d)" msg c.name c.type_id))

(* A timeout must be positive: zero or less is the caller's error, not "no timeout". *)
let timeout_arg what = function
  | None -> -1
  | Some ms when ms <= 0 -> invalid "%s: timeout_ms %d is not positive" what ms
  | Some ms -> ms

(* ---- Stubs ----------------------------------------------------------------------------- *)

type handle (* an abstract block holding a library pointer *)

(* The shapes the C stubs read (constructor order matters). *)
type handled = Done | Replied of int * string | Handle_failed of string
type instance = { i_handle : int -> string -> handled; i_stop : string -> unit }
type started = Started of instance | Start_failed_with of string
type definition = { d_start : unit -> started }

external bus_new : bool -> int64 -> handle = "myc_ml_bus_new"
external bus_shutdown : handle -> int -> unit = "myc_ml_bus_shutdown"
external bus_free : handle -> unit = "myc_ml_bus_free"
external bus_now_ns : handle -> int64 = "myc_ml_bus_now_ns"
external bus_dead_letters : handle -> int = "myc_ml_bus_dead_letters"
external bus_runtime_tasks : handle -> int = "myc_ml_bus_runtime_tasks"
external raw_tell : handle -> string -> int -> string -> unit = "myc_ml_tell"
external raw_ask : handle -> string -> int -> string -> int -> int * string = "myc_ml_ask"

external raw_publish : handle -> int -> string -> string -> int64 option -> int
  = "myc_ml_publish"

external raw_spawn_rust : handle -> string -> string option -> string -> unit
  = "myc_ml_spawn_rust"

external raw_measure : handle -> string -> int -> string -> int -> int array
  = "myc_ml_measure_asks"

external raw_measure_actor : handle -> int -> string -> int -> int array * int
  = "myc_ml_measure_actor_asks"

external live_roots : unit -> int = "myc_ml_live_roots"
external spawn_c_echo : handle -> handle = "myc_ml_spawn_c_echo"
external actor_spawn : handle -> definition -> bool -> handle = "myc_ml_actor_spawn"
external actor_export : handle -> string -> int array -> unit = "myc_ml_actor_export"
external actor_tell : handle -> int -> string -> unit = "myc_ml_actor_tell"
external actor_ask : handle -> int -> string -> int -> int * string = "myc_ml_actor_ask"
external actor_is_alive : handle -> bool = "myc_ml_actor_is_alive"
external actor_stop : handle -> unit = "myc_ml_actor_stop"
external actor_free : handle -> unit = "myc_ml_actor_free"
external actor_subscribe : handle -> int -> string -> handle = "myc_ml_actor_subscribe"
external subscription_free : handle -> unit = "myc_ml_subscription_free"

external tree_new : int -> int -> int -> int -> float -> int -> handle
  = "myc_ml_tree_new_bytecode" "myc_ml_tree_new"

external tree_add_foreign :
  handle -> string -> definition -> string option -> int array -> bool -> unit
  = "myc_ml_tree_add_foreign_bytecode" "myc_ml_tree_add_foreign"

external tree_add_rust : handle -> string -> string -> string option -> string option -> unit
  = "myc_ml_tree_add_rust"

external tree_free : handle -> unit = "myc_ml_tree_free"
external tree_start : handle -> handle -> handle = "myc_ml_tree_start"
external supervisor_child : handle -> string -> handle = "myc_ml_supervisor_child"
external supervisor_restarts : handle -> string option -> int = "myc_ml_supervisor_restarts"

external supervisor_wait_restarts : handle -> string option -> int -> unit
  = "myc_ml_supervisor_wait_restarts"

external supervisor_free : handle -> unit = "myc_ml_supervisor_free"
external node_start : handle -> string -> string -> handle = "myc_ml_node_start"
external node_is_remote : handle -> string -> bool = "myc_ml_node_is_remote"
external node_tell : handle -> string -> int -> string -> unit = "myc_ml_node_tell"
external node_ask : handle -> string -> int -> string -> int -> int * string = "myc_ml_node_ask"
external node_forward_topic : handle -> int -> unit = "myc_ml_node_forward_topic"
external node_subscribe_remote : handle -> int -> string -> unit = "myc_ml_node_subscribe_remote"
external node_unsubscribe_remote : handle -> int -> string -> unit
  = "myc_ml_node_unsubscribe_remote"
external node_free : handle -> unit = "myc_ml_node_free"

(* Names cross into C as NUL-terminated strings: refuse an embedded NUL rather than cut. *)
let name what s =
  if String.contains s '\000' then invalid "%s %S contains a NUL byte" what s;
  s

(* ---- Buses ------------------------------------------------------------------------- *)

type bus = handle

module Bus = struct
  let create ?(virtual_time = false) ?(seed = 0L) () = checked (bus_new virtual_time) seed

  let shutdown ?(timeout_ms = 5000) bus =
    if timeout_ms < 0 then invalid "Bus.shutdown: timeout_ms %d is negative" timeout_ms;
    checked (bus_shutdown bus) timeout_ms

  let close bus = checked bus_free bus
  let now_ns bus = checked bus_now_ns bus
  let dead_letters bus = checked bus_dead_letters bus
  let runtime_tasks bus = checked bus_runtime_tasks bus
end

(* ---- Actors ------------------------------------------------------------------------ *)

type reply = handled

let reply (c : 'a Contract.t) v =
  match c.encode v with
  | body -> Replied (c.type_id, body)
  | exception Trading.Wire.Encode_error detail ->
      Handle_failed (Printf.sprintf "the %s reply cannot be encoded: %s" c.name detail)

let no_reply = Done
let fail msg = Handle_failed msg

let describe_exn e = Printf.sprintf "OCaml exception: %s" (Printexc.to_string e)

module Actor = struct
  type 'state handler = { h_type_id : int; h_run : 'state -> string -> handled }

  let on (c : 'a Contract.t) f =
    {
      h_type_id = c.type_id;
      h_run =
        (fun state body ->
          match c.decode body with
          | exception Trading.Wire.Decode_error (kind, detail) ->
              Handle_failed (Printf.sprintf "a %s that does not decode: %s: %s" c.name kind detail)
          | exception e ->
              Handle_failed
                (Printf.sprintf "a %s that does not decode: %s's decode raised %s" c.name c.name
                   (Printexc.to_string e))
          | msg -> f state msg);
    }

  type ('args, 'state) t = {
    on_start : 'args -> 'state;
    on_stop : 'state -> string -> unit;
    handlers : (int, 'state -> string -> handled) Hashtbl.t;
    ids : int list;
  }

  let make ?(on_stop = fun _ _ -> ()) ~on_start handlers =
    let table = Hashtbl.create 8 in
    let ids =
      List.fold_left
        (fun ids h ->
          if Hashtbl.mem table h.h_type_id then ids
          else (
            Hashtbl.add table h.h_type_id h.h_run;
            h.h_type_id :: ids))
        [] handlers
    in
    { on_start; on_stop; handlers = table; ids = List.rev ids }

  let type_ids d = d.ids

  (* The closures the stubs call: none raises. *)
  let definition (d : ('args, 'state) t) (args : 'args) : definition =
    let start () =
      match d.on_start args with
      | exception e -> Start_failed_with (describe_exn e)
      | state ->
          let handle type_id body =
            match Hashtbl.find_opt d.handlers type_id with
            | None -> Handle_failed (Printf.sprintf "no handler for type id %d" type_id)
            | Some run -> ( try run state body with e -> Handle_failed (describe_exn e))
          in
          let stop reason = try d.on_stop state reason with _ -> () in
          Started { i_handle = handle; i_stop = stop }
    in
    { d_start = start }
end

(* The handle, with the type ids its definition handles (what a tell or an ask through the
   handle is checked against; [None] for a C actor) and a name for error messages. *)
type actor = { a : handle; accepts : int list option; mutable label : string }

module Actor_ref = struct
  let export actor service ids =
    let service = name "service" service in
    List.iter
      (fun id -> if id < 0 || id > 0xFFFF then invalid "type id %d is not a u16" id)
      ids;
    checked (actor_export actor.a service) (Array.of_list ids);
    if actor.label = "" then actor.label <- Printf.sprintf "actor %S" service

  (* A message the definition has no handler for would fail (and stop) the actor: refuse it
     at the call, as a tell or an ask by service name does. *)
  let accepts what actor (c : 'a Contract.t) =
    match actor.accepts with
    | Some ids when not (List.mem c.type_id ids) ->
      raise
        (Error
           ( Wrong_type,
             Printf.sprintf "%s: %s has no handler for %s (type id %d); it handles type ids [%s]"
               what
               (if actor.label = "" then "the actor" else actor.label)
               c.name c.type_id
               (String.concat "; " (List.map string_of_int ids)) ))
    | _ -> ()

  let tell actor (c : 'a Contract.t) v =
    accepts "Actor_ref.tell" actor c;
    checked (actor_tell actor.a c.type_id) (encode_arg c v)

  let ask ?timeout_ms actor (c : 'a Contract.t) v (r : 'r Contract.t) =
    let timeout = timeout_arg "Actor_ref.ask" timeout_ms in
    accepts "Actor_ref.ask" actor c;
    let answer = asking c (actor_ask actor.a c.type_id (encode_arg c v)) timeout in
    decode_reply r answer

  let is_alive actor = checked actor_is_alive actor.a
  let stop actor = checked actor_stop actor.a
  let free actor = checked actor_free actor.a
end

let spawn ?service ?(hibernate = false) bus (d : ('args, 'state) Actor.t) args =
  let a = checked (fun def -> actor_spawn bus def hibernate) (Actor.definition d args) in
  let actor = { a; accepts = Some d.ids; label = "" } in
  (match service with
  | None -> ()
  | Some s -> (
      try Actor_ref.export actor s d.ids
      with e ->
        Actor_ref.free actor;
        raise e));
  actor

(* ---- Services and topics ----------------------------------------------------------- *)

let tell bus service (c : 'a Contract.t) v =
  checked (raw_tell bus (name "service" service) c.type_id) (encode_arg c v)

let ask ?timeout_ms bus service (c : 'a Contract.t) v (r : 'r Contract.t) =
  let timeout = timeout_arg "ask" timeout_ms in
  let body = encode_arg c v in
  let answer = asking c (raw_ask bus (name "service" service) c.type_id body) timeout in
  decode_reply r answer

let publish ?key bus topic (c : 'a Contract.t) v =
  checked (raw_publish bus c.type_id (name "topic" topic) (encode_arg c v)) key

type subscription = handle

let subscribe actor (c : 'a Contract.t) pattern =
  checked (actor_subscribe actor.a c.type_id) (name "pattern" pattern)

let unsubscribe sub = checked subscription_free sub

let spawn_rust ?arg bus ~kind ~service =
  let arg = Option.map (name "arg") arg in
  checked (raw_spawn_rust bus (name "kind" kind) arg) (name "service" service)

let spawn_c_echo bus = { a = checked spawn_c_echo bus; accepts = None; label = "the C echo" }

let measure_asks bus service (c : 'a Contract.t) v n =
  if n < 0 then invalid "measure_asks: n %d is negative" n;
  checked (raw_measure bus (name "service" service) c.type_id (encode_arg c v)) n

let measure_actor_asks actor (c : 'a Contract.t) v n =
  if n < 0 then invalid "measure_actor_asks: n %d is negative" n;
  checked (raw_measure_actor actor.a c.type_id (encode_arg c v)) n

(* ---- Supervision ------------------------------------------------------------------- *)

module Supervisor = struct
  type strategy = One_for_one | One_for_all | Rest_for_one

  type child =
    | Foreign of {
        c_name : string;
        c_service : string option;
        def : definition;
        ids : int list;
        hibernate : bool;
      }
    | Rust of { r_name : string; kind : string; arg : string option; r_service : string option }

  let actor ?service ?(hibernate = false) child_name (d : ('args, 'state) Actor.t) args =
    Foreign
      {
        c_name = name "child name" child_name;
        c_service = Option.map (name "service") service;
        def = Actor.definition d args;
        ids = d.ids;
        hibernate;
      }

  let rust ?arg ?service child_name ~kind =
    Rust
      {
        r_name = name "child name" child_name;
        kind = name "kind" kind;
        arg = Option.map (name "arg") arg;
        r_service = Option.map (name "service") service;
      }

  (* The tree, with the type ids of each OCaml child (for {!child}'s handles). *)
  type t = { s : handle; kids : (string * int list) list }

  let start ?(strategy = One_for_one) ?(max_restarts = 10) ?(within_ms = 10_000)
      ?(backoff_initial_ms = 10) ?(backoff_factor = 2.0) ?(backoff_cap_ms = 1000) bus children =
    if max_restarts < 0 || within_ms < 0 || backoff_initial_ms < 0 || backoff_cap_ms < 0 then
      invalid "Supervisor.start: restart limits and backoff must not be negative";
    let code = match strategy with One_for_one -> 0 | One_for_all -> 1 | Rest_for_one -> 2 in
    let tree =
      checked
        (tree_new code max_restarts within_ms backoff_initial_ms backoff_factor)
        backoff_cap_ms
    in
    (try
       List.iter
         (function
           | Foreign c ->
               checked
                 (fun ids -> tree_add_foreign tree c.c_name c.def c.c_service ids c.hibernate)
                 (Array.of_list c.ids)
           | Rust r -> checked (tree_add_rust tree r.r_name r.kind r.arg) r.r_service)
         children
     with e ->
       checked tree_free tree;
       raise e);
    let kids =
      List.filter_map
        (function Foreign c -> Some (c.c_name, c.ids) | Rust _ -> None)
        children
    in
    { s = checked (tree_start bus) tree; kids }

  let child sup child_name =
    let a = checked (supervisor_child sup.s) (name "child name" child_name) in
    let accepts = List.assoc_opt child_name sup.kids in
    { a; accepts; label = Printf.sprintf "child %S" child_name }

  let restarts ?child sup =
    checked (supervisor_restarts sup.s) (Option.map (name "child") child)

  let wait_restarts ?child sup n =
    checked (supervisor_wait_restarts sup.s (Option.map (name "child") child)) n

  let stop sup = checked supervisor_free sup.s
end

(* ---- Nodes ------------------------------------------------------------------------- *)

module Node = struct
  type t = handle

  let join bus ~topology ~node =
    checked (node_start bus (name "topology path" topology)) (name "node" node)

  let is_remote t service = checked (node_is_remote t) (name "service" service)

  let tell t service (c : 'a Contract.t) v =
    checked (node_tell t (name "service" service) c.type_id) (encode_arg c v)

  let ask ?timeout_ms t service (c : 'a Contract.t) v (r : 'r Contract.t) =
    let timeout = timeout_arg "Node.ask" timeout_ms in
    let body = encode_arg c v in
    let answer = asking c (node_ask t (name "service" service) c.type_id body) timeout in
    decode_reply r answer

  let forward_topic t (c : 'a Contract.t) = checked (node_forward_topic t) c.type_id

  let subscribe_remote t (c : 'a Contract.t) pattern =
    checked (node_subscribe_remote t c.type_id) (name "pattern" pattern)

  let unsubscribe_remote t (c : 'a Contract.t) pattern =
    checked (node_unsubscribe_remote t c.type_id) (name "pattern" pattern)

  let leave t = checked node_free t
end
