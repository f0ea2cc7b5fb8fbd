(* Small helpers shared by the tests. *)

let failures = ref 0

let check what cond =
  if not cond then (
    incr failures;
    Printf.printf "FAIL %s\n%!" what)

let check_eq what to_string expected got =
  if expected <> got then (
    incr failures;
    Printf.printf "FAIL %s: expected %s, got %s\n%!" what (to_string expected) (to_string got))

(* Runs [f], expecting [Mycelium.Error (kind, _)]; returns the message. *)
let expect_error what kind f =
  match f () with
  | _ ->
      incr failures;
      Printf.printf "FAIL %s: no error (expected %s)\n%!" what (Mycelium.error_name kind);
      ""
  | exception Mycelium.Error (k, msg) ->
      if k <> kind then (
        incr failures;
        Printf.printf "FAIL %s: expected %s, got %s (%s)\n%!" what (Mycelium.error_name kind)
          (Mycelium.error_name k) msg);
      msg

let contains s sub =
  let n = String.length s and m = String.length sub in
  let rec go i = i + m <= n && (String.sub s i m = sub || go (i + 1)) in
  go 0

let hb ?(ts = 0L) ?(sender = "test") seq : Trading.heartbeat = { ts_ns = ts; seq; sender }

let finish name =
  if !failures > 0 then (
    Printf.printf "%s: %d check(s) failed\n%!" name !failures;
    exit 1)
  else Printf.printf "%s: ok\n%!" name
