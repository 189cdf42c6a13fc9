//! `application/x-www-form-urlencoded` encoding, as Twilio writes its POST parameters.

/// `name=value&…`, each part encoded: letters, digits and `-._*` as they are, a space as `+`,
/// every other byte as `%XX`.
pub(crate) fn encode(fields: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        part(&mut out, name);
        out.push('=');
        part(&mut out, value);
    }
    out
}

fn part(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_a_form_post() {
        let fields = vec![
            ("From".to_string(), "+14155550100".to_string()),
            ("Body".to_string(), "Hi there & café=ok".to_string()),
        ];
        assert_eq!(encode(&fields), "From=%2B14155550100&Body=Hi+there+%26+caf%C3%A9%3Dok");
        assert_eq!(encode(&[]), "");
    }

    #[test]
    fn decodes_back_to_the_same_fields() {
        let fields = vec![("a b".to_string(), "x+y%z/é".to_string())];
        let encoded = encode(&fields);
        let (k, v) = encoded.split_once('=').unwrap();
        assert_eq!(hookmetry_core::form_decode(k), b"a b");
        assert_eq!(hookmetry_core::form_decode(v), "x+y%z/é".as_bytes());
    }
}
