let name = "desk_cabi"
