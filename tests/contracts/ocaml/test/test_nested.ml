(* What contracts.yaml does not exercise, on tests/contracts/schemas/nested.yaml: the struct
   nesting limit against hostile depth, and bytes beside list<u8>. *)

open Nested

let failures = ref 0

let check name ok =
  if not ok then begin
    incr failures;
    Printf.printf "FAIL: %s\n%!" name
  end

let outcome f =
  match f () with
  | _ -> "ok"
  | exception Wire.Decode_error (kind, _) -> kind
  | exception e -> "exception " ^ Printexc.to_string e

let u32 n = let b = Bytes.create 4 in Bytes.set_int32_le b 0 (Int32.of_int n); Bytes.to_string b
let key tag wire = let b = Bytes.create 2 in Bytes.set_uint16_le b 0 ((tag lsl 3) lor wire); Bytes.to_string b
let len_value s = u32 (String.length s) ^ s

let chain depth =
  let rec go label = if label = depth then { label; children = [] } else { label; children = [ go (label + 1) ] } in
  go 1

let () =
  let tree depth : tree = { root = chain depth; blob = Bytes.empty; small = None } in
  let deepest = tree Wire.max_depth in
  check "nesting up to max_depth" (decode_tree (encode_tree deepest) = deepest);
  let got = outcome (fun () -> decode_tree (encode_tree (tree (Wire.max_depth + 1)))) in
  check ("one level deeper: " ^ got) (got = "TooDeep");
  let node = ref (key 1 2 ^ u32 0) in
  for _ = 1 to 5000 do
    node := key 1 2 ^ u32 0 ^ key 2 4 ^ len_value (u32 1 ^ len_value !node)
  done;
  let body = key 1 4 ^ len_value !node ^ key 2 4 ^ len_value "" in
  let got = outcome (fun () -> decode_tree body) in
  check ("hostile depth: " ^ got) (got = "TooDeep");
  (* Bushes nest each level in eight lists: the most stack a level can take. *)
  let bush_body depth =
    let node = ref (key 1 2 ^ u32 0 ^ key 2 4 ^ len_value (u32 0)) in
    for _ = 2 to depth do
      let kids = ref (len_value !node) in
      for _ = 1 to 8 do kids := len_value (u32 1 ^ !kids) done;
      node := key 1 2 ^ u32 0 ^ key 2 4 ^ !kids
    done;
    key 1 4 ^ len_value !node
  in
  let got = outcome (fun () -> decode_thicket (bush_body Wire.max_depth)) in
  check ("bushes up to max_depth: " ^ got) (got = "ok");
  let got = outcome (fun () -> decode_thicket (bush_body (Wire.max_depth + 40))) in
  check ("bushes past max_depth: " ^ got) (got = "TooDeep");
  let t : tree = { root = { label = 1; children = [] }; blob = Bytes.of_string "\001\002"; small = Some [ 1; 2 ] } in
  let text = tree_to_text t in
  check ("bytes and list<u8> text: " ^ text)
    (text = "Tree{root=Node{label=1, children=[]}, blob=b\"\\x01\\x02\", small=some([1, 2])}");
  check "round trip" (decode_tree (encode_tree t) = t);
  let over = encode_tree { t with small = None } ^ key 3 4 ^ len_value (u32 5 ^ String.make 5 '\000') in
  let got = outcome (fun () -> decode_tree over) in
  check ("list<u8> over max_len: " ^ got) (got = "LengthMismatch");
  Printf.printf "ocaml nested: %d failed\n%!" !failures;
  if !failures > 0 then exit 1
