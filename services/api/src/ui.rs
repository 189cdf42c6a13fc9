//! The web inspector: hand-written HTML, CSS and JavaScript modules from `services/api/ui/`,
//! embedded in the binary (no bundler, no build step) and served by the API role.
//!
//! - `GET /` is the page; the app routes on the URL fragment (`/#/e/<id>`), so no client-side
//!   route can shadow `/graphql`, `/graphql/ws`, `/h/…`, `/healthz`, `/readyz` or `/metrics`.
//! - `GET /ui/<version>/<file>` are the assets. `<version>` is a hash of every embedded file, so
//!   a new binary gets new asset URLs and assets can be cached for a year (`immutable`); the page
//!   itself is `no-cache` and revalidated through its `ETag`.
//! - Every response carries a strict Content-Security-Policy: scripts and styles only from this
//!   origin (no inline code), connections only to this origin (HTTP and its WebSocket), no
//!   frames, no plugins, no form posts, and Trusted Types so that no script can write HTML.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

/// One embedded file, by its path under `services/api/ui/`.
struct Asset {
    path: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, body: include_bytes!(concat!("../ui/", $path)) }),*]
    };
}

/// Every file of the inspector. A unit test below fails when a file in `ui/` is missing here.
const ASSETS: &[Asset] = assets![
    "index.html",
    "app.css",
    "icon.svg",
    "js/main.js",
    "js/api.js",
    "js/ws.js",
    "js/auth.js",
    "js/dom.js",
    "js/format.js",
    "js/forms.js",
    "js/router.js",
    "js/state.js",
    "js/queries.js",
    "js/json-view.js",
    "js/body-view.js",
    "js/virtual-list.js",
    "js/views/signin.js",
    "js/views/shell.js",
    "js/views/captures.js",
    "js/views/capture.js",
    "js/views/replay.js",
    "js/views/bulk-replay.js",
    "js/views/test-event.js",
    "js/views/reachability.js",
    "js/views/endpoint-new.js",
    "js/views/endpoint-settings.js",
    "js/views/team-settings.js",
    "js/views/hints.js",
    "js/views/verdict.js",
    "js/views/event.js",
    "js/views/shapes.js",
    "js/views/answer.js",
    "js/views/expiry.js",
    "js/views/scenario.js",
    "js/views/scenario-json.js",
];

/// The page is a template: `{{version}}` becomes the asset version and `{{preload}}` the
/// `modulepreload` links of every module, so the browser fetches them in parallel.
const INDEX: &str = "index.html";

struct Built {
    version: String,
    index: Vec<u8>,
    index_etag: String,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut hash = Sha256::new();
        for a in ASSETS {
            hash.update(a.path.as_bytes());
            hash.update([0]);
            hash.update((a.body.len() as u64).to_le_bytes());
            hash.update(a.body);
        }
        let version = hex::encode(&hash.finalize()[..6]);
        let preload: String = ASSETS
            .iter()
            .filter(|a| a.path.ends_with(".js"))
            .map(|a| format!("<link rel=\"modulepreload\" href=\"ui/{version}/{}\">\n", a.path))
            .collect();
        let template =
            std::str::from_utf8(asset(INDEX).expect("index.html is embedded").body).expect("index.html is UTF-8");
        let index = template.replace("{{version}}", &version).replace("{{preload}}", &preload).into_bytes();
        let index_etag = format!("\"{}\"", hex::encode(&Sha256::digest(&index)[..8]));
        Built { version, index, index_etag }
    })
}

fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// `GET /` and `GET /ui/<version>/<file>`. Stateless; merged into the API router.
pub(crate) fn router() -> Router {
    Router::new().route("/", get(index)).route("/ui/{version}/{*path}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    let b = built();
    respond(&headers, "text/html; charset=utf-8", &b.index, &b.index_etag, "no-cache")
}

async fn file(headers: HeaderMap, Path((version, path)): Path<(String, String)>) -> Response {
    let b = built();
    let Some(a) = asset(&path).filter(|a| a.path != INDEX) else {
        return not_found(&headers);
    };
    let etag = format!("\"{}-{}\"", b.version, hex::encode(&Sha256::digest(a.path.as_bytes())[..4]));
    // An old page asking for an old version gets today's file, but nobody may keep it under
    // the old URL: only the current version is immutable.
    let cache = if version == b.version { "public, max-age=31536000, immutable" } else { "no-cache" };
    respond(&headers, content_type(a.path), a.body, &etag, cache)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn respond(req: &HeaderMap, content_type: &'static str, body: &'static [u8], etag: &str, cache: &str) -> Response {
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { body.into_response() };
    let h = resp.headers_mut();
    if !fresh {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    security_headers(req, h);
    resp
}

fn not_found(req: &HeaderMap) -> Response {
    let mut resp = (StatusCode::NOT_FOUND, "no such file in the web inspector\n").into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(req, resp.headers_mut());
    resp
}

fn security_headers(req: &HeaderMap, h: &mut HeaderMap) {
    page_headers(h, &content_security_policy(req.get(header::HOST)));
}

/// The headers every page of this origin gets, with its policy `csp`.
pub(crate) fn page_headers(h: &mut HeaderMap, csp: &str) {
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"));
}

/// The policy. `connect-src 'self'` covers the page's own WebSocket in current browsers; the
/// explicit `ws://host` and `wss://host` are for those that predate CSP Level 3. The host comes
/// from the request and is used only when it is a plain `host[:port]`.
pub fn content_security_policy(host: Option<&HeaderValue>) -> String {
    let ws = host
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_plain_authority(h))
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; \
         connect-src 'self'{ws}; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"
    )
}

/// `example.com`, `127.0.0.1:8080`, `[::1]:8080`: nothing that could end a directive.
fn is_plain_authority(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_under(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                files_under(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_file_in_ui_is_embedded_and_nothing_else() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk = Vec::new();
        files_under(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "services/api/ui and the ASSETS table in ui.rs differ");
        for a in ASSETS {
            assert_ne!(content_type(a.path), "application/octet-stream", "{} has no content type", a.path);
        }
    }

    #[test]
    fn the_page_loads_no_inline_or_outside_code() {
        let index = std::str::from_utf8(&built().index).unwrap();
        assert!(!index.contains("{{"), "unfilled placeholder in index.html");
        for (i, _) in index.match_indices("<script") {
            let tag = &index[i..i + index[i..].find('>').unwrap()];
            assert!(tag.contains(" src=\"ui/"), "inline or outside script: {tag}");
        }
        assert!(!index.contains("style="), "inline style attribute in index.html");
        for a in ASSETS {
            let text = String::from_utf8_lossy(a.body);
            for bad in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"] {
                assert!(!text.contains(bad), "{} uses {bad}", a.path);
            }
            for line in text.lines().filter(|l| l.trim_start().starts_with("import ")) {
                assert!(line.contains("'./") || line.contains("'../"), "{}: non-relative import {line}", a.path);
            }
        }
    }

    #[test]
    fn csp_takes_only_plain_hosts() {
        let csp = content_security_policy(Some(&HeaderValue::from_static("127.0.0.1:8080")));
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"), "{csp}");
        let csp = content_security_policy(Some(&HeaderValue::from_static("evil.com; script-src *")));
        assert!(csp.contains("connect-src 'self';"), "{csp}");
        assert!(!csp.contains("evil"), "{csp}");
        assert!(content_security_policy(None).contains("script-src 'self';"));
    }
}
