let name = "mycelium_ffi"
