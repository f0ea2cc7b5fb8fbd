//! A certificate authority and a `localhost` certificate it signed, written to a directory
//! for a child process to read: TLS links between a test and its children.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mycelium_remote::{TlsClient, TlsServer};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// Writes `ca.pem`, `cert.pem` and `key.pem` (mode 0600) into `dir`.
pub fn write(dir: &Path) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test ca");
    let ca = params.self_signed(&ca_key).expect("ca cert");
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("leaf cert");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca.pem");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&key_path, key.serialize_pem()).expect("key.pem");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("mode");
}

/// The listening side's TLS, from the files [`write`] made in `dir`.
pub fn server(dir: &Path) -> TlsServer {
    TlsServer::from_files(&dir.join("cert.pem"), &dir.join("key.pem"), None).expect("server tls")
}

/// The dialling side's TLS, trusting the CA [`write`] made in `dir`.
pub fn client(dir: &Path) -> TlsClient {
    TlsClient::from_files(&dir.join("ca.pem"), "localhost", None).expect("client tls")
}
