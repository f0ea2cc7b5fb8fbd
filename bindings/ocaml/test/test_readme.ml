(* The README's OCaml example, compiled and run as written (readme_example.ml is extracted
   from README.md by the rule in ./dune); then checks that it left nothing behind. *)
include Readme_example

let () =
  if Mycelium.live_roots () <> 0 then (
    Printf.printf "test_readme: %d roots left\n" (Mycelium.live_roots ());
    exit 1);
  print_endline "test_readme: ok"
