//! `--match` expressions of `hookmetry await` and `hookmetry assert`: what a capture must carry
//! to count. Pure: parsing and judging one capture, no I/O.
//!
//! `header:Name=value` (name in any case, exact value; `header:Name` = present),
//! `json:.a.b[0]=="opened"` / `json:/a/b/0!=3` / `json:.x` (a jq-like path or an RFC 6901
//! pointer, then `==` or `!=` and a JSON literal, or nothing = the path exists), `method:POST`,
//! `path:/prefix`, `query:k=v` (`query:k` = present), `event:charge.*` (the provider's event
//! type, `*` any run), `verdict:valid`, `body:text` (the body contains it).

use std::fmt;

use hookmetry_core::Verdict;
use serde_json::Value;

/// A `--match` expression that does not parse, as a sentence naming it and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expr}`: {problem}")]
pub struct MatchError {
    pub expr: String,
    pub problem: String,
}

/// One parsed expression with the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    raw: String,
    test: Test,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Header { name: String, value: Option<String> },
    Json { path: Vec<Step>, compare: Option<(Op, Value)> },
    Method(String),
    Path(String),
    Query { key: String, value: Option<String> },
    Event(String),
    Verdict(Verdict),
    Body(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
}

/// What one capture offers to be judged: plain data, so the rules are testable without a server.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
    /// The provider's event type; `None` also when the capture names none.
    pub event_type: Option<&'a str>,
    /// `VALID`, `INVALID_SIGNATURE`, …; `None` until the processor has judged the capture.
    pub verdict: Option<&'a str>,
}

/// How a capture fares against one expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// Why not, for the summary (`header X-GitHub-Event is "issues"`).
    Fail(String),
    /// Cannot be told yet: the capture is not judged.
    Pending,
}

const KINDS: &str = "header:, json:, method:, path:, query:, event:, verdict: or body:";

impl Matcher {
    pub fn parse(raw: &str) -> Result<Self, MatchError> {
        let err = |problem: String| MatchError { expr: raw.to_string(), problem };
        let Some((kind, rest)) = raw.split_once(':') else {
            return Err(err(format!("expected KIND:TEST with KIND one of {KINDS}")));
        };
        let test = match kind.trim().to_ascii_lowercase().as_str() {
            "header" => {
                let (name, value) = match rest.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.to_string())),
                    None => (rest.trim(), None),
                };
                if name.is_empty() || !name.bytes().all(is_token_byte) {
                    return Err(err(format!(
                        "expected a header name before `=` (letters, digits, `-`), got `{name}`; e.g. \
                         `header:X-GitHub-Event=push`"
                    )));
                }
                Test::Header { name: name.to_string(), value }
            }
            "json" => parse_json(rest).map_err(err)?,
            "method" => {
                let m = rest.trim();
                if m.is_empty() || !m.bytes().all(is_token_byte) {
                    return Err(err(format!("expected an HTTP method such as `POST`, got `{m}`")));
                }
                Test::Method(m.to_string())
            }
            "path" => {
                if !rest.starts_with('/') {
                    return Err(err(format!("expected a path prefix starting with `/`, got `{rest}`")));
                }
                Test::Path(rest.to_string())
            }
            "query" => {
                let (key, value) = match rest.split_once('=') {
                    Some((k, v)) => (k, Some(v.to_string())),
                    None => (rest, None),
                };
                if key.is_empty() {
                    return Err(err("expected a query parameter name, e.g. `query:mode=test`".into()));
                }
                Test::Query { key: key.to_string(), value }
            }
            "event" => {
                let t = rest.trim();
                if t.is_empty() {
                    return Err(err("expected an event type such as `push` or `charge.*`".into()));
                }
                Test::Event(t.to_string())
            }
            "verdict" => {
                let v = Verdict::parse_loose(rest).ok_or_else(|| {
                    let known: Vec<String> = Verdict::ALL.iter().map(|v| v.label().replace(' ', "-")).collect();
                    err(format!("expected a verdict, one of {}; got `{}`", known.join(", "), rest.trim()))
                })?;
                Test::Verdict(v)
            }
            "body" => {
                if rest.is_empty() {
                    return Err(err("expected text the body contains, e.g. `body:evt_123`".into()));
                }
                Test::Body(rest.to_string())
            }
            other => return Err(err(format!("unknown kind `{other}`; expected {KINDS}"))),
        };
        Ok(Self { raw: raw.to_string(), test })
    }

    /// Whether the verdict has to be known for this expression to be judged.
    pub fn needs_verdict(&self) -> bool {
        matches!(self.test, Test::Verdict(_))
    }

    pub fn judge(&self, s: &Subject<'_>) -> Outcome {
        match &self.test {
            Test::Header { name, value } => {
                let values: Vec<&str> =
                    s.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v).collect();
                match (value, values.first()) {
                    (_, None) => Outcome::Fail(format!("no header {name}")),
                    (None, Some(_)) => Outcome::Pass,
                    (Some(want), Some(first)) => {
                        if values.iter().any(|v| v == want) {
                            Outcome::Pass
                        } else {
                            Outcome::Fail(format!("header {name} is {}", quoted(first)))
                        }
                    }
                }
            }
            Test::Json { path, compare } => judge_json(s.body, path, compare.as_ref()),
            Test::Method(m) => {
                if s.method.eq_ignore_ascii_case(m) {
                    Outcome::Pass
                } else {
                    Outcome::Fail(format!("method is {}", s.method))
                }
            }
            Test::Path(p) => {
                if s.path.starts_with(p.as_str()) {
                    Outcome::Pass
                } else {
                    Outcome::Fail(format!("path is {}", quoted(s.path)))
                }
            }
            Test::Query { key, value } => judge_query(s.query, key, value.as_deref()),
            Test::Event(pattern) => match (s.event_type, s.verdict) {
                (Some(t), _) if hookmetry_core::event_type_matches(pattern, t) => Outcome::Pass,
                (Some(t), _) => Outcome::Fail(format!("event type is {}", quoted(t))),
                // The event is read when the capture is judged.
                (None, None) => Outcome::Pending,
                (None, Some(_)) => Outcome::Fail("no event type".into()),
            },
            Test::Verdict(want) => match s.verdict {
                None => Outcome::Pending,
                Some(v) if v == want.as_str() => Outcome::Pass,
                Some(v) => Outcome::Fail(format!("verdict is {}", verdict_words(v))),
            },
            Test::Body(text) => {
                if contains(s.body, text.as_bytes()) {
                    Outcome::Pass
                } else {
                    Outcome::Fail(format!("body does not contain {}", quoted(text)))
                }
            }
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// For clap's `value_parser`: a bad expression is a usage error (exit 2) naming it.
pub fn parse_arg(raw: &str) -> Result<Matcher, String> {
    Matcher::parse(raw).map_err(|e| e.to_string())
}

/// The first expression `s` does not pass, with why; `Pending` when none failed but one cannot
/// be told yet.
pub fn judge_all(matchers: &[Matcher], s: &Subject<'_>) -> Result<(), Failure> {
    let mut pending = false;
    for m in matchers {
        match m.judge(s) {
            Outcome::Pass => {}
            Outcome::Pending => pending = true,
            Outcome::Fail(why) => return Err(Failure::Failed { expr: m.raw.clone(), why }),
        }
    }
    if pending { Err(Failure::Pending) } else { Ok(()) }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Failed { expr: String, why: String },
    Pending,
}

fn is_token_byte(b: u8) -> bool {
    // RFC 9110 `tchar`.
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_json(rest: &str) -> Result<Test, String> {
    let rest = rest.trim_start();
    let (path_text, compare) = match find_operator(rest) {
        Some((i, op)) => {
            let literal = rest[i + 2..].trim();
            let value: Value = serde_json::from_str(literal).map_err(|_| {
                format!(
                    "expected a JSON literal after `{}` (a string in double quotes, a number, true, false or \
                     null), got `{literal}`",
                    if op == Op::Eq { "==" } else { "!=" }
                )
            })?;
            (rest[..i].trim_end(), Some((op, value)))
        }
        None => (rest.trim_end(), None),
    };
    let path = if path_text.starts_with('/') {
        pointer_steps(path_text)
    } else if path_text.starts_with('.') {
        jq_steps(path_text)?
    } else {
        return Err(format!(
            "expected a path starting with `.` (`.action`, `.data.items[0].id`) or `/` (an RFC 6901 pointer), \
             got `{path_text}`"
        ));
    };
    Ok(Test::Json { path, compare })
}

/// Where `==` or `!=` starts, outside a quoted key of the path.
fn find_operator(s: &str) -> Option<(usize, Op)> {
    let bytes = s.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'=' if !quoted && bytes[i + 1] == b'=' => return Some((i, Op::Eq)),
            b'!' if !quoted && bytes[i + 1] == b'=' => return Some((i, Op::Ne)),
            _ => {}
        }
        i += 1;
    }
    None
}

/// RFC 6901: `/a/b~1c/0`; a number step also reads an array index.
fn pointer_steps(p: &str) -> Vec<Step> {
    if p == "/" {
        return vec![Step::Key(String::new())];
    }
    p[1..].split('/').map(|t| Step::Key(t.replace("~1", "/").replace("~0", "~"))).collect()
}

/// jq's path subset: `.a.b`, `."a b"`, `[0]`, `["a"]`; `.` alone is the whole body.
fn jq_steps(p: &str) -> Result<Vec<Step>, String> {
    let bad =
        |why: &str| format!("{why} in the path `{p}`; expected e.g. `.data.items[0].id` or `.\"key with spaces\"`");
    let mut steps = Vec::new();
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("`[` without `]`"))?;
            let inner = r[..end].trim();
            if inner.starts_with('"') {
                let key: String = serde_json::from_str(inner).map_err(|_| bad("a bad quoted key"))?;
                steps.push(Step::Key(key));
            } else {
                let n = inner.parse::<usize>().map_err(|_| bad(&format!("`[{inner}]` is not an array index")))?;
                steps.push(Step::Index(n));
            }
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('.') {
            if r.is_empty() {
                rest = r;
            } else if r.starts_with('"') {
                let end = closing_quote(r).ok_or_else(|| bad("a quoted key without its closing `\"`"))?;
                let key: String = serde_json::from_str(&r[..=end]).map_err(|_| bad("a bad quoted key"))?;
                steps.push(Step::Key(key));
                rest = &r[end + 1..];
            } else if r.starts_with('[') {
                rest = r;
            } else {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let key = &r[..end];
                if key.is_empty() || key.contains(char::is_whitespace) {
                    return Err(bad(&format!("`{key}` is not a key (quote keys with spaces)")));
                }
                steps.push(Step::Key(key.to_string()));
                rest = &r[end..];
            }
        } else {
            return Err(bad(&format!("unexpected `{}`", rest.chars().next().unwrap_or(' '))));
        }
    }
    Ok(steps)
}

/// The index of the `"` closing the string `s` opens.
fn closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn judge_json(body: &[u8], path: &[Step], compare: Option<&(Op, Value)>) -> Outcome {
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return Outcome::Fail("the body is not JSON".into());
    };
    let shown = path_text(path);
    let mut at = &doc;
    for step in path {
        let next = match (step, at) {
            (Step::Key(k), Value::Object(m)) => m.get(k),
            (Step::Index(i), Value::Array(a)) => a.get(*i),
            // A pointer's `/0` reads an array index.
            (Step::Key(k), Value::Array(a)) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return Outcome::Fail(format!("{shown} is absent")),
        }
    }
    match compare {
        None => Outcome::Pass,
        Some((op, want)) => {
            let equal = json_equal(at, want);
            match (op, equal) {
                (Op::Eq, true) | (Op::Ne, false) => Outcome::Pass,
                (Op::Eq, false) => Outcome::Fail(format!("{shown} is {}", short_json(at))),
                (Op::Ne, true) => Outcome::Fail(format!("{shown} is {}", short_json(at))),
            }
        }
    }
}

/// JSON equality where `3` equals `3.0`, as jq has it.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn path_text(path: &[Step]) -> String {
    if path.is_empty() {
        return ".".into();
    }
    path.iter()
        .map(|s| match s {
            Step::Key(k) => format!(".{k}"),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

fn judge_query(query: Option<&str>, key: &str, value: Option<&str>) -> Outcome {
    let pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| String::from_utf8_lossy(&hookmetry_core::form_decode(s)).into_owned();
            (decode(k), decode(v))
        })
        .collect();
    let values: Vec<&str> = pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect();
    match (value, values.first()) {
        (_, None) => Outcome::Fail(format!("no query parameter {key}")),
        (None, Some(_)) => Outcome::Pass,
        (Some(want), Some(first)) => {
            if values.contains(&want) {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("query parameter {key} is {}", quoted(first)))
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// A value for a one-line summary: quoted, escaped, at most 60 characters.
fn quoted(s: &str) -> String {
    let text = serde_json::to_string(s).unwrap_or_default();
    shorten(text)
}

fn short_json(v: &Value) -> String {
    shorten(v.to_string())
}

fn shorten(s: String) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX { s } else { format!("{}…", s.chars().take(MAX).collect::<String>()) }
}

fn verdict_words(v: &str) -> String {
    Verdict::parse(v).map_or_else(|| v.to_lowercase(), |v| v.label().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Matcher {
        Matcher::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(s: &str) -> String {
        Matcher::parse(s).unwrap_err().to_string()
    }

    fn subject(body: &'static str) -> Subject<'static> {
        Subject {
            method: "POST",
            path: "/github/hook",
            query: Some("mode=test&tag=a%20b&tag=c"),
            headers: vec![
                ("X-GitHub-Event", "push"),
                ("Content-Type", "application/json"),
                ("X-Dup", "1"),
                ("x-dup", "2"),
            ],
            body: body.as_bytes(),
            event_type: Some("charge.succeeded"),
            verdict: Some("VALID"),
        }
    }

    const BODY: &str = r#"{"action":"opened","n":3,"pull":{"labels":[{"name":"bug"}],"a b":true},"x":null,"a/b":1}"#;

    #[test]
    fn headers_match_by_name_in_any_case_and_exact_value() {
        let s = subject(BODY);
        assert_eq!(m("header:x-github-event=push").judge(&s), Outcome::Pass);
        assert_eq!(
            m("header:X-GitHub-Event=Push").judge(&s),
            Outcome::Fail(r#"header X-GitHub-Event is "push""#.into())
        );
        assert_eq!(m("header:X-GitHub-Event").judge(&s), Outcome::Pass);
        assert_eq!(m("header:X-Hub-Signature").judge(&s), Outcome::Fail("no header X-Hub-Signature".into()));
        // Any of repeated lines counts; an empty value is a value.
        assert_eq!(m("header:X-Dup=2").judge(&s), Outcome::Pass);
        assert_eq!(m("header:X-Dup=").judge(&s), Outcome::Fail(r#"header X-Dup is "1""#.into()));
        assert_eq!(m("header:Content-Type=application/json").judge(&s), Outcome::Pass);
    }

    #[test]
    fn json_paths_and_pointers_compare_json_literals() {
        let s = subject(BODY);
        assert_eq!(m(r#"json:.action=="opened""#).judge(&s), Outcome::Pass);
        assert_eq!(m(r#"json:.action == "closed""#).judge(&s), Outcome::Fail(r#".action is "opened""#.into()));
        assert_eq!(m("json:.n==3").judge(&s), Outcome::Pass);
        assert_eq!(m("json:.n==3.0").judge(&s), Outcome::Pass, "numbers compare by value, as in jq");
        assert_eq!(m("json:.n!=4").judge(&s), Outcome::Pass);
        assert_eq!(m("json:.n!=3").judge(&s), Outcome::Fail(".n is 3".into()));
        assert_eq!(m(r#"json:.pull.labels[0].name=="bug""#).judge(&s), Outcome::Pass);
        assert_eq!(m(r#"json:.pull.labels[1].name"#).judge(&s), Outcome::Fail(".pull.labels[1].name is absent".into()));
        assert_eq!(m(r#"json:.pull."a b"==true"#).judge(&s), Outcome::Pass);
        assert_eq!(m(r#"json:.pull["a b"]"#).judge(&s), Outcome::Pass);
        assert_eq!(m("json:.x").judge(&s), Outcome::Pass, "present, even when null");
        assert_eq!(m("json:.x==null").judge(&s), Outcome::Pass);
        assert_eq!(m("json:.missing").judge(&s), Outcome::Fail(".missing is absent".into()));
        assert_eq!(m(r#"json:.pull=={"a b":true,"labels":[{"name":"bug"}]}"#).judge(&s), Outcome::Pass);
        assert_eq!(m(r#"json:/pull/labels/0/name=="bug""#).judge(&s), Outcome::Pass);
        assert_eq!(m("json:/a~1b==1").judge(&s), Outcome::Pass);
        assert_eq!(m("json:.").judge(&s), Outcome::Pass);
        assert_eq!(m("json:.a").judge(&subject("not json")), Outcome::Fail("the body is not JSON".into()));
    }

    #[test]
    fn method_path_query_event_verdict_and_body() {
        let s = subject(BODY);
        assert_eq!(m("method:post").judge(&s), Outcome::Pass);
        assert_eq!(m("method:PUT").judge(&s), Outcome::Fail("method is POST".into()));
        assert_eq!(m("path:/github").judge(&s), Outcome::Pass);
        assert_eq!(m("path:/stripe").judge(&s), Outcome::Fail(r#"path is "/github/hook""#.into()));
        assert_eq!(m("query:mode=test").judge(&s), Outcome::Pass);
        assert_eq!(m("query:tag=a b").judge(&s), Outcome::Pass, "values are decoded");
        assert_eq!(m("query:tag=c").judge(&s), Outcome::Pass);
        assert_eq!(m("query:mode").judge(&s), Outcome::Pass);
        assert_eq!(m("query:mode=live").judge(&s), Outcome::Fail(r#"query parameter mode is "test""#.into()));
        assert_eq!(m("query:other").judge(&s), Outcome::Fail("no query parameter other".into()));
        assert_eq!(m("event:charge.*").judge(&s), Outcome::Pass);
        assert_eq!(m("event:charge.succeeded").judge(&s), Outcome::Pass);
        assert_eq!(m("event:push").judge(&s), Outcome::Fail(r#"event type is "charge.succeeded""#.into()));
        assert_eq!(m("verdict:valid").judge(&s), Outcome::Pass);
        assert_eq!(m("verdict:VALID").judge(&s), Outcome::Pass);
        assert_eq!(m("body:opened").judge(&s), Outcome::Pass);
        assert_eq!(m("body:closed").judge(&s), Outcome::Fail(r#"body does not contain "closed""#.into()));

        let unjudged = Subject { verdict: None, event_type: None, ..subject(BODY) };
        assert_eq!(m("verdict:valid").judge(&unjudged), Outcome::Pending);
        assert_eq!(m("event:push").judge(&unjudged), Outcome::Pending);
        let invalid = Subject { verdict: Some("INVALID_SIGNATURE"), event_type: None, ..subject(BODY) };
        assert_eq!(m("verdict:valid").judge(&invalid), Outcome::Fail("verdict is invalid signature".into()));
        assert_eq!(m("event:push").judge(&invalid), Outcome::Fail("no event type".into()));
    }

    #[test]
    fn all_must_hold_and_the_first_failure_is_named() {
        let s = subject(BODY);
        let all = [m("method:POST"), m("header:X-GitHub-Event=issues"), m("json:.n==4")];
        assert_eq!(
            judge_all(&all, &s),
            Err(Failure::Failed {
                expr: "header:X-GitHub-Event=issues".into(),
                why: r#"header X-GitHub-Event is "push""#.into()
            })
        );
        assert_eq!(judge_all(&[m("method:POST"), m("json:.n==3")], &s), Ok(()));
        assert_eq!(judge_all(&[], &s), Ok(()));
        let unjudged = Subject { verdict: None, ..subject(BODY) };
        assert_eq!(judge_all(&[m("verdict:valid"), m("method:POST")], &unjudged), Err(Failure::Pending));
        assert!(m("verdict:valid").needs_verdict() && !m("method:POST").needs_verdict());
    }

    #[test]
    fn bad_expressions_name_themselves_and_what_was_expected() {
        assert_eq!(
            err("X-GitHub-Event=push"),
            "`X-GitHub-Event=push`: expected KIND:TEST with KIND one of header:, json:, method:, path:, query:, \
             event:, verdict: or body:"
        );
        assert_eq!(
            err("headr:X=1"),
            "`headr:X=1`: unknown kind `headr`; expected header:, json:, method:, path:, query:, event:, verdict: or body:"
        );
        assert!(err("header:=push").starts_with("`header:=push`: expected a header name before `=`"));
        assert!(err("header:X Y=1").starts_with("`header:X Y=1`: expected a header name"));
        assert_eq!(
            err("json:.action==opened"),
            "`json:.action==opened`: expected a JSON literal after `==` (a string in double quotes, a number, true, \
             false or null), got `opened`"
        );
        assert!(err("json:action==1").starts_with("`json:action==1`: expected a path starting with `.`"));
        assert!(err("json:.a[x]").starts_with("`json:.a[x]`: `[x]` is not an array index in the path `.a[x]`"));
        assert!(err("json:.a[0").starts_with("`json:.a[0`: `[` without `]`"));
        assert!(err(r#"json:."a"#).contains("a quoted key without its closing"));
        assert_eq!(err("path:github"), "`path:github`: expected a path prefix starting with `/`, got `github`");
        assert!(err("verdict:ok").starts_with("`verdict:ok`: expected a verdict, one of valid, invalid-signature,"));
        assert!(err("method:").starts_with("`method:`: expected an HTTP method"));
        assert!(err("event:").starts_with("`event:`: expected an event type"));
        assert!(err("query:=1").starts_with("`query:=1`: expected a query parameter name"));
        assert_eq!(parse_arg("nope").unwrap_err(), err("nope"));
    }

    #[test]
    fn operators_inside_quoted_keys_are_part_of_the_key() {
        let s = subject(r#"{"a==b":1}"#);
        assert_eq!(m(r#"json:."a==b"==1"#).judge(&s), Outcome::Pass);
        // A pointer has no quoting: its first `==` is the operator.
        assert!(err("json:/a==b==1").contains("expected a JSON literal after `==`"));
    }
}
