//! Line diff of two response bodies, for comparing replay attempts.
//!
//! A longest-common-subsequence table is quadratic, so it is only built for bodies of at most
//! [`MAX_LINES`] lines each; larger bodies are compared for equality only.

/// Most lines per side that get a line-by-line diff.
pub const MAX_LINES: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Same,
    Removed,
    Added,
}

/// `before` → `after` as kept, removed and added lines, in order; `None` when either side has
/// more than [`MAX_LINES`] lines.
pub fn lines<'a>(before: &'a str, after: &'a str) -> Option<Vec<(Op, &'a str)>> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    if a.len() > MAX_LINES || b.len() > MAX_LINES {
        return None;
    }
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len().max(b.len())));
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push((Op::Same, a[i]));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push((Op::Removed, a[i]));
            i += 1;
        } else {
            out.push((Op::Added, b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| (Op::Removed, *l)));
    out.extend(b[j..].iter().map(|l| (Op::Added, *l)));
    Some(out)
}

/// JSON is compared pretty-printed with its keys sorted, so a change of one field shows as one
/// line (not as the whole one-line document) and a reordering shows as none; anything else is
/// compared as it came.
pub fn normalise(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) if v.is_object() || v.is_array() => serde_json::to_string_pretty(&v).unwrap_or_else(|_| body.to_owned()),
        _ => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_is_removed_then_added_and_the_rest_kept() {
        let d = lines("a\nb\nc\n", "a\nB\nc\nd\n").unwrap();
        assert_eq!(d, vec![(Op::Same, "a"), (Op::Removed, "b"), (Op::Added, "B"), (Op::Same, "c"), (Op::Added, "d")]);
    }

    #[test]
    fn equal_and_empty_bodies() {
        assert_eq!(lines("x\ny", "x\ny").unwrap(), vec![(Op::Same, "x"), (Op::Same, "y")]);
        assert_eq!(lines("", "").unwrap(), vec![]);
        assert_eq!(lines("", "new").unwrap(), vec![(Op::Added, "new")]);
        assert_eq!(lines("old", "").unwrap(), vec![(Op::Removed, "old")]);
    }

    #[test]
    fn huge_bodies_get_no_line_diff() {
        let big = "l\n".repeat(MAX_LINES + 1);
        assert!(lines(&big, "l").is_none());
        assert!(lines("l", &big).is_none());
    }

    #[test]
    fn json_is_pretty_printed_so_one_field_is_one_line() {
        let before = normalise(r#"{"ok":false,"id":7}"#);
        let after = normalise(r#"{"id":7,"ok":true}"#);
        let changed: Vec<_> = lines(&before, &after).unwrap().into_iter().filter(|(op, _)| *op != Op::Same).collect();
        assert_eq!(changed, vec![(Op::Removed, r#"  "ok": false"#), (Op::Added, r#"  "ok": true"#)]);
        assert_eq!(normalise("plain text"), "plain text");
    }
}
