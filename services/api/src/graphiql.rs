//! GraphiQL on `GET /graphql`, with its scripts and styles embedded in the binary and served from
//! `/graphql/assets/<version>/…` (services/api/graphiql/README.md says which pinned versions).
//! Nothing is loaded from another origin: code that runs next to the inspector's token must be
//! code this binary shipped.
//!
//! The page gets the inspector's security headers and Content-Security-Policy without its
//! Trusted Types directives, which GraphiQL's editor and documentation pane do not support
//! (they write HTML), and with `data:` fonts, which its stylesheet embeds; scripts, styles and
//! connections stay limited to this origin.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    body: &'static [u8],
    /// Stored gzip-compressed (the large third-party bundles).
    gzip: bool,
}

macro_rules! asset {
    ($name:literal) => {
        Asset { name: $name, body: include_bytes!(concat!("../graphiql/", $name)), gzip: false }
    };
    ($name:literal, gzip) => {
        Asset { name: $name, body: include_bytes!(concat!("../graphiql/", $name, ".gz")), gzip: true }
    };
}

const ASSETS: &[Asset] = &[
    asset!("graphiql.min.js", gzip),
    asset!("graphiql.min.css", gzip),
    asset!("react.production.min.js", gzip),
    asset!("react-dom.production.min.js", gzip),
    asset!("start.js"),
    asset!("start.css"),
];

const PAGE: &str = include_str!("../graphiql/index.html");

struct Built {
    version: String,
    page: String,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut hash = Sha256::new();
        for a in ASSETS {
            hash.update(a.name.as_bytes());
            hash.update(a.body);
        }
        let version = hex::encode(&hash.finalize()[..6]);
        let page = PAGE.replace("{{version}}", &version);
        Built { version, page }
    })
}

pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/graphql/assets/{version}/{name}", get(file))
}

/// `GET /graphql`: the GraphiQL page.
pub(crate) async fn page(headers: HeaderMap) -> Response {
    let mut resp = (StatusCode::OK, built().page.clone()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(&headers, h);
    resp
}

async fn file(headers: HeaderMap, Path((version, name)): Path<(String, String)>) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == name) else {
        let mut resp = (StatusCode::NOT_FOUND, "no such GraphiQL file\n").into_response();
        security_headers(&headers, resp.headers_mut());
        return resp;
    };
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip")));
    if a.gzip && !accepts_gzip {
        // Every browser sends it; carrying a decompressor for the exception is not worth it.
        let mut resp =
            (StatusCode::NOT_ACCEPTABLE, "GraphiQL's files are served gzip-compressed: send Accept-Encoding: gzip\n")
                .into_response();
        security_headers(&headers, resp.headers_mut());
        return resp;
    }
    let mut resp = (StatusCode::OK, a.body).into_response();
    let h = resp.headers_mut();
    let kind = if a.name.ends_with(".css") { "text/css; charset=utf-8" } else { "text/javascript; charset=utf-8" };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if a.gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let cache = if version == built().version { "public, max-age=31536000, immutable" } else { "no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    security_headers(&headers, h);
    resp
}

fn security_headers(req: &HeaderMap, h: &mut HeaderMap) {
    let csp = crate::ui::content_security_policy(req.get(header::HOST));
    // GraphiQL's stylesheet (ours, embedded) carries its fonts as data: URIs.
    let csp = csp
        .replace("; require-trusted-types-for 'script'; trusted-types 'none'", "")
        .replace("font-src 'self'", "font-src 'self' data:");
    crate::ui::page_headers(h, &csp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_files() {
        let page = &built().page;
        assert!(!page.contains("{{") && !page.contains("//unpkg") && !page.contains("https://"), "{page}");
        let mut referenced = Vec::new();
        for attr in ["src=\"", "href=\""] {
            for rest in page.split(attr).skip(1) {
                let url = rest.split('"').next().unwrap();
                let name = url
                    .strip_prefix(&format!("/graphql/assets/{}/", built().version))
                    .unwrap_or_else(|| panic!("{url}"));
                assert!(ASSETS.iter().any(|a| a.name == name), "{name} is not embedded");
                referenced.push(name.to_string());
            }
        }
        assert_eq!(referenced.len(), ASSETS.len(), "every embedded file is used: {referenced:?}");
        assert!(!page.contains("<script>") && !page.contains("style="), "no inline code");
    }

    #[test]
    fn gzip_assets_are_gzip_and_the_csp_drops_only_trusted_types() {
        for a in ASSETS.iter().filter(|a| a.gzip) {
            assert_eq!(&a.body[..2], &[0x1f, 0x8b], "{} is not gzip", a.name);
        }
        let mut h = HeaderMap::new();
        security_headers(&HeaderMap::new(), &mut h);
        let csp = h.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
        assert!(
            csp.contains("script-src 'self';") && csp.contains("connect-src 'self'") && !csp.contains("trusted-types"),
            "{csp}"
        );
    }
}
