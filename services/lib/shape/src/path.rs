//! Field paths as shown to people: `data.object.amount`, arrays as `items[]`, `[]` for the
//! elements of a top-level array.
//!
//! A key may itself hold `.` or `[` (`"metadata": {"order.id": 1}`), so the three characters that
//! carry meaning in a path are escaped with a backslash: `\\`, `\.`, `\[`. An empty key, which
//! would otherwise leave an empty segment that reads like a typo, is written `\0`. Every distinct
//! field therefore has a distinct path, and the shape itself is a tree, so nothing collides there.

/// Appends `key` to `path` as one segment.
pub(crate) fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    if key.is_empty() {
        path.push_str("\\0");
        return;
    }
    for c in key.chars() {
        if matches!(c, '\\' | '.' | '[') {
            path.push('\\');
        }
        path.push(c);
    }
}

/// Appends the array-element segment.
pub(crate) fn push_items(path: &mut String) {
    path.push_str("[]");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(keys: &[&str]) -> String {
        let mut p = String::new();
        for k in keys {
            if *k == "[]" {
                push_items(&mut p);
            } else {
                push_key(&mut p, k);
            }
        }
        p
    }

    #[test]
    fn escapes_what_would_collide() {
        assert_eq!(path(&["data", "object", "amount"]), "data.object.amount");
        assert_eq!(path(&["items", "[]", "id"]), "items[].id");
        assert_eq!(path(&["[]", "id"]), "[].id");
        assert_eq!(path(&["a.b"]), "a\\.b");
        assert_ne!(path(&["a.b"]), path(&["a", "b"]));
        assert_eq!(path(&["items[]"]), "items\\[]");
        assert_ne!(path(&["items[]"]), path(&["items", "[]"]));
        assert_eq!(path(&["a\\", "b"]), "a\\\\.b");
        assert_ne!(path(&["a\\", "b"]), path(&["a\\.b"]));
        assert_eq!(path(&["meta", ""]), "meta.\\0");
    }
}
