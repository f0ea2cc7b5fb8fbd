//! A JSON payload's floats read back exactly: a replay decodes each recorded input and
//! compares what the actor encodes again byte for byte, so a float parsed one unit off in its
//! last place would be a difference in an unchanged build.

#[test]
fn json_floats_read_back_to_the_same_bits_and_text() {
    for x in [
        100.80000000000001f64,
        501.20000000000005,
        0.1 + 0.2,
        1e-308,
        2.2250738585072014e-308,
    ] {
        let text = serde_json::to_string(&x).unwrap();
        let back: f64 = serde_json::from_str(&text).unwrap();
        assert_eq!(back.to_bits(), x.to_bits(), "{text}");
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }
}
