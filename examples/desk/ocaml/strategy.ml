(* The desk's momentum strategy in OCaml, the same rules as the Python
   trading_desk.strategy:Momentum: buys when the last three marks rise, sells when they fall,
   10 at a time, each order checked by the risk actor and filled by the Rust execution
   engine. *)

module M = Mycelium
module C = Desk.Contracts (Mycelium.Contract)

(* The risk check: plain OCaml values between two OCaml actors, never encoded. *)
type check = { side : Desk.side; qty : int; position : int64 }

let check : check M.Contract.t = M.Contract.plain "desk.risk.check"
let verdict : bool M.Contract.t = M.Contract.plain "desk.risk.verdict"

(* Refuses an order that would take the position beyond the limit. *)
let risk : (int64, int64) M.Actor.t =
  M.Actor.make ~on_start:Fun.id
    [
      M.Actor.on check (fun limit c ->
          let signed = Int64.of_int (match c.side with Desk.Buy -> c.qty | Desk.Sell -> -c.qty) in
          M.reply verdict (Int64.abs (Int64.add c.position signed) <= limit));
    ]

let fnv_offset = 0xCBF29CE484222325L
let fnv_prime = 0x100000001B3L

(* Folds the bytes of [b] into a 64-bit FNV-1a digest. *)
let fnv1a digest b =
  let d = ref digest in
  Bytes.iter
    (fun c -> d := Int64.mul (Int64.logxor !d (Int64.of_int (Char.code c))) fnv_prime)
    b;
  !d

(* A fill as the Python strategy packs it ("<QIqq"): order id, qty, price in cents,
   position, little-endian. *)
let fill_bytes (f : Desk.fill) =
  let b = Bytes.create 28 in
  Bytes.set_int64_le b 0 f.order_id;
  Bytes.set_int32_le b 8 (Int32.of_int f.qty);
  Bytes.set_int64_le b 12 (Int64.of_float (Float.round (f.price *. 100.)));
  Bytes.set_int64_le b 20 f.position;
  b

type state = { bus : M.bus; execution : string; risk : string }

let run st (r : Desk.run) =
  let state = ref r.seed and cents = ref 10_000 and window = ref [] in
  let orders = ref 0 and position = ref 0L and digest = ref fnv_offset in
  for tick = 0 to r.ticks - 1 do
    (* A deterministic walk of the mark (a 64-bit LCG), in whole cents. *)
    state := Int64.add (Int64.mul !state 6364136223846793005L) 1442695040888963407L;
    let step = Int64.to_int (Int64.rem (Int64.shift_right_logical !state 33) 21L) - 10 in
    cents := !cents + step;
    window := (match !window with [ _; b; c ] -> [ b; c; !cents ] | w -> w @ [ !cents ]);
    match !window with
    | [ first; _; last ] when first <> last ->
        let side = if last > first then Desk.Buy else Desk.Sell in
        let ok = M.ask st.bus st.risk check { side; qty = 10; position = !position } verdict in
        if ok then begin
          let mark = float_of_int !cents /. 100. in
          let order : Desk.new_order =
            { order_id = Int64.of_int (tick + 1); side; qty = 10; mark }
          in
          let fill = M.ask st.bus st.execution C.new_order order C.fill in
          incr orders;
          position := fill.position;
          digest := fnv1a !digest (fill_bytes fill)
        end
    | _ -> ()
  done;
  M.reply C.summary { orders = !orders; position = !position; digest = !digest }

let momentum : (state, state) M.Actor.t = M.Actor.make ~on_start:Fun.id [ M.Actor.on C.run run ]

let result_line (s : Desk.summary) =
  Printf.sprintf "orders %d position %Ld digest %016Lx" s.orders s.position s.digest
