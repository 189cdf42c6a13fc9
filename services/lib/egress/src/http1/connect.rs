//! Opening a connection to an address the policy allows, with TLS for `https`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use url::{Host, Url};

use crate::error::EgressError;
use crate::policy::EgressPolicy;
use crate::resolve::resolve_allowed;

/// A plain or TLS connection.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) type Conn = Box<dyn Io>;

/// Why no connection was made.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The policy refused the address, or the name did not resolve.
    Egress(EgressError),
    Tcp(io::Error),
    Tls(io::Error),
}

/// TLS settings for every `https` target: the Mozilla roots compiled in (no dependency on the
/// image's CA bundle), ring, and HTTP/1.1 only, which is all this client speaks.
pub(crate) fn tls_config(extra_roots: &[Vec<u8>]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_roots {
        roots.add(der.clone().into()).map_err(|e| format!("an extra root certificate is not usable: {e}"))?;
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The addresses `url` may be connected to: an IP literal as it is (already checked by
/// [`crate::check_url`]), a name through [`resolve_allowed`], at connect time, which is what
/// defeats DNS rebinding: the addresses checked are the ones connected to.
async fn addresses(url: &Url, policy: &EgressPolicy) -> Result<Vec<SocketAddr>, EgressError> {
    let port = url.port_or_known_default().unwrap_or(80);
    match url.host() {
        Some(Host::Ipv4(ip)) => Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]),
        Some(Host::Ipv6(ip)) => Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]),
        Some(Host::Domain(name)) => resolve_allowed(policy, name, port).await,
        None => Err(EgressError::bad_url("the URL has no host")),
    }
}

/// Connects to the first allowed address that answers, then does the TLS handshake for `https`.
/// The caller bounds the whole with the connect timeout.
pub(crate) async fn connect(url: &Url, policy: &EgressPolicy, tls: &Arc<ClientConfig>) -> Result<Conn, ConnectError> {
    let addrs = addresses(url, policy).await.map_err(ConnectError::Egress)?;
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match tcp {
        Some(tcp) => tcp,
        None => {
            return Err(ConnectError::Tcp(
                last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to connect to")),
            ));
        }
    };
    // Requests go out as one write and wait for the answer: Nagle would only add delay.
    let _ = tcp.set_nodelay(true);
    if url.scheme() != "https" {
        return Ok(Box::new(tcp));
    }
    let name = match url.host() {
        Some(Host::Ipv4(ip)) => ServerName::IpAddress(IpAddr::V4(ip).into()),
        Some(Host::Ipv6(ip)) => ServerName::IpAddress(IpAddr::V6(ip).into()),
        Some(Host::Domain(name)) => ServerName::try_from(name.to_string())
            .map_err(|e| ConnectError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?,
        None => return Err(ConnectError::Egress(EgressError::bad_url("the URL has no host"))),
    };
    let stream = TlsConnector::from(Arc::clone(tls)).connect(name, tcp).await.map_err(ConnectError::Tls)?;
    Ok(Box::new(stream))
}
