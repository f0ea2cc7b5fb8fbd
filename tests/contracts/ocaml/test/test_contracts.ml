(* The generated OCaml codec against the golden vectors written by the Rust encoder, and
   against malformed input: decoding raises Wire.Decode_error with the right kind, and
   nothing else, whatever the bytes. *)

open Trading

let checks = ref 0
let failures = ref 0

let check name ok =
  incr checks;
  if not ok then begin
    incr failures;
    Printf.printf "FAIL: %s\n%!" name
  end

(* The kind of Decode_error [f] raises, "ok" if none; any other exception is reported. *)
let outcome f =
  match f () with
  | _ -> "ok"
  | exception Wire.Decode_error (kind, _) -> kind
  | exception e -> "exception " ^ Printexc.to_string e

let expect_kind name kind f =
  let got = outcome f in
  check (Printf.sprintf "%s: expected %s, got %s" name kind got) (got = kind)

let expect_encode_error name f =
  let got =
    match f () with
    | _ -> "no error"
    | exception Wire.Encode_error _ -> "Encode_error"
    | exception e -> "exception " ^ Printexc.to_string e
  in
  check (Printf.sprintf "%s: expected Encode_error, got %s" name got) (got = "Encode_error")

(* Golden files *)

(* dune copies the golden files next to the build tree: the test runs in
   _build/default/ocaml/test and they are in _build/default/golden. *)
let golden_dir = Filename.concat (Filename.concat Filename.parent_dir_name Filename.parent_dir_name) "golden"

let read_file path =
  let ic = open_in_bin path in
  let s = really_input_string ic (in_channel_length ic) in
  close_in ic;
  s

let frames = read_file (Filename.concat golden_dir "frames.bin")

let expected_lines =
  read_file (Filename.concat golden_dir "expected.txt") |> String.split_on_char '\n'

let expected =
  expected_lines |> List.filter (fun l -> l <> "" && l.[0] <> '#') |> Array.of_list

(* Every golden frame as (offset, length, decoded frame). *)
let golden =
  let rec go pos acc =
    if pos >= String.length frames then List.rev acc
    else
      let f, used = decode_frame ~pos frames in
      go (pos + used) ((pos, used, f) :: acc)
  in
  go 0 []

let test_golden () =
  check
    (Printf.sprintf "%d frames for %d expected lines" (List.length golden)
       (Array.length expected))
    (List.length golden = Array.length expected);
  List.iteri
    (fun i (pos, used, (f : Frame.t)) ->
      if i < Array.length expected then begin
        let text = Message.to_text f.message in
        check (Printf.sprintf "frame %d: text\n  got      %s\n  expected %s" i text expected.(i))
          (text = expected.(i));
        let again = encode_frame ~seq:f.seq ~ts_ns:f.ts_ns ~flags:f.flags f.message in
        check (Printf.sprintf "frame %d re-encodes to the same bytes" i)
          (again = String.sub frames pos used)
      end)
    golden;
  let seen = List.map (fun (_, _, (f : Frame.t)) -> Message.type_id f.message) golden in
  List.iter
    (fun id -> check (Printf.sprintf "type id %d has a golden vector" id) (List.mem id seen))
    Message.type_ids;
  let digest_line = "# schema_digest " ^ schema_digest in
  check "schema digest matches the Rust one" (List.mem digest_line expected_lines)

(* Building hostile bytes *)

let u16 n = let b = Bytes.create 2 in Bytes.set_uint16_le b 0 n; Bytes.to_string b
let u32 n = let b = Bytes.create 4 in Bytes.set_int32_le b 0 (Int32.of_int n); Bytes.to_string b
let key tag wire = u16 ((tag lsl 3) lor wire)
let len_value s = u32 (String.length s) ^ s

let header ?(magic = "MYCL") ?(version = 1) type_id body_len =
  let b = Bytes.make 32 '\000' in
  Bytes.blit_string magic 0 b 0 4;
  Bytes.set_uint8 b 4 version;
  Bytes.set_uint16_le b 6 type_id;
  Bytes.set_int32_le b 8 (Int32.of_int body_len);
  Bytes.to_string b

let frame ?magic ?version type_id body = header ?magic ?version type_id (String.length body) ^ body

(* (tag, wire, value bytes) of each field of a well-formed body. *)
let split_fields body =
  let rec go pos acc =
    if pos >= String.length body then List.rev acc
    else
      let k = String.get_uint16_le body pos in
      let wire = k land 7 in
      let size =
        if wire = 4 then 4 + (Int32.to_int (String.get_int32_le body (pos + 2)) land 0xFFFF_FFFF)
        else [| 1; 2; 4; 8 |].(wire)
      in
      go (pos + 2 + size) ((k lsr 3, wire, String.sub body (pos + 2) size) :: acc)
  in
  go 0 []

let join_fields fields = String.concat "" (List.map (fun (t, w, v) -> key t w ^ v) fields)

let replace_field body tag value =
  join_fields (List.map (fun (t, w, v) -> if t = tag then (t, w, value) else (t, w, v)) (split_fields body))

let drop_field body tag = join_fields (List.filter (fun (t, _, _) -> t <> tag) (split_fields body))

(* Sample values *)

let cancel : cancel_order = { client_order_id = 1L; instrument = 2; ts_ns = 3L }

let new_order : new_order =
  {
    client_order_id = 42L;
    instrument = 7;
    side = Sell;
    order_type = Limit;
    tif = Gtc;
    price = Some 100.5;
    stop_price = None;
    qty = 3.0;
    account = "acct";
    post_only = false;
    strategy_tag = [| 1; 2; 3; 4; 5; 6; 7; 8 |];
    ts_ns = 99L;
  }

let fee code amount : fee =
  { currency = Array.init 3 (fun i -> Char.code code.[i]); amount }

let telemetry : telemetry =
  {
    ts_ns = 1L;
    service = "risk";
    health = Degraded;
    up = true;
    cpu_pct = 12.5;
    core_id = 3;
    restarts = 2;
    queue_depth = 70000;
    temperature_delta = -4;
    skew_us = -300;
    drift_ns = -70000;
    pnl_cents = Int64.neg (Int64.shift_left 1L 40);
    latency_hist = [| 1; 2; 3; 4; 5; 6; 7; 8 |];
    counters = [ ({ name = "orders"; value = 10L; delta = -1L } : counter) ];
    labels = [ "a"; "b" ];
    blob = Some (Bytes.of_string "\000\255");
    samples = [ 0.5; -0.25 ];
    peers = [ [| 10; 0; 0; 1 |] ];
    flags = [ true; false ];
    sides = Some [ Buy ];
    chunks = [ Bytes.of_string "x"; Bytes.empty ];
    matrix = [ [ 1; -2 ]; [] ];
    instrument = Some ({ id = 7; symbol = "BTC-USD"; venue = "X"; tick_size = 0.01 } : instrument);
    fee_grid = [| fee "USD" 0.1; fee "EUR" 0.2 |];
  }

let heartbeat : heartbeat = { ts_ns = 1L; seq = 2L; sender = "s" }

(* Frame header checks *)

let test_frames () =
  List.iteri
    (fun i (pos, used, _) ->
      let whole = String.sub frames pos used in
      for cut = 0 to used - 1 do
        expect_kind (Printf.sprintf "frame %d cut at %d" i cut) "Truncated" (fun () ->
            decode_frame (String.sub whole 0 cut))
      done)
    golden;
  expect_kind "bad magic" "BadMagic" (fun () -> decode_frame (frame ~magic:"MYCX" 201 ""));
  expect_kind "version 2" "UnsupportedVersion" (fun () -> decode_frame (frame ~version:2 201 ""));
  expect_kind "body_len 2^32-1" "FrameTooLarge" (fun () -> decode_frame (header 201 0xFFFF_FFFF));
  let body = encode_cancel_order cancel in
  expect_kind "body over max_frame_size" "FrameTooLarge" (fun () ->
      decode_frame ~max_frame_size:(String.length body - 1) (frame 201 body));
  expect_kind "body_len past the buffer" "Truncated" (fun () ->
      decode_frame (header 201 1000 ^ String.make 10 '\000'));
  expect_kind "unknown type id" "UnknownType" (fun () -> decode_frame (frame 7 ""));
  let f, used = decode_frame ~pos:3 ("xyz" ^ encode_frame ~seq:5L ~flags:1 (Message.CancelOrder cancel)) in
  check "decode at an offset" (used = 32 + String.length body && f.seq = 5L && f.flags = 1);
  check "decoded at an offset equals the value" (f.message = Message.CancelOrder cancel)

(* Body checks *)

let test_bodies () =
  let cancel_body = encode_cancel_order cancel in
  let decode_cancel b () = ignore (decode_cancel_order b) in
  expect_kind "duplicate tag" "DuplicateField" (decode_cancel (cancel_body ^ key 2 2 ^ u32 5));
  expect_kind "missing field" "MissingField" (decode_cancel (drop_field cancel_body 3));
  check "fields in any order"
    (decode_cancel_order (join_fields (List.rev (split_fields cancel_body))) = cancel);
  let extra =
    key 100 0 ^ "\001" ^ key 101 1 ^ "\001\002" ^ key 102 2 ^ "\001\002\003\004" ^ key 103 3
    ^ String.make 8 '\001' ^ key 104 4 ^ len_value "anything"
  in
  check "unknown tags are skipped" (decode_cancel_order (extra ^ cancel_body) = cancel);
  List.iter
    (fun w ->
      expect_kind (Printf.sprintf "wire type %d" w) "InvalidWireType"
        (decode_cancel (key 100 w ^ cancel_body)))
    [ 5; 6; 7 ];
  expect_kind "wrong wire type" "WrongWireType"
    (decode_cancel (drop_field cancel_body 2 ^ key 2 3 ^ String.make 8 '\000'));
  expect_kind "tag 0" "InvalidTag" (decode_cancel (key 0 0 ^ "\000" ^ cancel_body));
  expect_kind "unknown tag with oversize length" "Truncated"
    (decode_cancel (cancel_body ^ key 100 4 ^ u32 0xFFFF_FFFF));
  let order_body = encode_new_order new_order in
  let decode_order b () = ignore (decode_new_order b) in
  expect_kind "bool 2" "InvalidValue" (decode_order (replace_field order_body 10 "\002"));
  expect_kind "unknown enum value" "UnknownEnumValue" (decode_order (replace_field order_body 3 (u32 3)));
  List.iter
    (fun n ->
      expect_kind (Printf.sprintf "array of %d" n) "LengthMismatch"
        (decode_order (replace_field order_body 11 (len_value (u32 n ^ String.make n '\000')))))
    [ 0; 7; 9 ];
  let tel_body = encode_telemetry telemetry in
  let decode_tel b () = ignore (decode_telemetry b) in
  expect_kind "unknown enum in a list" "UnknownEnumValue"
    (decode_tel (replace_field tel_body 20 (len_value (u32 1 ^ u32 9))));
  let seventeen = u32 17 ^ String.concat "" (List.init 17 (fun _ -> len_value "x")) in
  expect_kind "list over max_len" "LengthMismatch" (decode_tel (replace_field tel_body 15 (len_value seventeen)));
  let sixteen = List.init 16 string_of_int in
  check "list at max_len"
    ((decode_telemetry (encode_telemetry { telemetry with labels = sixteen })).labels = sixteen);
  expect_kind "hostile count, packed" "Truncated"
    (decode_tel (replace_field tel_body 17 (len_value (u32 0xFFFF_FFFF ^ String.make 8 '\000'))));
  expect_kind "hostile count, nested" "Truncated"
    (decode_tel (replace_field tel_body 22 (len_value (u32 0x7FFF_FFFF))));
  expect_kind "bytes left in a list" "TrailingBytes"
    (decode_tel (replace_field tel_body 17 (len_value (u32 1 ^ String.make 9 '\000'))));
  let hb_body = encode_heartbeat heartbeat in
  List.iter
    (fun bad ->
      expect_kind (Printf.sprintf "utf-8 %S" bad) "InvalidUtf8" (fun () ->
          ignore (decode_heartbeat (replace_field hb_body 3 (len_value bad)))))
    [ "\xff"; "\xc0\xaf"; "\xed\xa0\x80"; "\xf4\x90\x80\x80"; "ab\xe2\x82" ];
  check "valid utf-8 of every length"
    ((decode_heartbeat (encode_heartbeat { heartbeat with sender = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" })).sender
     = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  expect_kind "length past the end" "Truncated" (fun () ->
      ignore (decode_heartbeat (replace_field hb_body 3 (u32 50 ^ "s"))));
  let book : book_snapshot =
    { ts_ns = 1L; instrument = { id = 7; symbol = "S"; venue = "V"; tick_size = 0.5 }; bids = []; asks = []; venue_seq = None }
  in
  let without_symbol = key 1 2 ^ u32 7 ^ key 3 4 ^ len_value "V" ^ key 4 3 ^ String.make 8 '\000' in
  expect_kind "struct missing a field" "MissingField" (fun () ->
      ignore (decode_book_snapshot (replace_field (encode_book_snapshot book) 2 (len_value without_symbol))));
  (* Readers take the canonical layout (fields in tag order) first and read any other
     field by field: a struct out of order inside a message in order, an optional field
     present or absent, a message out of order around a struct in order. *)
  let book_body = encode_book_snapshot book in
  let instrument_fields =
    let _, _, v = List.find (fun (t, _, _) -> t = 2) (split_fields book_body) in
    split_fields (String.sub v 4 (String.length v - 4))
  in
  let reversed = len_value (join_fields (List.rev instrument_fields)) in
  check "a struct's fields in any order" (decode_book_snapshot (replace_field book_body 2 reversed) = book);
  let with_seq = { book with venue_seq = Some 9L } in
  check "an optional field present" (decode_book_snapshot (encode_book_snapshot with_seq) = with_seq);
  check "a message's fields in any order around a struct"
    (decode_book_snapshot (join_fields (List.rev (split_fields book_body))) = book);
  expect_kind "a duplicate after the canonical fields" "DuplicateField" (fun () ->
      ignore (decode_book_snapshot (book_body ^ key 1 3 ^ String.make 8 '\000')))

(* Round trips and encoding errors *)

let test_encode () =
  check "telemetry round trip" (decode_telemetry (encode_telemetry telemetry) = telemetry);
  let f, _ = decode_frame (encode_frame ~seq:5L ~ts_ns:6L ~flags:1 (Message.Telemetry telemetry)) in
  check "telemetry frame round trip"
    (f.seq = 5L && f.ts_ns = 6L && f.flags = 1 && f.message = Message.Telemetry telemetry);
  check "every Side variant listed" (all_side = [ Buy; Sell ]);
  check "f32 infinity" ((decode_telemetry (encode_telemetry { telemetry with cpu_pct = infinity })).cpu_pct = infinity);
  check "f32 nan" (Float.is_nan (decode_telemetry (encode_telemetry { telemetry with cpu_pct = nan })).cpu_pct);
  let enc name t = expect_encode_error name (fun () -> encode_telemetry t) in
  enc "u8 256" { telemetry with core_id = 256 };
  enc "u8 -1" { telemetry with core_id = -1 };
  enc "u16 65536" { telemetry with restarts = 65536 };
  enc "u32 -1" { telemetry with queue_depth = -1 };
  enc "u32 2^32" { telemetry with queue_depth = 1 lsl 32 };
  enc "i8 128" { telemetry with temperature_delta = 128 };
  enc "i16 -32769" { telemetry with skew_us = -32769 };
  enc "i32 2^31" { telemetry with drift_ns = 1 lsl 31 };
  enc "array of 7" { telemetry with latency_hist = Array.make 7 0 };
  enc "list of 17" { telemetry with labels = List.init 17 string_of_int };
  enc "invalid utf-8" { telemetry with service = "\xff" };
  enc "nested i32" { telemetry with matrix = [ [ 1 lsl 31 ] ] };
  enc "u8 in a nested array" { telemetry with peers = [ [| 256; 0; 0; 0 |] ] };
  expect_encode_error "flags 256" (fun () -> encode_frame ~flags:256 (Message.CancelOrder cancel));
  check "u64 max round trips"
    ((decode_cancel_order (encode_cancel_order { cancel with client_order_id = -1L })).client_order_id = -1L);
  check "u64 max prints unsigned" (Wire.text_u64 (-1L) = "18446744073709551615")

(* Fuzzing with fixed seeds: decode or Decode_error, never anything else. *)

let test_fuzz () =
  Random.init 0x4D59434C;
  let pool =
    Array.of_list
      (List.map (fun (pos, used, _) -> String.sub frames pos used) golden
       @ [ encode_frame (Message.Telemetry telemetry); encode_frame (Message.NewOrder new_order) ])
  in
  let bad = ref 0 in
  for _ = 1 to 20000 do
    let data = Bytes.of_string pool.(Random.int (Array.length pool)) in
    let n = Bytes.length data in
    for _ = 1 to 1 + Random.int 4 do
      let at = if Random.float 1.0 < 0.2 || n <= 32 then Random.int n else 32 + Random.int (n - 32) in
      Bytes.set_uint8 data at (Random.int 256)
    done;
    let data =
      if Random.float 1.0 < 0.3 && n > 32 then begin
        let cut = 32 + Random.int (n - 32 + 1) in
        let d = Bytes.sub data 0 cut in
        Bytes.set_int32_le d 8 (Int32.of_int (cut - 32));
        d
      end
      else data
    in
    match outcome (fun () -> decode_frame (Bytes.to_string data)) with
    | "ok" -> ()
    | k when String.length k > 10 && String.sub k 0 10 = "exception " ->
      incr bad;
      if !bad <= 5 then Printf.printf "fuzz: %s on %S\n%!" k (Bytes.to_string data)
    | _ -> ()
  done;
  check (Printf.sprintf "mutated frames: %d crashed with another exception" !bad) (!bad = 0);
  Random.init 7;
  let bad = ref 0 in
  for _ = 1 to 20000 do
    let body = String.init (Random.int 64) (fun _ -> Char.chr (Random.int 256)) in
    let id = List.nth Message.type_ids (Random.int (List.length Message.type_ids)) in
    match outcome (fun () -> Message.decode id body) with
    | k when String.length k > 10 && String.sub k 0 10 = "exception " -> incr bad
    | _ -> ()
  done;
  check (Printf.sprintf "random bodies: %d crashed with another exception" !bad) (!bad = 0)

(* Mutated golden frames: the same error kind as the Rust reader, or the same bytes when
   re-encoding what was accepted (golden/mutations.txt). *)

let fnv1a64 s =
  let h = ref 0xcbf29ce484222325L in
  String.iter
    (fun ch -> h := Int64.mul (Int64.logxor !h (Int64.of_int (Char.code ch))) 0x100000001b3L)
    s;
  !h

let apply frame edits =
  let set_body_len b = Bytes.set_int32_le b 8 (Int32.of_int (Bytes.length b - 32)) in
  List.fold_left
    (fun b edit ->
      let arg = String.sub edit 1 (String.length edit - 1) in
      let pair () =
        match String.index_opt arg ':' with
        | Some i -> (int_of_string (String.sub arg 0 i), String.sub arg (i + 1) (String.length arg - i - 1))
        | None -> failwith ("bad edit " ^ edit)
      in
      match edit.[0] with
      | 's' ->
        let at, byte = pair () in
        Bytes.set_uint8 b at (int_of_string ("0x" ^ byte));
        b
      | 'c' ->
        let b = Bytes.sub b 0 (int_of_string arg) in
        set_body_len b;
        b
      | 'i' ->
        let at, hex = pair () in
        let ins = String.init (String.length hex / 2) (fun i -> Char.chr (int_of_string ("0x" ^ String.sub hex (2 * i) 2))) in
        let b =
          Bytes.cat (Bytes.sub b 0 at)
            (Bytes.cat (Bytes.of_string ins) (Bytes.sub b at (Bytes.length b - at)))
        in
        set_body_len b;
        b
      | _ -> failwith ("bad edit " ^ edit))
    (Bytes.of_string frame) edits

let test_mutations () =
  let frames = Array.of_list (List.map (fun (pos, used, _) -> String.sub frames pos used) golden) in
  let lines =
    read_file (Filename.concat golden_dir "mutations.txt")
    |> String.split_on_char '\n'
    |> List.filter (fun l -> l <> "" && l.[0] <> '#')
  in
  check "mutations.txt has cases" (lines <> []);
  let differ = ref 0 in
  List.iter
    (fun line ->
      let spec, expected =
        match String.index_opt line '>' with
        | Some i -> (String.sub line 0 (i - 2), String.sub line (i + 2) (String.length line - i - 2))
        | None -> failwith ("bad line " ^ line)
      in
      match String.split_on_char ' ' spec with
      | index :: edits ->
        let data = Bytes.to_string (apply frames.(int_of_string index) edits) in
        let got =
          match decode_frame data with
          | f, _ ->
            let again = encode_frame ~seq:f.seq ~ts_ns:f.ts_ns ~flags:f.flags f.message in
            Printf.sprintf "ok %016Lx" (fnv1a64 again)
          | exception Wire.Decode_error (kind, _) -> "err " ^ kind
          | exception e -> "exception " ^ Printexc.to_string e
        in
        if got <> expected then begin
          incr differ;
          if !differ <= 10 then Printf.printf "mutation %S: OCaml says %S\n%!" line got
        end
      | [] -> failwith ("bad line " ^ line))
    lines;
  check (Printf.sprintf "mutated frames: %d of %d differ from Rust" !differ (List.length lines)) (!differ = 0)

let () =
  test_golden ();
  test_mutations ();
  test_frames ();
  test_bodies ();
  test_encode ();
  test_fuzz ();
  Printf.printf "ocaml: %d checks, %d failed\n%!" !checks !failures;
  if !failures > 0 then exit 1
