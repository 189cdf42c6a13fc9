//! WooCommerce: `X-WC-Webhook-Signature: <base64>`, HMAC-SHA256 of the body keyed with the
//! webhook's secret as WordPress decodes it (`wp_specialchars_decode(secret, ENT_QUOTES)`).
//! <https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks>

use crate::providers::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::b64_digest;
use crate::util::{any_eq, b64, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct WooCommerce;

static INFO: ProviderInfo = ProviderInfo {
    id: "woocommerce",
    name: "WooCommerce",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-WC-Webhook-Signature", "X-WC-Webhook-Source"],
    event: EventSpec {
        id: &[Source::Header("X-WC-Webhook-Delivery-ID")],
        kind: &[Source::Header("X-WC-Webhook-Topic")],
        resource: &[Source::Joined(&[Source::Header("X-WC-Webhook-Resource"), Source::Json("/id")], ":")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "X-WC-Webhook-Signature";

/// WooCommerce signs with `wp_specialchars_decode($secret, ENT_QUOTES)`: the stored secret (the
/// one its admin screen shows) with the HTML entities for `&`, `<`, `>`, `"` and `'` decoded, in
/// one pass, as WordPress does.
fn signing_key(secret: &str) -> Vec<u8> {
    if !secret.contains('&') {
        return secret.as_bytes().to_vec();
    }
    let mut out = String::with_capacity(secret.len());
    let mut rest = secret;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match entity(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.into_bytes()
}

/// The character and length of the entity `s` starts with, among those WordPress decodes:
/// `&lt;` `&gt;` `&amp;` `&quot;`, `&#39;` `&#34;` `&#60;` `&#62;` `&#38;` (leading zeros allowed)
/// and `&#x27;` `&#x22;` `&#x26;` (`x` in either case, leading zeros allowed).
fn entity(s: &str) -> Option<(char, usize)> {
    for (name, c) in [("&lt;", '<'), ("&gt;", '>'), ("&amp;", '&'), ("&quot;", '"')] {
        if s.starts_with(name) {
            return Some((c, name.len()));
        }
    }
    let numeric = s.strip_prefix("&#")?;
    let (digits, hex, prefix) = match numeric.strip_prefix(['x', 'X']) {
        Some(h) => (h, true, 3),
        None => (numeric, false, 2),
    };
    let zeros = digits.len() - digits.trim_start_matches('0').len();
    let body = &digits[zeros..];
    let table: &[(&str, char)] = if hex {
        &[("27;", '\''), ("22;", '"'), ("26;", '&')]
    } else {
        &[("39;", '\''), ("34;", '"'), ("60;", '<'), ("62;", '>'), ("38;", '&')]
    };
    table.iter().find(|(code, _)| body.starts_with(code)).map(|(code, c)| (*c, prefix + zeros + code.len()))
}

impl Scheme for WooCommerce {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn key(&self, secret: &str) -> Result<Key, String> {
        Ok(Key::Bytes(signing_key(secret)))
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let sig = b64_digest(value, 32, &format!("the signature in `{HEADER}`"))?;
        Ok(Parsed { source: format!("`{HEADER}`"), signatures: vec![sig], ..Default::default() })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&hmac_sha256(key.bytes(), &[&msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = hmac_sha256(&signing_key(secret), &[input.body]);
        Ok(Signed { headers: vec![(HEADER.into(), b64(&mac))], body: None })
    }
}

#[cfg(test)]
mod tests {
    use super::signing_key;

    #[test]
    fn the_secret_is_decoded_as_wordpress_does() {
        assert_eq!(signing_key("plain"), b"plain");
        assert_eq!(signing_key("a&amp;b&lt;c&gt;d&quot;e&#039;f"), b"a&b<c>d\"e'f");
        assert_eq!(signing_key("&#39;&#0034;&#x27;&#X0026;&#60;&#062;&#38;"), b"'\"'&<>&");
        // One pass, like `strtr`: a decoded `&` does not start another entity.
        assert_eq!(signing_key("&amp;lt;"), b"&lt;");
        // Anything else is left alone.
        assert_eq!(signing_key("&nbsp;&#x3C;&#65;&"), b"&nbsp;&#x3C;&#65;&");
    }
}
