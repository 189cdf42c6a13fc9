//! `application/x-www-form-urlencoded` decoding, shared by the HAR export and the CLI.

/// Decodes one form key or value: `+` is a space and `%XX` a byte; a `%` that does not start a
/// valid escape stays as written, as browsers keep it. Returns bytes: escapes may encode
/// anything, UTF-8 or not.
pub fn form_decode(s: &str) -> Vec<u8> {
    // `+` first, so that an escaped `%2B` still decodes to a plus.
    percent_encoding::percent_decode_str(&s.replace('+', " ")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_escapes_and_keeps_bad_escapes() {
        assert_eq!(form_decode("a+b%20c"), b"a b c");
        assert_eq!(form_decode("%ff%00"), b"\xff\x00");
        assert_eq!(form_decode("100%"), b"100%");
        assert_eq!(form_decode("%zz%4"), b"%zz%4");
        assert_eq!(form_decode("caf%C3%A9"), "café".as_bytes());
    }
}
