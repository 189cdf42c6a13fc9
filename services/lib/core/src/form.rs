//! `application/x-www-form-urlencoded` decoding, shared by the HAR export and the CLI.

/// Decodes one form key or value: `+` is a space and `%XX` a byte; a `%` that does not start a
/// valid escape stays as written, as browsers keep it. Returns bytes: escapes may encode
/// anything, UTF-8 or not.
pub fn form_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes.get(i + 1..i + 3).and_then(|hex| hex_byte(hex[0], hex[1])) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    u8::try_from(digit(hi)? * 16 + digit(lo)?).ok()
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
