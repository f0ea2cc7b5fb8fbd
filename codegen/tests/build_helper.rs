//! The build-script helper writes the generated files, and fails with every error of a
//! broken schema.

use mycelium_codegen::rust;

#[test]
fn try_build_writes_into_out_dir_or_reports_errors() {
    let out = std::env::temp_dir().join(format!("mycelium-codegen-test-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    // The only test in this binary that touches the environment.
    std::env::set_var("OUT_DIR", &out);

    let good = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts.yaml");
    let module = rust::try_build(good).expect("valid schema builds");
    assert_eq!(module, out.join(rust::FILE_NAME));
    let code = std::fs::read_to_string(&module).expect("written");
    assert!(code.contains("pub struct Quote"));
    assert!(out.join(rust::STRATEGIES_FILE_NAME).exists());

    let bad = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemas/broken.yaml");
    let err = rust::try_build(bad).expect_err("broken schema fails");
    assert!(err.contains("error(s) in the schema"), "{err}");

    let _ = std::fs::remove_dir_all(&out);
}
