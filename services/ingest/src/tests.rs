use super::*;

#[test]
fn capture_path_is_split_after_the_token() {
    let t = "0123456789abcdef0123456789abcdef";
    assert_eq!(split_capture_path(&format!("/h/{t}")), Some((t, "/")));
    assert_eq!(split_capture_path(&format!("/h/{t}/")), Some((t, "/")));
    assert_eq!(split_capture_path(&format!("/h/{t}/x/y%20z")), Some((t, "/x/y%20z")));
    assert_eq!(split_capture_path("/h/"), None);
    assert_eq!(split_capture_path("/other"), None);
    // Shapes no endpoint can have never reach the store or the cache.
    assert_eq!(split_capture_path("/h/abc"), None);
    assert_eq!(split_capture_path(&format!("/h/{}", "A".repeat(32))), None);
    assert_eq!(split_capture_path(&format!("/h/{}", "a".repeat(60_000))), None);
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
    let mut h = HeaderMap::new();
    h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 203.0.113.7, 10.1.1.1"));
    let proxy: SocketAddr = "10.0.0.2:4000".parse().unwrap();
    let stranger: SocketAddr = "198.51.100.1:4000".parse().unwrap();
    // The right-most untrusted hop is the client; 6.6.6.6 could have been forged by it.
    assert_eq!(client_addr(proxy, &h, &trusted), "203.0.113.7");
    assert_eq!(client_addr(stranger, &h, &trusted), "198.51.100.1:4000");
    assert_eq!(client_addr(proxy, &h, &[]), "10.0.0.2:4000");
    assert_eq!(client_addr(proxy, &HeaderMap::new(), &trusted), "10.0.0.2:4000");
}

#[test]
fn header_limits_name_the_key() {
    let s = IngestSettings {
        max_body_bytes: 10,
        max_headers: 2,
        max_header_bytes: 20,
        inflight_bytes: 100,
        team_inflight_bytes: 100,
        max_hops: 3,
        separate_capture_origin: false,
        trusted_proxies: vec![],
        append_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        endpoint_cache_ttl: Duration::ZERO,
    };
    let mut h = HeaderMap::new();
    h.append("a", HeaderValue::from_static("1"));
    h.append("a", HeaderValue::from_static("2"));
    assert!(check_headers(&h, &s).is_ok());
    h.append("b", HeaderValue::from_static("3"));
    let e = check_headers(&h, &s).unwrap_err();
    assert_eq!(e.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(e.to_string(), "request has 3 header lines; the limit is 2 (ingest.max_headers)");
    let mut h = HeaderMap::new();
    h.append("x-long", HeaderValue::from_static("0123456789abcdefghij"));
    let e = check_headers(&h, &s).unwrap_err();
    assert!(e.to_string().contains("26 bytes; the limit is 20 bytes (ingest.max_header_bytes)"), "{e}");
}
