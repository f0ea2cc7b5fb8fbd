(* The fixed part of every generated module: bounded reads, range-checked writes, the frame
   header and the canonical text helpers. docs/wire.md describes every byte. *)
module Wire = struct
  exception Decode_error of string * string
  (** [Decode_error (kind, detail)]: the bytes are not a valid frame or body. [kind] names
      the failed check with the names of the Rust runtime's [FrameError]/[DecodeError]
      variants ([Truncated], [BadMagic], [UnsupportedVersion], [FrameTooLarge],
      [InvalidTag], [InvalidWireType], [WrongWireType], [DuplicateField], [MissingField],
      [InvalidValue], [InvalidUtf8], [LengthMismatch], [UnknownEnumValue], [TooDeep],
      [TrailingBytes]), plus [UnknownType] for a type id that names no message of this
      schema. Decoding raises nothing else, whatever the input. *)

  exception Encode_error of string
  (** A value the wire cannot carry: out of range, too many elements, invalid UTF-8. *)

  let () =
    Printexc.register_printer (function
      | Decode_error (kind, detail) -> Some (Printf.sprintf "Decode_error(%s: %s)" kind detail)
      | Encode_error detail -> Some (Printf.sprintf "Encode_error(%s)" detail)
      | _ -> None)

  let magic = "MYCL"
  let version = 1
  let header_len = 32
  let default_max_frame_size = 1 lsl 20
  let max_depth = 64
  let flag_end_of_batch = 0x01

  let fail kind detail = raise (Decode_error (kind, detail))
  let encode_fail detail = raise (Encode_error detail)

  (* Reading *)

  type cursor = { s : string; mutable pos : int; stop : int; depth : int }

  let cursor s = { s; pos = 0; stop = String.length s; depth = 0 }

  let need c n what =
    if n > c.stop - c.pos then
      fail "Truncated"
        (Printf.sprintf "%s needs %d bytes but %d remain" what n (c.stop - c.pos))

  let read_u8 c what =
    need c 1 what;
    let v = String.get_uint8 c.s c.pos in
    c.pos <- c.pos + 1;
    v

  let read_i8 c what =
    need c 1 what;
    let v = String.get_int8 c.s c.pos in
    c.pos <- c.pos + 1;
    v

  let read_u16 c what =
    need c 2 what;
    let v = String.get_uint16_le c.s c.pos in
    c.pos <- c.pos + 2;
    v

  let read_i16 c what =
    need c 2 what;
    let v = String.get_int16_le c.s c.pos in
    c.pos <- c.pos + 2;
    v

  let read_i32 c what =
    need c 4 what;
    let v = Int32.to_int (String.get_int32_le c.s c.pos) in
    c.pos <- c.pos + 4;
    v

  let read_u32 c what = read_i32 c what land 0xFFFF_FFFF

  let read_i64 c what =
    need c 8 what;
    let v = String.get_int64_le c.s c.pos in
    c.pos <- c.pos + 8;
    v

  let read_u64 = read_i64

  (* f32 NaNs are widened and narrowed by hand: the hardware conversions set the quiet
     bit, which would turn a signalling NaN into another value on the way back. *)
  let float_of_f32_bits (b : int32) : float =
    let bits = Int32.to_int b land 0xFFFF_FFFF in
    if bits land 0x7F80_0000 = 0x7F80_0000 && bits land 0x7F_FFFF <> 0 then
      Int64.float_of_bits
        (Int64.logor
           (Int64.shift_left (Int64.of_int (bits land 0x8000_0000)) 32)
           (Int64.logor 0x7FF0_0000_0000_0000L
              (Int64.shift_left (Int64.of_int (bits land 0x7F_FFFF)) 29)))
    else Int32.float_of_bits b

  let f32_bits_of_float (v : float) : int32 =
    if Float.is_nan v then begin
      let wide = Int64.bits_of_float v in
      let mantissa = Int64.to_int (Int64.shift_right_logical wide 29) land 0x7F_FFFF in
      let mantissa = if mantissa = 0 then 0x40_0000 else mantissa in
      let sign = Int64.to_int (Int64.shift_right_logical wide 32) land 0x8000_0000 in
      Int32.of_int (sign lor 0x7F80_0000 lor mantissa)
    end
    else Int32.bits_of_float v

  let read_f32 c what =
    need c 4 what;
    let v = float_of_f32_bits (String.get_int32_le c.s c.pos) in
    c.pos <- c.pos + 4;
    v

  let read_f64 c what = Int64.float_of_bits (read_i64 c what)

  let read_bool c what =
    match read_u8 c what with
    | 0 -> false
    | 1 -> true
    | b -> fail "InvalidValue" (Printf.sprintf "%s: bool byte is %d, not 0 or 1" what b)

  (* The [u32]-length-prefixed value at the cursor, as a cursor of its own. *)
  let sub c what =
    let n = read_u32 c what in
    need c n what;
    let inner = { c with stop = c.pos + n } in
    c.pos <- c.pos + n;
    inner

  let sub_struct c what =
    let inner = sub c what in
    if inner.depth >= max_depth then
      fail "TooDeep" (Printf.sprintf "%s: structs nest deeper than %d" what max_depth);
    { inner with depth = inner.depth + 1 }

  (* Strict UTF-8, as Rust's [str::from_utf8] and Python's decoder: no overlong forms, no
     surrogates, nothing above U+10FFFF. *)
  let valid_utf8 s =
    let n = String.length s in
    let byte i = if i < n then Char.code (String.unsafe_get s i) else -1 in
    let cont i = let b = byte i in b >= 0x80 && b <= 0xBF in
    let rec go i =
      if i >= n then true
      else
        let b = byte i in
        if b < 0x80 then go (i + 1)
        else if b < 0xC2 then false
        else if b < 0xE0 then cont (i + 1) && go (i + 2)
        else if b < 0xF0 then
          let b1 = byte (i + 1) in
          let ok1 =
            if b = 0xE0 then b1 >= 0xA0 && b1 <= 0xBF
            else if b = 0xED then b1 >= 0x80 && b1 <= 0x9F
            else b1 >= 0x80 && b1 <= 0xBF
          in
          ok1 && cont (i + 2) && go (i + 3)
        else if b < 0xF5 then
          let b1 = byte (i + 1) in
          let ok1 =
            if b = 0xF0 then b1 >= 0x90 && b1 <= 0xBF
            else if b = 0xF4 then b1 >= 0x80 && b1 <= 0x8F
            else b1 >= 0x80 && b1 <= 0xBF
          in
          ok1 && cont (i + 2) && cont (i + 3) && go (i + 4)
        else false
    in
    go 0

  let read_string c what =
    let inner = sub c what in
    let v = String.sub c.s inner.pos (inner.stop - inner.pos) in
    if not (valid_utf8 v) then fail "InvalidUtf8" (what ^ ": not valid UTF-8");
    v

  let read_bytes c what =
    let inner = sub c what in
    Bytes.of_string (String.sub c.s inner.pos (inner.stop - inner.pos))

  (* [list<T>] and [[T; N]]: a u32 count then the elements. [width] is the packed size of
     one element, or 4 (its length prefix) for length-prefixed elements, so a count the
     remaining bytes cannot hold is refused before anything is built. *)
  let read_seq ~exact ~max_len ~width elem c what =
    let inner = sub c what in
    let count = read_u32 inner what in
    (match exact with
     | Some n when count <> n ->
       fail "LengthMismatch"
         (Printf.sprintf "%s: array needs exactly %d elements, got %d" what n count)
     | _ -> ());
    (match max_len with
     | Some m when count > m ->
       fail "LengthMismatch"
         (Printf.sprintf "%s: %d elements exceed max_len %d" what count m)
     | _ -> ());
    need inner (count * width) (Printf.sprintf "%s (%d elements)" what count);
    let items = ref [] in
    for _ = 1 to count do
      items := elem inner what :: !items
    done;
    if inner.pos <> inner.stop then
      fail "TrailingBytes"
        (Printf.sprintf "%s: %d bytes left after %d elements" what (inner.stop - inner.pos)
           count);
    List.rev !items

  let read_list ~max_len ~width elem c what =
    read_seq ~exact:None ~max_len ~width elem c what

  let read_array ~len ~width elem c what =
    Array.of_list (read_seq ~exact:(Some len) ~max_len:None ~width elem c what)

  let wire_names = [| "I8"; "I16"; "I32"; "I64"; "LEN" |]

  (* The next field key of a struct or message body: [Some (tag, wire)], or [None] at its
     end. Unknown tags are the caller's to skip with [skip]. *)
  let next_key c name =
    if c.pos >= c.stop then None
    else begin
      (* The description is built only for the error: a key is read per field. *)
      if 2 > c.stop - c.pos then need c 2 (name ^ " field key");
      let key = String.get_uint16_le c.s c.pos in
      c.pos <- c.pos + 2;
      let tag = key lsr 3 and wire = key land 7 in
      if tag = 0 then fail "InvalidTag" (name ^ ": tag 0 is not a valid field tag");
      if wire > 4 then
        fail "InvalidWireType"
          (Printf.sprintf "%s tag %d: wire type %d is reserved" name tag wire);
      Some (tag, wire)
    end

  let skip c wire what =
    match wire with
    | 0 -> need c 1 what; c.pos <- c.pos + 1
    | 1 -> need c 2 what; c.pos <- c.pos + 2
    | 2 -> need c 4 what; c.pos <- c.pos + 4
    | 3 -> need c 8 what; c.pos <- c.pos + 8
    | _ -> ignore (sub c what)

  (* The canonical layout, which every encoder writes: each field once, in tag order. A
     reader tries it first and, when the body departs from it, reads the body again field by
     field with [next_key], [field] and [skip]. [Off_canonical] never leaves a reader. *)
  exception Off_canonical

  (* The key [key] is next; otherwise the body is not in the canonical layout. *)
  let expect_key c key =
    if c.stop - c.pos < 2 || String.get_uint16_le c.s c.pos <> key then
      raise_notrace Off_canonical;
    c.pos <- c.pos + 2

  (* Whether the key [key] (an optional field's) is next, taken if so. *)
  let has_key c key =
    if c.stop - c.pos >= 2 && String.get_uint16_le c.s c.pos = key then begin
      c.pos <- c.pos + 2;
      true
    end
    else false

  let expect_end c = if c.pos <> c.stop then raise_notrace Off_canonical

  (* Checks a known field's key and that it has not been seen before. *)
  let field what ~expected wire seen =
    if wire <> expected then
      fail "WrongWireType"
        (Printf.sprintf "%s: wire type %s, expected %s" what wire_names.(wire)
           wire_names.(expected));
    if seen then fail "DuplicateField" (what ^ ": tag appears twice")

  let required what = function
    | Some v -> v
    | None -> fail "MissingField" (what ^ " is required")

  (* Writing *)

  type writer = { mutable buf : Bytes.t; mutable len : int }

  let writer () = { buf = Bytes.create 256; len = 0 }
  let contents w = Bytes.sub_string w.buf 0 w.len

  let reserve w n =
    if w.len + n > Bytes.length w.buf then begin
      let bigger = Bytes.create (max (w.len + n) (2 * Bytes.length w.buf)) in
      Bytes.blit w.buf 0 bigger 0 w.len;
      w.buf <- bigger
    end

  let add_u8 w v =
    reserve w 1;
    Bytes.set_uint8 w.buf w.len v;
    w.len <- w.len + 1

  let add_u16 w v =
    reserve w 2;
    Bytes.set_uint16_le w.buf w.len v;
    w.len <- w.len + 2

  let add_i32 w v =
    reserve w 4;
    Bytes.set_int32_le w.buf w.len v;
    w.len <- w.len + 4

  let add_i64 w v =
    reserve w 8;
    Bytes.set_int64_le w.buf w.len v;
    w.len <- w.len + 8

  let add_string w s =
    let n = String.length s in
    reserve w n;
    Bytes.blit_string s 0 w.buf w.len n;
    w.len <- w.len + n

  let check_range what name lo hi v =
    if v < lo || v > hi then
      encode_fail (Printf.sprintf "%s: %d is out of range for %s" what v name)

  let write_key w tag wire = add_u16 w ((tag lsl 3) lor wire)
  let write_bool w _what v = add_u8 w (if v then 1 else 0)
  let write_u8 w what v = check_range what "u8" 0 0xFF v; add_u8 w v
  let write_i8 w what v = check_range what "i8" (-0x80) 0x7F v; add_u8 w (v land 0xFF)
  let write_u16 w what v = check_range what "u16" 0 0xFFFF v; add_u16 w v

  let write_i16 w what v =
    check_range what "i16" (-0x8000) 0x7FFF v;
    add_u16 w (v land 0xFFFF)

  let write_u32 w what v =
    check_range what "u32" 0 0xFFFF_FFFF v;
    add_i32 w (Int32.of_int v)

  let write_i32 w what v =
    check_range what "i32" (-0x8000_0000) 0x7FFF_FFFF v;
    add_i32 w (Int32.of_int v)

  let write_u64 w _what v = add_i64 w v
  let write_i64 w _what v = add_i64 w v
  let write_f32 w _what v = add_i32 w (f32_bits_of_float v)
  let write_f64 w _what v = add_i64 w (Int64.bits_of_float v)

  let write_len w what n =
    if n > 0xFFFF_FFFF then
      encode_fail (Printf.sprintf "%s: %d bytes do not fit a u32 length" what n);
    add_i32 w (Int32.of_int n)

  let write_string w what s =
    if not (valid_utf8 s) then encode_fail (what ^ ": string is not valid UTF-8");
    write_len w what (String.length s);
    add_string w s

  let write_bytes w what b =
    write_len w what (Bytes.length b);
    add_string w (Bytes.unsafe_to_string b)

  (* A length-prefixed value whose size is known once written: reserve the prefix, write,
     then patch it. *)
  let begin_len w =
    let mark = w.len in
    add_i32 w 0l;
    mark

  let end_len w what mark =
    let n = w.len - mark - 4 in
    if n > 0xFFFF_FFFF then
      encode_fail (Printf.sprintf "%s: %d bytes do not fit a u32 length" what n);
    Bytes.set_int32_le w.buf mark (Int32.of_int n)

  let write_list ~max_len elem w what l =
    let count = List.length l in
    (match max_len with
     | Some m when count > m ->
       encode_fail (Printf.sprintf "%s: %d elements exceed max_len %d" what count m)
     | _ -> ());
    let mark = begin_len w in
    write_len w what count;
    List.iter (elem w what) l;
    end_len w what mark

  let write_array ~len elem w what a =
    let count = Array.length a in
    if count <> len then
      encode_fail (Printf.sprintf "%s: array needs exactly %d elements, got %d" what len count);
    let mark = begin_len w in
    write_len w what count;
    Array.iter (elem w what) a;
    end_len w what mark

  (* Frame header *)

  type header = { flags : int; type_id : int; body_len : int; seq : int64; ts_ns : int64 }

  let write_frame w ~type_id ~flags ~seq ~ts_ns body =
    if flags < 0 || flags > 0xFF then
      encode_fail (Printf.sprintf "frame flags: %d is not in 0..=255" flags);
    add_string w magic;
    add_u8 w version;
    add_u8 w flags;
    add_u16 w type_id;
    write_len w "frame body" (String.length body);
    add_i64 w seq;
    add_i64 w ts_ns;
    add_i32 w 0l;
    add_string w body

  (* Checks the header at [pos] in the order docs/wire.md gives. *)
  let read_header ~max_frame_size s pos =
    let avail = String.length s - pos in
    if pos < 0 || avail < header_len then
      fail "Truncated"
        (Printf.sprintf "frame header needs %d bytes, got %d" header_len (max avail 0));
    if String.sub s pos 4 <> magic then
      fail "BadMagic" (Printf.sprintf "frame starts with %S, expected %S" (String.sub s pos 4) magic);
    let v = String.get_uint8 s (pos + 4) in
    if v <> version then
      fail "UnsupportedVersion"
        (Printf.sprintf "frame version %d, this reader knows %d" v version);
    let body_len = Int32.to_int (String.get_int32_le s (pos + 8)) land 0xFFFF_FFFF in
    if body_len > max_frame_size then
      fail "FrameTooLarge"
        (Printf.sprintf "body of %d bytes exceeds the maximum %d" body_len max_frame_size);
    if avail - header_len < body_len then
      fail "Truncated"
        (Printf.sprintf "frame body needs %d bytes, %d present" body_len (avail - header_len));
    {
      flags = String.get_uint8 s (pos + 5);
      type_id = String.get_uint16_le s (pos + 6);
      body_len;
      seq = String.get_int64_le s (pos + 12);
      ts_ns = String.get_int64_le s (pos + 20);
    }

  (* Canonical text (docs/contracts-languages.md) *)

  let escape s =
    let b = Buffer.create (String.length s + 8) in
    String.iter
      (fun ch ->
        let n = Char.code ch in
        if n >= 0x20 && n <= 0x7E && ch <> '"' && ch <> '\\' then Buffer.add_char b ch
        else Buffer.add_string b (Printf.sprintf "\\x%02x" n))
      s;
    Buffer.contents b

  let text_bool v = if v then "true" else "false"
  let text_int = string_of_int
  let text_u64 v = Printf.sprintf "%Lu" v
  let text_i64 v = Printf.sprintf "%Ld" v
  let text_f32 v = Printf.sprintf "f32:%08lx" (f32_bits_of_float v)
  let text_f64 v = Printf.sprintf "f64:%016Lx" (Int64.bits_of_float v)
  let text_string s = "\"" ^ escape s ^ "\""
  let text_bytes b = "b\"" ^ escape (Bytes.to_string b) ^ "\""
  let text_list f l = "[" ^ String.concat ", " (List.map f l) ^ "]"
  let text_array f a = text_list f (Array.to_list a)
  let text_option f = function None -> "none" | Some v -> "some(" ^ f v ^ ")"
end
