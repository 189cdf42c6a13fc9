//! Re-serializing JSON the way proxies and frameworks do, to explain a signature mismatch.
//!
//! This works on the token stream of the received bytes rather than a parsed map, so key order,
//! number spelling and string escapes stay exactly as received; only the whitespace between
//! tokens changes, which is what a re-serializing hop most often changes.

/// The body without any whitespace between tokens; `None` when it is not JSON.
pub(crate) fn compact(body: &[u8]) -> Option<Vec<u8>> {
    reformat(body, None, false)
}

/// The body pretty-printed with `indent` spaces per level.
pub(crate) fn pretty(body: &[u8], indent: usize) -> Option<Vec<u8>> {
    reformat(body, Some(indent), false)
}

/// The body with one space after `:` and `,` (Python's `json.dumps` default).
pub(crate) fn spaced(body: &[u8]) -> Option<Vec<u8>> {
    reformat(body, None, true)
}

fn reformat(body: &[u8], indent: Option<usize>, spaced: bool) -> Option<Vec<u8>> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;
    let mut out = Vec::with_capacity(body.len());
    let mut depth = 0usize;
    let mut i = 0;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        if let Some(n) = indent {
            out.push(b'\n');
            out.extend(std::iter::repeat_n(b' ', n * depth));
        }
    };
    while i < body.len() {
        let b = body[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                let start = i;
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    if body[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                out.extend_from_slice(&body[start..=i.min(body.len() - 1)]);
            }
            b'{' | b'[' => {
                out.push(b);
                // Empty containers stay `{}` / `[]`, as every serializer writes them.
                let next = body[i + 1..].iter().position(|c| !c.is_ascii_whitespace()).map(|p| body[i + 1 + p]);
                if matches!(next, Some(b'}') | Some(b']')) {
                    let close = body[i + 1..].iter().position(|c| !c.is_ascii_whitespace()).unwrap();
                    i += 1 + close;
                    out.push(body[i]);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                if indent.is_some() {
                    newline(&mut out, depth);
                } else if spaced {
                    out.push(b' ');
                }
            }
            b':' => {
                out.push(b);
                if indent.is_some() || spaced {
                    out.push(b' ');
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_order_numbers_and_strings() {
        let body = br#"{ "b": 1.50, "a" : [ 1, 2 ], "s": "x  y \" }", "e": {} , "l": [ ] }"#;
        assert_eq!(compact(body).unwrap(), br#"{"b":1.50,"a":[1,2],"s":"x  y \" }","e":{},"l":[]}"#.to_vec());
    }

    #[test]
    fn pretty_matches_common_serializers() {
        let body = br#"{"a":{"b":[1,2]},"c":{}}"#;
        let expected = "{\n  \"a\": {\n    \"b\": [\n      1,\n      2\n    ]\n  },\n  \"c\": {}\n}";
        assert_eq!(String::from_utf8(pretty(body, 2).unwrap()).unwrap(), expected);
        let pretty_serde = serde_json::to_vec_pretty(&serde_json::json!({"a":{"b":[1,2]},"c":{}})).unwrap();
        assert_eq!(pretty(body, 2).unwrap(), pretty_serde);
        assert_eq!(spaced(body).unwrap(), br#"{"a": {"b": [1, 2]}, "c": {}}"#.to_vec());
    }

    #[test]
    fn not_json_is_none() {
        assert!(compact(b"a=1&b=2").is_none());
        assert!(compact(b"{\"a\":").is_none());
    }
}
