fn main() {
    mycelium_codegen::rust::build("../contracts.yaml");
}
