//! Re-serializing JSON the way proxies and frameworks do, to explain a signature mismatch, and
//! pretty-printing it for people (the CLI's `capture show` and HAR export) with the same code.
//!
//! This works on the token stream of the received bytes rather than a parsed map, so key order,
//! number spelling and string escapes stay exactly as received; only the whitespace between
//! tokens changes, which is what a re-serializing hop most often changes.

/// How a re-serializing hop may have laid the body out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// No whitespace between tokens.
    Compact,
    /// One token per line, indented this many spaces per level.
    Pretty(usize),
    /// One space after `:` and `,` (Python's `json.dumps` default).
    Spaced,
}

impl Style {
    /// In the order they are tried: compact first, as most hops write it.
    pub(crate) const ALL: [Style; 4] = [Style::Compact, Style::Pretty(2), Style::Pretty(4), Style::Spaced];
}

/// A body known to be JSON, so reformatting it cannot produce garbage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Json<'a>(&'a [u8]);

impl<'a> Json<'a> {
    /// `None` when `body` is not JSON. serde_json skips an ignored value with a loop rather than
    /// recursion, so this has no depth limit and cannot exhaust the stack; callers that care about
    /// depth check [`depth`] first.
    pub(crate) fn parse(body: &'a [u8]) -> Option<Self> {
        serde_json::from_slice::<serde::de::IgnoredAny>(body).ok().map(|_| Json(body))
    }

    /// The body laid out in `style`, or `None` once that would take more than `max_len` bytes:
    /// indentation grows with depth on every line, so a narrow deep body pretty-prints to many
    /// times its size.
    pub(crate) fn reformat(&self, style: Style, max_len: usize) -> Option<Vec<u8>> {
        self.layout(style, max_len, Controls::Keep)
    }

    fn layout(&self, style: Style, max_len: usize, controls: Controls) -> Option<Vec<u8>> {
        let body = self.0;
        let (indent, spaced) = match style {
            Style::Compact => (None, false),
            Style::Pretty(n) => (Some(n), false),
            Style::Spaced => (None, true),
        };
        let mut out = Vec::with_capacity(body.len().min(max_len));
        let mut depth = 0usize;
        let mut i = 0;
        let newline = |out: &mut Vec<u8>, depth: usize| -> Option<()> {
            if let Some(n) = indent {
                let width = n.checked_mul(depth)?;
                if out.len().saturating_add(width) >= max_len {
                    return None;
                }
                out.push(b'\n');
                out.extend(std::iter::repeat_n(b' ', width));
            }
            Some(())
        };
        while i < body.len() {
            if out.len() > max_len {
                return None;
            }
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
                    let token = &body[start..=i.min(body.len() - 1)];
                    match (controls, std::str::from_utf8(token)) {
                        (Controls::Escape, Ok(token)) => escape_controls(&mut out, token),
                        _ => out.extend_from_slice(token),
                    }
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
                        newline(&mut out, depth)?;
                    }
                }
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth)?;
                    out.push(b);
                }
                b',' => {
                    out.push(b);
                    if indent.is_some() {
                        newline(&mut out, depth)?;
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
        (out.len() <= max_len).then_some(out)
    }
}

/// What to do with the control characters JSON allows raw in strings (DEL and the C1 range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Controls {
    /// Byte for byte, as a re-serializing hop would pass them on.
    Keep,
    /// As `\u009b`: same meaning, and a terminal cannot act on them.
    Escape,
}

// Raw C0 controls cannot occur in a valid JSON string and escapes are ASCII, so every control
// character left in a string token is one that can be written as `\u` without changing it.
fn escape_controls(out: &mut Vec<u8>, token: &str) {
    for c in token.chars() {
        if c.is_control() {
            out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes());
        } else {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }
}

/// `text` indented with two spaces when it is one valid JSON value, else `None`. The text is
/// re-laid rather than parsed and printed again, so key order, duplicate keys and number spellings
/// (`1.0`, `1e3`, 20-digit ids) stay as the sender wrote them; raw control characters in strings
/// are written as `\u` escapes so that printing the result to a terminal is safe.
pub fn pretty_json(text: &str) -> Option<String> {
    let out = Json::parse(text.as_bytes())?.layout(Style::Pretty(2), usize::MAX, Controls::Escape)?;
    String::from_utf8(out).ok()
}

/// How deeply `{` and `[` nest in `body`, skipping string contents: one pass, no allocation and
/// no recursion, so it is safe on any input. On a body that is not JSON it counts the brackets
/// outside double-quoted runs, which is still an upper bound on what a parser would see.
pub(crate) fn depth(body: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_CAP: usize = usize::MAX;

    fn layout(body: &[u8], style: Style) -> Option<Vec<u8>> {
        Json::parse(body)?.reformat(style, NO_CAP)
    }

    #[test]
    fn compact_keeps_order_numbers_and_strings() {
        let body = br#"{ "b": 1.50, "a" : [ 1, 2 ], "s": "x  y \" }", "e": {} , "l": [ ] }"#;
        assert_eq!(
            layout(body, Style::Compact).unwrap(),
            br#"{"b":1.50,"a":[1,2],"s":"x  y \" }","e":{},"l":[]}"#.to_vec()
        );
    }

    #[test]
    fn pretty_matches_common_serializers() {
        let body = br#"{"a":{"b":[1,2]},"c":{}}"#;
        let expected = "{\n  \"a\": {\n    \"b\": [\n      1,\n      2\n    ]\n  },\n  \"c\": {}\n}";
        assert_eq!(String::from_utf8(layout(body, Style::Pretty(2)).unwrap()).unwrap(), expected);
        let pretty_serde = serde_json::to_vec_pretty(&serde_json::json!({"a":{"b":[1,2]},"c":{}})).unwrap();
        assert_eq!(layout(body, Style::Pretty(2)).unwrap(), pretty_serde);
        assert_eq!(layout(body, Style::Spaced).unwrap(), br#"{"a": {"b": [1, 2]}, "c": {}}"#.to_vec());
    }

    #[test]
    fn not_json_is_none() {
        assert!(Json::parse(b"a=1&b=2").is_none());
        assert!(Json::parse(b"{\"a\":").is_none());
    }

    #[test]
    fn a_layout_over_its_cap_is_abandoned() {
        let body = br#"[[[[1,2,3]]]]"#;
        let json = Json::parse(body).unwrap();
        let full = json.reformat(Style::Pretty(4), NO_CAP).unwrap();
        assert_eq!(json.reformat(Style::Pretty(4), full.len()), Some(full.clone()), "exactly at the cap is kept");
        assert_eq!(json.reformat(Style::Pretty(4), full.len() - 1), None);
        assert_eq!(json.reformat(Style::Compact, body.len()).unwrap(), body.to_vec());
        assert_eq!(json.reformat(Style::Compact, body.len() - 1), None);
    }

    #[test]
    fn depth_skips_brackets_inside_strings() {
        assert_eq!(depth(b""), 0);
        assert_eq!(depth(b"42"), 0);
        assert_eq!(depth(b"{}"), 1);
        assert_eq!(depth(br#"{"a":[1,{"b":[]}],"c":{}}"#), 4);
        assert_eq!(depth(br#"{"a":"[[[{{{"}"#), 1, "brackets in a string do not count");
        assert_eq!(depth(br#"["\"[[[", "]]]\\", ["x"]]"#), 2, "an escaped quote does not end the string");
        assert_eq!(depth(br#"["\\", [[]]]"#), 3, "an escaped backslash does");
        assert_eq!(depth(br#"[{"k\"}":"{"}]"#), 2, "in keys too");
        assert_eq!(depth(b"]]]][[]"), 2, "stray closers do not go below zero");
        let deep = [vec![b'['; 100_000], vec![b']'; 100_000]].concat();
        assert_eq!(depth(&deep), 100_000);
    }
}
