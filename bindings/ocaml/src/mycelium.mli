(** Mycelium actors in OCaml, in process, over the C ABI of [bindings/ffi].

    An OCaml actor is a record of functions: [on_start] makes the state of an incarnation
    from the spawn arguments, one handler per message type answers or consumes a message,
    and [on_stop] ends the incarnation. It lives on a {!bus} next to Rust actors: it is told
    and asked by service name, subscribes to topics, publishes, and sits in supervision
    trees next to Rust children.

    {2 Messages: your schema, and plain OCaml values}

    The library knows no message of its own. Its messages are of two kinds:

    - {b contract types}, from your schema file: [mycelium-codegen ocaml desk.yaml -o desk.ml]
      generates the module [Desk] (types, codecs, its [schema_digest]), and
      [module C = Desk.Contracts (Mycelium.Contract)] makes each message a contract type
      ([C.order : Desk.order Contract.t]). They cross every boundary: Rust actors, topics,
      other processes ({!Node}).
    - {b plain OCaml values}, of any type, between two OCaml actors of one bus: a key made
      with {!Contract.plain} ([let ping : ping Contract.t = Contract.plain "ping"]) types them
      and chooses the handler. They are passed by reference, never encoded; a boundary that
      needs bytes (a topic, a node link, a Rust or C actor) refuses them with
      [Error (Wrong_type, _)] saying the value cannot leave OCaml and must be declared in the
      schema.

    A bus speaks one schema: the one given to {!Bus.create} ([~schema:(module Desk)]), or
    else the schema of the first contract type it carries. A contract type of another schema
    (another package, or a module generated from another version of the same file: a stale
    module) is refused at the call with [Error (Wrong_type, _)] naming the type, both digests
    and the command that regenerates the module. A {!Node} tells its peers that digest.

    {[
      module M = Mycelium
      module C = Desk.Contracts (Mycelium.Contract)

      let risk =
        M.Actor.make
          ~on_start:(fun limit -> limit)
          [ M.Actor.on C.order (fun limit (o : Desk.order) ->
              M.reply C.verdict
                { order_id = o.id; accepted = Int64.abs o.qty <= limit; reason = "" }) ]

      let () =
        let bus = M.Bus.create ~schema:(module Desk) () in
        let actor = M.spawn bus risk 100L ~service:"risk" in
        let o : Desk.order = { id = 1L; symbol = "ABC"; qty = 10L; px = 1.5 } in
        let v = M.ask bus "risk" C.order o C.verdict in
        assert v.accepted;
        M.Actor_ref.free actor;
        M.Bus.close bus
    ]}

    {2 Failures}

    An exception raised by a handler (or a handler returning {!fail}) is a failure exactly
    like a Rust panic: the message goes to the bus's dead letters, an asker gets
    [Error (Failed, _)] at once, and a supervisor restarts the actor in place (re-running
    [on_start] with the same arguments) after its backoff; an actor outside a tree stops at
    its first failure, like a Rust actor. An exception in [on_start] fails the start:
    [spawn] raises [Error (Start_failed, _)]. Every error of this library is
    {!Error}.

    A stack overflow in a callback is such an exception ([Stack_overflow]), on the
    runtime's threads as on the program's own: each runtime thread gets an alternate signal
    stack when it registers with the OCaml runtime, which OCaml's SIGSEGV handler needs to
    turn the overflow into the exception. As on any OCaml thread, an overflow that happens
    in C code (a C stub, the GC) rather than in OCaml code is not recoverable.

    {2 Threads and the runtime lock}

    The program must be linked with the [threads.posix] library (this library depends on
    it). Callbacks ([on_start], handlers, [on_stop]) run on the Rust runtime's blocking-pool
    threads, never on the workers that Rust actors run on: each such thread registers itself
    with the OCaml runtime ([caml_c_thread_register]) the first time it runs a callback and
    unregisters when it exits. They take the OCaml runtime lock while OCaml code runs. Every
    function of this module that waits (a tell into a full mailbox, an ask, a spawn, a stop,
    a close) releases the runtime lock while it waits, so callbacks, including those of
    actors this thread is asking, run meanwhile. Callbacks of one actor run one at a time;
    different actors' callbacks may be called from different threads, serialised by the
    runtime lock. A callback waiting for the lock asks the thread that holds it to yield it,
    as the runtime's tick does every 50 ms: a thread that computes without blocking gives
    way to an actor at its next allocation or function call. The program's own threads take
    the lock back after a call the same way, except from an actor's callback, which gives it
    back at the end of its batch.

    {2 Ownership and the GC}

    Handles ({!bus}, {!actor}, {!subscription}, {!Supervisor.t}, {!Node.t}) are freed
    explicitly ([close], [free], [stop], [unsubscribe], [leave]); a freed handle raises
    [Error (Invalid_argument, _)] when used again, and freeing twice does nothing. A handle
    may be freed while another thread (or a callback below this one) is in a call on it: it is
    closed at once (new calls raise), and the free itself (for an actor from {!spawn}, its
    stop; for a bus, its shutdown) happens when the last call in flight on it returns. The OCaml
    values the library keeps across calls (an actor's definition and arguments, the state of
    each incarnation) are GC roots, removed synchronously: an incarnation's state when it
    stops (a stop, a failure before a restart, {!Bus.shutdown} or {!Bus.close}), an actor's
    definition when its handle goes ({!Actor_ref.free} for an actor from {!spawn},
    {!Supervisor.stop} for a tree's children). Once every handle is freed none is left;
    {!live_roots} counts them. *)

(** {1 Errors} *)

(** What went wrong, by the C ABI's status codes. *)
type error =
  | Invalid_argument  (** A bad argument: an unknown name, a freed handle, a bad pattern. *)
  | Unknown_service  (** No service of that name is exported on the bus. *)
  | Wrong_type
      (** The target does not take that message type, the reply is of another type than
          asked for, or bytes do not decode as the contract type. *)
  | Mailbox_full  (** The mailbox is full; nothing was queued. *)
  | Stopped  (** The actor (or the bus, or the link) has stopped for good. *)
  | Failed  (** The actor failed (an exception in its handler) handling the request. *)
  | Timeout  (** No reply within the timeout (bus time). *)
  | Start_failed  (** [on_start] failed: the actor or tree did not start. *)
  | Panic  (** A bug inside the library, caught; please report it with the message. *)
  | Runtime  (** The runtime could not be started, or the bus has shut down. *)

exception Error of error * string
(** [Error (kind, message)]: every failure of this library. The message says what happened
    and what to do next. *)

val error_name : error -> string
(** ["Failed"], ["Timeout"], ...: the constructor's name. *)

(** {1 Message types} *)

(** What a generated module offers about its schema ([mycelium-codegen ocaml] writes these
    three values): the package, the digest peers compare, and the file it came from. *)
module type SCHEMA = sig
  val package : string
  val schema_digest : string
  val schema_file : string
end

module Contract : sig
  type 'a t
  (** A message type: a contract type of a schema (type id, name, codec, schema), or a
      plain OCaml value's key. *)

  val generated :
    package:string ->
    schema_digest:string ->
    schema_file:string ->
    name:string ->
    type_id:int ->
    encode:('a -> string) ->
    decode:(string -> 'a) ->
    'a t
  (** What a generated module's functor calls: [module C = Desk.Contracts (Mycelium.Contract)]
      gives one contract type per message of the schema. Raises
      [Error (Invalid_argument, _)] for a digest that is not 64 lowercase hex digits or a
      type id that is not a u16 (or is 65535, reserved for plain values). *)

  val make :
    schema:(module SCHEMA) ->
    name:string ->
    type_id:int ->
    encode:('a -> string) ->
    decode:(string -> 'a) ->
    'a t
  (** A contract type of [schema] with a codec of your own (the generated ones are
      [Desk.encode_order], [Desk.decode_order]). Same refusals as {!generated}. *)

  val plain : string -> 'a t
  (** [plain name]: a new key for plain OCaml values of one type, named [name] in errors,
      e.g. [let ping : ping Contract.t = Contract.plain "ping"]. Values told or asked with it
      reach the handler of this very key ({!Actor.on}), by reference. Each call makes a
      distinct key. *)

  val name : 'a t -> string

  val type_id : 'a t -> int
  (** The contract type id; [-1] for a plain key. *)

  val is_plain : 'a t -> bool

  val schema_digest : 'a t -> string option
  (** The digest of the schema a contract type belongs to; [None] for a plain key. *)

  val encode : 'a t -> 'a -> string
  (** The message's body; raises the generated module's [Wire.Encode_error] for a value the
      wire cannot carry, and [Error (Wrong_type, _)] for a plain key (no encoding). *)

  val decode : 'a t -> string -> 'a
  (** Reads a body; raises the generated module's [Wire.Decode_error], and
      [Error (Wrong_type, _)] for a plain key. *)
end

(** {1 Buses} *)

type bus
(** A bus and its Rust runtime. *)

module Bus : sig
  val create : ?schema:(module SCHEMA) -> ?virtual_time:bool -> ?seed:int64 -> unit -> bus
  (** A bus in real time on two Rust worker threads, or (with [~virtual_time:true]) in
      virtual time: a clock that stands still while any actor (OCaml callbacks included)
      works, and jumps to the next timer when every actor waits. The program's own threads
      are not actors: while one waits on the bus (an ask, with its timeout) the clock moves
      only as the bus's actors let it, but between its calls nothing holds it, and it jumps
      to the next timer (a restart's backoff, say) as soon as every actor waits. A run that
      must repeat exactly drives the bus from an actor (its [on_start], or a message told
      to it). [seed] (default 0) seeds
      its random streams (backoff jitter). [schema] (a generated module, e.g.
      [(module Desk)]) is the schema it speaks; without it, the bus speaks the schema of the
      first contract type it carries. Raises [Error (Invalid_argument, _)] for a module
      whose [schema_digest] is not 64 lowercase hex digits. *)

  val schema_digest : bus -> string option
  (** The digest of the schema the bus speaks; [None] until it speaks one. *)

  val shutdown : ?timeout_ms:int -> bus -> unit
  (** Stops every actor in reverse start order (each [on_stop] runs), killing what is still
      alive after [timeout_ms] (default 5000), then waits until the GC roots of actors and
      trees stopped from their own callbacks ({!Actor_ref.free}, {!Supervisor.stop}) are gone.
      The handle stays valid (to {!close}). Plain values still in flight on the bus are
      dropped. *)

  val close : bus -> unit
  (** Shuts the bus down if it still runs (5 s deadline), waits as {!shutdown} does for the
      GC roots of actors and trees stopped from their own callbacks, and frees it (when the
      last call in flight on the handle returns, if another thread is in one). Actor handles
      of the bus must still be freed; they report the actors stopped. *)

  val now_ns : bus -> int64
  (** Bus time since creation, in nanoseconds. *)

  val dead_letters : bus -> int
  (** How many dead letters the bus has recorded: messages whose handler failed, messages
      left in a mailbox when its actor stopped. *)

  val runtime_tasks : bus -> int
  (** Tasks alive on the bus's runtime: one per actor that is not asleep, and those of its
      supervisors and hibernation driver. A diagnostic: an actor spawned with
      [~hibernate:true] holds none while it has no mail. *)
end

(** {1 Actors} *)

type reply
(** What a handler gives back. *)

val reply : 'a Contract.t -> 'a -> reply
(** Answers an ask with a message (ignored for a tell): a contract message, or a plain value
    for an OCaml asker (an asker outside OCaml, a Rust actor or another node, cannot read
    one: it gets a reply of the reserved type id 65535). *)

val no_reply : reply
(** Answers nothing: for a tell, or a publication. An ask answered with [no_reply] fails
    with [Wrong_type] (by service name as through the handle, the message naming the
    request's contract type); the actor does not fail. *)

val fail : string -> reply
(** Fails the handler with this message, like raising an exception. *)

module Actor : sig
  type 'state handler
  (** A handler of one message type. *)

  val on : 'a Contract.t -> ('state -> 'a -> reply) -> 'state handler
  (** [on c f]: messages of type [c] (a contract type, or a plain key) go to
      [f state message]. *)

  type ('args, 'state) t
  (** An actor definition: how to start, handle, stop. *)

  val make :
    ?on_stop:('state -> string -> unit) ->
    on_start:('args -> 'state) ->
    'state handler list ->
    ('args, 'state) t
  (** [make ~on_start ?on_stop handlers]. [on_start args] makes the state of an incarnation
      (an exception fails the start); [on_stop state reason] ends it (on a stop, a failure
      before a restart, a shutdown; an exception it raises is written to standard error
      with the runtime's warnings, and ends the incarnation all the same). A message of a
      type with no handler fails the handler. Handlers of the same type: the first wins. *)

  val type_ids : ('args, 'state) t -> int list
  (** The contract type ids it handles (what it is exported for). *)

  type timer
  (** A timer an actor set. *)

  val send_after : 'a Contract.t -> 'a -> ms:int -> timer
  (** [send_after c msg ~ms], called from the actor's [on_start] or one of its handlers: sends
      the actor [msg] once, [ms] milliseconds of bus time from now (virtual time on a
      virtual-time bus), through its mailbox, in order with its other messages. The timer
      belongs to the incarnation that set it: a stop, a failure (and the restart that follows)
      or a kill cancels it, as {!cancel} does. A recorded actor's firings are recorded as a
      Rust actor's are (docs/journal.md), and a replay fires them again. Raises
      [Error (Invalid_argument, _)] outside an actor's callback or for a negative [ms],
      [Error (Wrong_type, _)] for a message the actor has no handler of or a plain value (a
      timer keeps a contract message), [Error (Stopped, _)] once the actor is not running. *)

  val send_interval : 'a Contract.t -> 'a -> ms:int -> timer
  (** As {!send_after}, every [ms] milliseconds (more than 0), the first one period from now,
      on a fixed grid: a firing that finds the mailbox full waits for room, and those missed
      meanwhile are skipped. *)

  val cancel : timer -> unit
  (** Nothing more is sent (a message already in the mailbox is handled). *)

  val is_active : timer -> bool
  (** False once a one-shot timer has sent its message, or the timer is cancelled or its
      incarnation has ended. *)
end

type actor
(** A running OCaml actor (unsupervised, or a supervisor's child). *)

(** A journal that actors are recorded into (the flight recorder: docs/journal.md). *)
module Recorder : sig
  type t

  val create : ?node:string -> ?schema:string * string -> string -> t
  (** [create dir]: opens (or continues) the journal in the directory [dir], for the node
      [node] (default: none). With [~schema:(Desk.schema_digest, Desk.schema_canonical)]
      (a generated module's digest and canonical text) the journal's header carries the
      schema, so that [mycelium-journal cat] shows the recorded contract messages by their
      fields, without the program; without it, their bytes in hex. Raises
      [Error (Invalid_argument, _)] with the reason when it cannot be opened, or when the
      digest is not 64 hex digits or the text is not the digest's. *)

  val close : t -> unit
  (** Writes what was recorded and closes the journal; the actors recorded into it are no
      longer recorded. *)

  val free : t -> unit
  (** Closes the journal and frees the handle. *)
end

val spawn :
  ?service:string ->
  ?hibernate:bool ->
  ?record:Recorder.t ->
  ?record_as:string ->
  bus ->
  ('args, 'state) Actor.t ->
  'args ->
  actor
(** Starts an actor and waits until its [on_start] has run; with [~service], exports it
    under that name for the types it handles. Raises [Error (Start_failed, _)] when
    [on_start] raises. With [~hibernate:true] the actor gives up its task whenever its
    mailbox is empty and is woken by its next message: for many mostly idle actors, at the
    price of a wake-up per message that finds it asleep (asks from OCaml threads still run
    on the caller's thread while it is idle).

    With [~record], the actor is recorded into that journal from its start, as an actor of
    the type [record_as] (default ["OCamlActor"]): each message it handles (its contract
    bytes, with its type id), the answer to each ask, what it tells, asks and publishes while
    handling, its starts, restarts, failures and stops. Its asks from OCaml threads then go
    through its mailbox (no direct call), where they are recorded in handling order. An
    actor with handlers of plain OCaml values is refused with [Invalid_argument]: a plain
    value has no encoding a journal can hold. *)

(** Replaying a recorded OCaml actor (the flight recorder: docs/journal.md). *)
module Replay : sig
  type mode =
    | First_difference  (** stop at the first input whose outputs differ *)
    | Compare  (** run to the end and report every difference *)

  type difference = {
    input : int;  (** the input's number among the actor's inputs, from 0 *)
    seq : int;  (** its record's number in the journal *)
    time_ns : int64;  (** its bus time *)
    message : string;  (** the input: its type and payload *)
    recorded : string;  (** what was recorded after it *)
    now : string;  (** what the replay did after it *)
  }

  type report = {
    inputs : int;  (** inputs replayed *)
    differences : difference list;  (** in input order; at most one in [First_difference] *)
    text : string;  (** the report as a person reads it *)
    csv : string;
        (** the differences as CSV: [input,seq,time_ns,message,recorded,now,before] *)
  }

  val same : report -> bool
  (** No difference: every output as recorded. *)

  val run :
    ?mode:mode ->
    ?record_as:string ->
    ?run:int ->
    bus ->
    ('args, 'state) Actor.t ->
    'args ->
    journal:string ->
    actor:int ->
    report
  (** [run bus d args ~journal ~actor] replays the actor number [actor] recorded in the
      journal directory [journal] (see [Recorder], [spawn ~record]): a fresh actor of [d],
      started with [args], on [bus] (a virtual-time bus: [Bus.create ~virtual_time:true]),
      is fed the recorded inputs at their recorded bus times, as tells or asks as recorded,
      and its answers, sends, publications, failures and stops are compared with the
      recorded ones. The actor is stopped before it returns. [~run] picks the run of a
      journal that later processes opened again (each numbers its actors anew;
      [mycelium-journal ls] lists the runs): the first, 0, by default. Raises [Error
      (Invalid_argument, _)] for a real-time bus, a journal that cannot be read, a run it
      does not hold or an input that cannot be fed (recorded without its payload), [Error
      (Start_failed, _)] when the actor cannot start; [Invalid_argument] for an actor that
      handles plain OCaml values. Mode default: [First_difference]. *)
end

module Actor_ref : sig
  val export : actor -> string -> int list -> unit
  (** [export a service type_ids]: reachable by name for those contract types (and, for an
      OCaml actor, by plain values of the keys it handles). *)

  val tell : actor -> 'a Contract.t -> 'a -> unit
  (** Queues a message, waiting for room in a full mailbox. A message of a type the actor's
      definition has no handler for is refused at the call with [Error (Wrong_type, _)]
      (naming the message type and the actor), as {!val-tell} by service name refuses it: it
      is never queued, and the actor keeps running. A contract type of another schema than
      the bus's is refused with [Wrong_type]; a plain value goes by reference (to a C actor
      it is refused: it cannot leave OCaml). *)

  val ask : ?timeout_ms:int -> actor -> 'a Contract.t -> 'a -> 'r Contract.t -> 'r
  (** [ask a req_type req reply_type]: the reply. Raises [Error (Failed, _)] when the handler
      fails, [Timeout] after [timeout_ms] of bus time (default: no timeout), [Wrong_type]
      when the reply is not of [reply_type] or does not decode (a [decode] of the reply
      contract that raises included: the message names the contract and the exception), and,
      as {!tell}, when the actor has no handler for [req_type] (refused before it is sent).
      A [timeout_ms] of zero or less raises [Error (Invalid_argument, _)].

      When the actor is idle (nothing queued or running for it, not restarting, a real-time
      bus), its handler runs right here on the calling thread, with no hand-off to the bus
      runtime: the same handler, state, order and failure handling as through the mailbox
      (an exception fails the actor and it restarts). A handler running on the calling
      thread cannot be cut short: one that returns after [timeout_ms] raises [Timeout] all
      the same, its reply dropped, as a reply that comes late through the mailbox is (the
      message was handled). Otherwise the ask waits in the mailbox behind what is queued.
      Asked from one of its own callbacks on this thread (a handler asking its own actor,
      by handle or by name, or an actor it asked here asking it back), it raises
      [Error (Invalid_argument, _)] at once: the ask would wait for that very callback. *)

  val is_alive : actor -> bool
  (** False once it has stopped for good. *)

  val number : actor -> int
  (** Its number on its bus: what a journal records it as ([#N] in [mycelium-journal ls]) and
      what {!Replay.run}'s [~actor] takes. A supervisor's child keeps it across restarts. *)

  val stop : actor -> unit
  (** Stops an actor from {!spawn} and waits until its [on_stop] has run. The messages
      still queued when the stop takes effect (after the message being handled, and any its
      host thread had already begun) are not handled: each goes to the dead letters (and
      to standard error). To stop once everything told so far is handled, use
      {!drain_and_stop}. A supervisor's child
      ({!Supervisor.child}) raises [Error (Invalid_argument, _)] and keeps running: its
      supervisor would restart it, so it stops with its tree ({!Supervisor.stop}). Called
      from one of the actor's own callbacks (its handler stopping itself), it returns at once:
      waiting would wait for that very callback. The stop comes once the callback has
      returned, as a Rust actor's own stop does. *)

  val drain_and_stop : actor -> unit
  (** Stops an actor from {!spawn} once it has handled everything sent to it before this
      call, and waits until its [on_stop] has run: the stop is queued behind those messages,
      and what is sent after it goes to the dead letters. An actor that has stopped already
      is left as it is. A supervisor's child, or a call from one of the actor's own callbacks
      (the wait would be for that very callback: use {!stop} there), raises [Error
      (Invalid_argument, _)]. *)

  val free : actor -> unit
  (** Frees the handle. An actor from {!spawn} is stopped first; this returns once its last
      callback has run and its GC roots are gone, unless a call on the handle is in flight
      (see "Ownership and the GC"): then the stop comes when that call returns. A
      supervisor's child keeps running. Called from one of the actor's own callbacks (its
      handler freeing its own handle), it returns at once, the handle freed: the stop comes
      once the callback has returned (an asker gets the callback's answer), and
      {!Bus.shutdown} or {!Bus.close} waits until its GC roots are gone. *)
end

(** {1 Services and topics} *)

val tell : bus -> string -> 'a Contract.t -> 'a -> unit
(** [tell bus service c msg]: to the service exported under that name (Rust or OCaml). A
    plain value reaches only an OCaml actor spawned or exported under that name on this bus
    (a tree's child through {!Supervisor.child}'s handle): for any other service it is
    refused with [Error (Wrong_type, _)], since it cannot leave OCaml. *)

val ask : ?timeout_ms:int -> bus -> string -> 'a Contract.t -> 'a -> 'r Contract.t -> 'r
(** [ask bus service req_type req reply_type]: see {!Actor_ref.ask}; raises
    [Error (Unknown_service, _)] for an unknown name, [Wrong_type] when the service does not
    take [req_type]. A [timeout_ms] of zero or less raises [Error (Invalid_argument, _)]. *)

val publish : ?key:int64 -> bus -> string -> 'a Contract.t -> 'a -> int
(** [publish bus topic c msg]: to every subscriber (Rust or OCaml) of a matching pattern;
    returns how many it reached. Topics carry contract types only (a topic reaches Rust
    subscribers and other nodes): a plain key raises [Error (Wrong_type, _)]. *)

type subscription

val subscribe : actor -> 'a Contract.t -> string -> subscription
(** [subscribe a c pattern]: messages of type [c] published under [pattern] (["name"],
    ["prefix.*"] or ["*"]) go to the actor's handler for [c]. Once the actor's bus has shut
    down or been closed, raises [Error (Invalid_argument, _)]; a plain key raises
    [Error (Wrong_type, _)], as {!publish}. *)

val unsubscribe : subscription -> unit
(** Cancels it: nothing more of it reaches the handler once this returns, not even a
    publication already queued in the actor's mailbox (it is dropped unhandled); one being
    handled on another thread has been handled by then (called from that handler itself,
    it does not wait for it). Stricter than a Rust [Subscription::cancel], which leaves what
    is queued to be handled. *)

val spawn_rust : ?arg:string -> bus -> kind:string -> service:string -> unit
(** Starts the Rust actor registered as [kind], exported under [service]; it is told and
    asked by that name with the contract types of its schema. The Rust actors are those of
    the program's Rust runtime: the built-in examples, which speak the repository's example
    schema ([contracts.yaml], library [mycelium.trading]) and answer [Heartbeat] asks
    (["counter"]: adds each [seq] to a total, replies with the total; ["relay"], [arg]: a
    service it asks with [seq + 1], replying with that answer; ["quote_recorder"], [arg]: a
    topic pattern of [Quote]s it counts, replying with the count in [seq]; ["quote_source"],
    [arg]: a topic it publishes [Quote]s on, [seq] of them for each [Heartbeat] ask, replying
    once they are published; ["ask_probe"], [arg]: a service it asks [seq] [Heartbeat]s in a
    row, replying with the median round trip in [ts_ns] and the 99th percentile in [seq], in
    wall-clock nanoseconds), and a team's own
    when the program links the team's actor library (a static library of their Rust actors
    with the C ABI, implementing [mycelium.runtime] in place of the default runtime;
    {!Bus.create} registers them: docs/ocaml.md, "Your team's Rust actors").

    Returns once it has started and is exported. Raises [Error (Invalid_argument, _)], with
    nothing left running, for an unknown [kind] (the message lists the registered actors and
    their arguments), an [arg] it does not take, lacks or cannot read (with the actor's
    reason), an actor of another schema than the bus's (the message names both and the
    module to create the bus with; a bus that speaks no schema yet speaks the actor's from
    then on), a start that fails (a pattern that breaks the topic grammar) or a [service]
    name already taken. *)

(** {1 Supervision} *)

module Supervisor : sig
  type strategy =
    | One_for_one  (** Only the failed child restarts. *)
    | One_for_all  (** Every child restarts. *)
    | Rest_for_one  (** The failed child and those started after it restart. *)

  type child
  (** A child specification. *)

  val actor :
    ?service:string ->
    ?hibernate:bool ->
    ?record:Recorder.t ->
    ?record_as:string ->
    string ->
    ('args, 'state) Actor.t ->
    'args ->
    child
  (** [actor name def args]: an OCaml child; every restart re-runs [on_start args]. With
      [~service], exported under that name before the tree starts (a later child's
      [on_start] reaches it by name); with [~hibernate:true], it holds no task while its
      mailbox is empty (see {!spawn}). With [~record], it is
      recorded into that journal from its first start, across its restarts, as an actor of
      the type [record_as] (default ["OCamlActor"]), as {!spawn} [~record] records one; an
      actor that handles plain OCaml values is refused ([Invalid_argument]). *)

  val rust : ?arg:string -> ?service:string -> string -> kind:string -> child
  (** [rust name ~kind]: a child started from the Rust actor registered as [kind] (see
      {!spawn_rust}), restarted by the tree like any child and, with [~service], reached by
      that name in every incarnation. An unknown [kind] or a bad [arg] raises
      [Error (Invalid_argument, _)] at {!start}; so does an actor of another schema than the
      bus's. *)

  type t

  val start :
    ?strategy:strategy ->
    ?max_restarts:int ->
    ?within_ms:int ->
    ?backoff_initial_ms:int ->
    ?backoff_factor:float ->
    ?backoff_cap_ms:int ->
    bus ->
    child list ->
    t
  (** Starts the children in order. Defaults: [One_for_one], at most 10 restarts within
      10 000 ms (more and the tree gives up), backoff [min (10 * 2.0^n, 1000)] ms. A tree
      that gives up stops its children and fails the bus, as a root supervisor does in
      Rust: every actor of the bus is stopped, the bus takes no new actor, and standard
      error says why. Raises
      [Error (Start_failed, _)] naming the child whose first start failed (those started
      are stopped again). On any error nothing of the tree is left: a closed [bus] raises
      [Error (Invalid_argument, _)] once the children's definitions are released. *)

  val child : t -> string -> actor
  (** The OCaml child [name] (the handle stays valid across its restarts; freeing it does
      not stop the child). *)

  val restarts : ?child:string -> t -> int
  (** Restarts the tree has finished, of one child or of all; [Error (Invalid_argument, _)]
      for a name the tree has no child of. *)

  val wait_restarts : ?child:string -> t -> int -> unit
  (** Waits until at least [n] restarts have finished; [Error (Stopped, _)] if the tree
      stops first, [Error (Invalid_argument, _)] at once for a name the tree has no child
      of. *)

  val stop : t -> unit
  (** Stops the children in reverse order, waits until every callback has run and every GC
      root of its OCaml children is gone, and frees the handle. While another thread is in
      a call on the handle ({!wait_restarts}, {!child}), the handle is closed at once and
      the stop comes when that call returns. Called from a callback of one of the tree's
      children (a child's handler stopping its tree), it frees the handle and returns at
      once, since waiting would wait for that very callback: the tree stops once the
      callback has returned, and {!Bus.shutdown} or {!Bus.close} waits until its GC roots
      are gone. *)
end

(** {1 Split deployments} *)

module Node : sig
  type t
  (** This bus as one node of a topology file ([topology.toml], see [docs/remote.md]). *)

  val join : bus -> topology:string -> node:string -> t
  (** Starts node [node] of the topology file: listens on its endpoint (e.g. a Unix socket),
      dials the peers whose names sort after it, and serves the services exported on [bus]
      to the other nodes. It speaks the bus's schema ({!Bus.create} [~schema], or the
      schema of the first contract type or Rust actor the bus carried): a peer of
      another schema is refused at the handshake, which names both digests. The shared
      secret comes from the environment variable the file names. Raises
      [Error (Invalid_argument, _)] with the reason (a bus that speaks no schema yet, bad
      file, unknown node, missing secret, cannot listen). Plain values never cross a link:
      every function of this module refuses a plain key with [Error (Wrong_type, _)]. *)

  val is_remote : t -> string -> bool
  (** Whether another node of the topology hosts the service. *)

  val tell : t -> string -> 'a Contract.t -> 'a -> unit
  (** To the service wherever the topology puts it: over the link to its node, or to this
      bus. A message for a peer not yet connected waits in the link's queue. *)

  val ask : ?timeout_ms:int -> t -> string -> 'a Contract.t -> 'a -> 'r Contract.t -> 'r
  (** As {!tell}, waiting for the reply; the errors are those of the same ask on one bus
      ({!val-ask}): [Unknown_service] for a service the other node does not export,
      [Wrong_type] for a type it does not take or a handler that answered with
      {!no_reply}, [Failed] when the remote handler fails, and [Failed] too if the link
      goes down while the ask is in flight. A [timeout_ms] of zero or less raises
      [Error (Invalid_argument, _)]. *)

  val forward_topic : t -> 'a Contract.t -> unit
  (** Lets the other nodes subscribe ({!subscribe_remote} on their side) to publications of
      type [c] on this bus: each publication travels once per link. *)

  (** What a publishing node does with a subscription's publications while its link to this
      node is full (this node slow, stopped or away). *)
  type overflow =
    | Block  (** The publisher waits for room; nothing is dropped. *)
    | Drop_newest  (** A publication that finds the link's queue full is dropped. *)
    | Drop_oldest of int
        (** They wait in a buffer of this many publications (at least 1), the oldest dropped. *)
    | Latest_per_key  (** They wait in a buffer that keeps the newest of each key. *)

  val subscribe_remote : ?overflow:overflow -> t -> 'a Contract.t -> string -> unit
  (** [subscribe_remote t c pattern]: publications of type [c] under [pattern] on the other
      nodes that forward them are published on this bus, where its subscribers (OCaml or
      Rust) receive them. [overflow]: see {!type-overflow}; left out, the policy the topology
      file gives [pattern] (a [[[node.subscription]]] entry of this node), else [Block]. What
      a policy drops is counted on the publishing node and told here as a {!type-gap}. A
      pattern that breaks the topic grammar, or [Drop_oldest] of less than 1, raises
      [Error (Invalid_argument, _)] before anything is sent. *)

  val unsubscribe_remote : t -> 'a Contract.t -> string -> unit
  (** Ends what {!subscribe_remote} started for [c] on [pattern]: the other nodes stop
      forwarding it to this node. *)

  val leave : t -> unit
  (** Sends what is queued and waits up to the links' [close_timeout] (5 s by default;
      [close_timeout_ms] in the topology's [[link]]) for the peers to acknowledge it as
      handled, reports what is still unacknowledged as lost, then stops the node's listener
      and links. The bus keeps running. *)

  val leave_now : t -> unit
  (** The abrupt {!leave}: stops the node's listener and links at once, without waiting for
      acknowledgements; what is unacknowledged is reported lost. The bus keeps running. *)

  (** Why publications never reached this node. *)
  type gap_reason =
    | Restarted  (** This process restarted: what its predecessor had not handled. *)
    | Forgot  (** The publisher took this node for another process of its name. *)
    | Too_large  (** Too large for a frame this node accepts. *)
    | Dropped  (** Dropped by the subscription's {!type-overflow} while the link was full. *)
    | Closed
        (** Published while the publisher's link to this node was closed (it had given up, or
            was being opened again). *)
    | Other  (** A reason of a newer peer. *)

  (** Publications of a topic this node subscribed to on another node that will never
      arrive. *)
  type gap = {
    source : string;  (** The node that published them. *)
    topic : string;  (** Their topic; for [Dropped], the subscription's pattern. *)
    type_id : int;  (** Their contract type id. *)
    message : string;
        (** Their message's contract name ([Quote]), or [type N] for an id the contracts do
            not define. *)
    first : int64;  (** The first lost one's sequence number on the link (0 for [Dropped]). *)
    last : int64;  (** The last lost one's (0 for [Dropped]). *)
    count : int64;  (** How many. *)
    reason : gap_reason;
    text : string;  (** The whole story in a sentence, for a log. *)
  }

  val gap : gap Contract.t
  (** The contract of a gap, for a handler: [Actor.on Node.gap (fun st g -> ...)]. It has
      its own type id (65534, reserved like 65535) and no schema: an actor handling it can
      live on a bus of any schema. A gap cannot be sent or published ([Wrong_type]). *)

  val subscribe_gaps : t -> actor -> subscription
  (** [subscribe_gaps t a]: each gap this node is told of goes to [a]'s handler for {!gap},
      in order (a publication dropped by a policy, what was lost when this process
      restarted, a publication too large for a frame). A gap waits for room in the mailbox;
      none is dropped. {!unsubscribe} ends it. [a] must be on the node's bus
      ([Error (Invalid_argument, _)] otherwise). *)
end

(** {1 Diagnostics} *)

val live_roots : unit -> int
(** How many OCaml values the library currently holds for later: GC roots (a definition per
    live actor or tree child, a state per running incarnation) and plain values in flight
    (told or replied, not yet handled or read). A plain value never handled (dropped with
    its actor's mailbox, a reply whose asker gave up) is let go when its actor stops for
    good or its bus shuts down. *)

val measure_asks : bus -> string -> 'a Contract.t -> 'a -> int -> int array
(** [measure_asks bus service c msg n]: asks [service] [n] times in a row from a Rust task
    and returns each round trip in nanoseconds (a benchmark aid: the asker is Rust). *)

val measure_actor_asks : actor -> 'a Contract.t -> 'a -> int -> int array * int
(** [measure_actor_asks a c msg n]: asks [a] [n] times in a row from this thread, each ask
    exactly as {!Actor_ref.ask} makes it (the asking loop is Rust), and returns each round
    trip in nanoseconds with how many of the [n] ran the handler on this thread (the actor
    was idle) rather than through the mailbox. A benchmark aid. *)

val spawn_c_echo : bus -> actor
(** An actor whose callbacks are C, not OCaml: it answers every message with itself. Export
    it with {!Actor_ref.export}. A benchmark baseline: the cost of the foreign host without
    OCaml. *)
