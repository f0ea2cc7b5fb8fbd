(** The Rust runtime a program links: the implementation's C archive comes with this module.
    An implementation (a library with [(implements mycelium.runtime)] and
    [(foreign_archives ...)]) defines it as [let name = "..."]. *)

val name : string
(** Which runtime: ["mycelium_ffi"] for the default, the actor library's name for a team's. *)
