//! TLS for TCP links (cargo feature `tls`, on by default): rustls with the `ring` provider.
//!
//! TLS wraps the TCP connection; the link's own handshake (shared-secret proof, schema check)
//! then runs inside it, so a peer needs both a trusted certificate and the secret.
//!
//! - The dialling side holds a [`TlsClient`]: the CA certificates it trusts, the name the
//!   server's certificate must carry, and optionally its own certificate and key (mutual TLS).
//! - The accepting side holds a [`TlsServer`]: its certificate chain and key, and optionally
//!   the CA certificates a client's certificate must chain to (then a client without a trusted
//!   certificate is refused).
//!
//! Both load PEM from files ([`TlsClient::from_files`], [`TlsServer::from_files`]) or bytes
//! (`from_pem`). Every failure is a [`TlsError`] that says what to fix.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::transport::Stream;

/// The TLS of a dialling side, as the link code sees it.
pub(crate) type ClientTls = TlsClient;
/// The TLS of an accepting side, as the link code sees it.
pub(crate) type ServerTls = TlsServer;

/// TLS could not be set up, or a TLS handshake failed. Nothing from the peer reached an actor.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read.
    #[error("cannot read the TLS {what} file {path}: {source}; check the path (`tls` of the node in topology.toml)")]
    Read {
        /// Which file: `certificate`, `private key` or `CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not PEM, or holds nothing of the expected kind.
    #[error("the TLS {what} in {origin} is not usable: {problem}; expected PEM ({expected})")]
    Pem {
        /// Which item: `certificate`, `private key` or `CA`.
        what: &'static str,
        /// The file (or `bytes`).
        origin: String,
        /// What is wrong.
        problem: String,
        /// The PEM section expected.
        expected: &'static str,
    },
    /// The certificates and key do not make a usable configuration (a key that does not
    /// match the certificate, a CA that is not a valid certificate, ...).
    #[error("invalid TLS configuration: {problem}")]
    Config {
        /// What rustls said, with what to do.
        problem: String,
    },
    /// A private key file that every user of the host can read.
    #[error("TLS private key file {path} has mode {mode:o}: every user of this host can read it; make it readable by its owner (and group) only (chmod 600 or 640)")]
    KeyPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The name to verify the server's certificate against is not a DNS name or IP address.
    #[error("`{name}` is not a valid server name for TLS; give a DNS name or an IP address that the server's certificate carries (`server_name`)")]
    ServerName {
        /// The name given.
        name: String,
    },
    /// The TLS handshake with a peer failed.
    #[error("TLS handshake with {peer} failed: {problem}")]
    Handshake {
        /// The peer's address.
        peer: String,
        /// What went wrong and what to do.
        problem: String,
        /// True when retrying cannot help (an untrusted, expired or misnamed certificate, or
        /// the peer refused ours).
        permanent: bool,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Reads a private key file, refused when others (neither its owner nor its group) may
/// read or write it. Checked on the opened file, so a symbolic link (a certificate manager's
/// `live/` directory) is judged by the file it leads to.
fn read_key(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let read_err = |source| TlsError::Read {
        what: "private key",
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let mode = file.metadata().map_err(read_err)?.permissions().mode() & 0o777;
    if mode & 0o007 != 0 {
        return Err(TlsError::KeyPermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let mut pem = Vec::new();
    file.read_to_end(&mut pem).map_err(read_err)?;
    Ok(pem)
}

fn certs(
    what: &'static str,
    origin: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |problem: String| TlsError::Pem {
        what,
        origin: origin.to_owned(),
        problem,
        expected: "-----BEGIN CERTIFICATE-----",
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("it holds no certificate".into()));
    }
    Ok(certs)
}

fn key(origin: &str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Pem {
        what: "private key",
        origin: origin.to_owned(),
        problem: match e {
            rustls::pki_types::pem::Error::NoItemsFound => "it holds no private key".into(),
            other => other.to_string(),
        },
        expected: "-----BEGIN PRIVATE KEY----- (PKCS#8), RSA or EC PRIVATE KEY",
    })
}

fn roots(origin: &str, pem: &[u8]) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certs("CA", origin, pem)? {
        store.add(cert).map_err(|e| TlsError::Config {
            problem: format!(
                "the CA certificate in {origin} cannot be used as a trust anchor: {e}"
            ),
        })?;
    }
    Ok(Arc::new(store))
}

fn config_error(e: rustls::Error) -> TlsError {
    let problem = match &e {
        rustls::Error::General(_) | rustls::Error::InconsistentKeys(_) => format!(
            "{e}; check that the private key belongs to the certificate (the first one in the file)"
        ),
        _ => e.to_string(),
    };
    TlsError::Config { problem }
}

/// The dialling side's TLS: whom it trusts, what name it expects, and its own certificate
/// when the server asks for one.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Trusts the CA certificates in `ca` (PEM), expects the server's certificate to carry
    /// `server_name` (a DNS name or an IP address), and presents `identity` (certificate chain
    /// file, private key file) when the server asks for a client certificate.
    pub fn from_files(
        ca: &Path,
        server_name: &str,
        identity: Option<(&Path, &Path)>,
    ) -> Result<TlsClient, TlsError> {
        let ca_pem = read("CA", ca)?;
        let identity = match identity {
            Some((cert, key)) => Some((
                read("certificate", cert)?,
                cert.display().to_string(),
                read_key(key)?,
                key.display().to_string(),
            )),
            None => None,
        };
        Self::build(
            (&ca_pem, &ca.display().to_string()),
            server_name,
            identity
                .as_ref()
                .map(|(c, co, k, ko)| ((c.as_slice(), co.as_str()), (k.as_slice(), ko.as_str()))),
        )
    }

    /// As [`from_files`](Self::from_files), from PEM bytes.
    pub fn from_pem(
        ca: &[u8],
        server_name: &str,
        identity: Option<(&[u8], &[u8])>,
    ) -> Result<TlsClient, TlsError> {
        Self::build(
            (ca, "bytes"),
            server_name,
            identity.map(|(c, k)| ((c, "bytes"), (k, "bytes"))),
        )
    }

    #[allow(clippy::type_complexity)]
    fn build(
        (ca, ca_origin): (&[u8], &str),
        server_name: &str,
        identity: Option<((&[u8], &str), (&[u8], &str))>,
    ) -> Result<TlsClient, TlsError> {
        let name =
            ServerName::try_from(server_name.to_owned()).map_err(|_| TlsError::ServerName {
                name: server_name.to_owned(),
            })?;
        let roots = roots(ca_origin, ca)?;
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| TlsError::Config {
                problem: format!("the CA in {ca_origin} cannot verify servers: {e}"),
            })?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_webpki_verifier(verifier);
        let config = match identity {
            Some(((cert, cert_origin), (k, key_origin))) => builder
                .with_client_auth_cert(
                    certs("certificate", cert_origin, cert)?,
                    key(key_origin, k)?,
                )
                .map_err(config_error)?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
            server_name: name,
        })
    }

    /// Runs the client side of the TLS handshake on `stream` (TCP only).
    pub(crate) async fn connect(&self, stream: Stream, peer: &str) -> Result<Stream, TlsError> {
        let tcp = tcp_only(stream, peer)?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| dialled_handshake_error(peer, e))?;
        Ok(Stream::Tls(Box::new(tls.into())))
    }
}

/// The accepting side's TLS: its certificate and key, and the CA a client's certificate must
/// chain to when client certificates are required.
#[derive(Clone)]
pub struct TlsServer {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer").finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Presents the certificate chain in `cert` with the private key in `key` (PEM files);
    /// with `client_ca`, requires every client to present a certificate that chains to it.
    pub fn from_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<TlsServer, TlsError> {
        let cert_pem = read("certificate", cert)?;
        let key_pem = read_key(key)?;
        let ca = match client_ca {
            Some(ca) => Some((read("CA", ca)?, ca.display().to_string())),
            None => None,
        };
        Self::build(
            (&cert_pem, &cert.display().to_string()),
            (&key_pem, &key.display().to_string()),
            ca.as_ref().map(|(p, o)| (p.as_slice(), o.as_str())),
        )
    }

    /// As [`from_files`](Self::from_files), from PEM bytes.
    pub fn from_pem(
        cert: &[u8],
        key: &[u8],
        client_ca: Option<&[u8]>,
    ) -> Result<TlsServer, TlsError> {
        Self::build(
            (cert, "bytes"),
            (key, "bytes"),
            client_ca.map(|c| (c, "bytes")),
        )
    }

    fn build(
        (cert, cert_origin): (&[u8], &str),
        (k, key_origin): (&[u8], &str),
        client_ca: Option<(&[u8], &str)>,
    ) -> Result<TlsServer, TlsError> {
        let chain = certs("certificate", cert_origin, cert)?;
        let key = key(key_origin, k)?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?;
        let builder = match client_ca {
            Some((ca, origin)) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots(origin, ca)?, provider())
                        .build()
                        .map_err(|e| TlsError::Config {
                            problem: format!("the CA in {origin} cannot verify clients: {e}"),
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(chain, key).map_err(config_error)?;
        Ok(TlsServer {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Runs the server side of the TLS handshake on `stream` (TCP only).
    pub(crate) async fn accept(&self, stream: Stream, peer: &str) -> Result<Stream, TlsError> {
        let tcp = tcp_only(stream, peer)?;
        let tls = self
            .acceptor
            .accept(tcp)
            .await
            .map_err(|e| handshake_error(peer, e))?;
        Ok(Stream::Tls(Box::new(tls.into())))
    }
}

fn tcp_only(stream: Stream, peer: &str) -> Result<TcpStream, TlsError> {
    match stream {
        Stream::Tcp(tcp) => Ok(tcp),
        _ => Err(TlsError::Config {
            problem: format!("{peer} is not a plain TCP connection; TLS runs over TCP endpoints only (a Unix socket is protected by its file mode and peer uid)"),
        }),
    }
}

/// The rustls error inside an i/o error from a TLS stream, if there is one.
pub(crate) fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Explains a failed TLS handshake: what happened and what to do.
pub(crate) fn handshake_error(peer: &str, e: std::io::Error) -> TlsError {
    let (problem, permanent) = match rustls_error(&e) {
        Some(tls) => explain(tls),
        None => (e.to_string(), false),
    };
    TlsError::Handshake {
        peer: peer.to_owned(),
        problem,
        permanent,
    }
}

/// [`handshake_error`] at the dialling side: a node that closed the connection without a TLS
/// alert (an alert says why) most likely turned it away before it authenticated, as it does
/// with the oldest connection when its handshake slots are full, or when the handshake
/// deadline passed; the message says so, and the link tries again.
fn dialled_handshake_error(peer: &str, e: std::io::Error) -> TlsError {
    use std::io::ErrorKind as K;
    let closed = matches!(
        e.kind(),
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
    );
    if !closed || rustls_error(&e).is_some() {
        return handshake_error(peer, e);
    }
    TlsError::Handshake {
        peer: peer.to_owned(),
        problem: format!(
            "{e}: the node closed the connection without a TLS alert, most likely because its \
             handshake slots were all taken by connections that had not authenticated (it \
             closes the oldest to make room for a new one) or this handshake did not finish \
             within its deadline (`handshake_timeout`); trying again"
        ),
        permanent: false,
    }
}

/// What a rustls error means for a link, and whether retrying can help.
pub(crate) fn explain(e: &rustls::Error) -> (String, bool) {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match e {
        E::InvalidCertificate(C::UnknownIssuer) | E::InvalidCertificate(C::BadSignature) => (
            format!("{e}: the peer's certificate is not signed by a CA this node trusts; give this node (`ca`) the CA that signed the peer's certificate"),
            true,
        ),
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => (
            format!("{e}: the peer's certificate has expired; issue it a new one"),
            true,
        ),
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => (
            format!("{e}: the peer's certificate is not valid yet; check both hosts' clocks"),
            true,
        ),
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => (
            format!("{e}: the server's certificate does not carry the name dialled; set `server_name` to a name in the certificate, or reissue it"),
            true,
        ),
        E::InvalidCertificate(_) => (format!("{e}: the peer's certificate was rejected"), true),
        E::NoCertificatesPresented => (
            format!("{e}: this node requires a client certificate; give the dialling node a `cert` and `key` signed by this node's `ca`"),
            true,
        ),
        E::AlertReceived(
            alert @ (A::UnknownCA
            | A::BadCertificate
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::CertificateUnknown
            | A::CertificateRequired
            | A::UnsupportedCertificate
            | A::AccessDenied),
        ) => (
            format!("the peer refused this node's certificate (TLS alert {alert:?}); the peer must trust the CA that signed it, and it must be valid and unexpired"),
            true,
        ),
        other => (other.to_string(), false),
    }
}
