(* Generated code for tests/contracts/schemas/names.yaml, whose types share variant and
   field names (and use the names of the runtime's own locals), compiles and keeps them
   apart; the text matches the Python test's. *)

open Names

let leaf : leaf = { c = Red; w = Round; v = 5L; what = "x" }

let tree : tree =
  {
    c = { c = Unknown; mark = [ { c = Round; mark = []; finished = Some leaf } ]; finished = None };
    tag = Ping;
    wire = [| Red; Unknown |];
    body = [ [ Round; Unknown ]; [] ];
    x = Some (Bytes.of_string "q");
  }

let text =
  "Tree{c=Branch{c=Unknown, mark=[Branch{c=Round, mark=[], finished=some(Leaf{c=Red, \
   w=Round, v=5, what=\"x\"})}], finished=none}, tag=Ping, wire=[Red, Unknown], \
   body=[[Round, Unknown], []], x=some(b\"q\")}"

let () =
  let failures = ref 0 in
  let check name ok = if not ok then (incr failures; Printf.printf "FAIL: %s\n%!" name) in
  let f, _ = decode_frame (encode_frame (Message.Tree tree)) in
  check "tree round trip" (f.message = Message.Tree tree);
  check ("tree text: " ^ Message.to_text f.message) (Message.to_text f.message = text);
  let p : ping = { c = Unknown; v = -3 } in
  let f, _ = decode_frame (encode_frame (Message.Ping p)) in
  check "ping round trip" (f.message = Message.Ping p);
  check "ping text" (Message.to_text f.message = "Ping{c=Unknown, v=-3}");
  Printf.printf "ocaml names: %d failed\n%!" !failures;
  if !failures > 0 then exit 1
