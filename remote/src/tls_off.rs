//! Built without the `tls` feature: no TLS configuration can exist, so every connection is
//! plain.

use crate::transport::Stream;

/// No TLS client can be made without the `tls` feature.
#[derive(Clone, Debug)]
pub(crate) enum ClientTls {}
/// No TLS server can be made without the `tls` feature.
#[derive(Clone, Debug)]
pub(crate) enum ServerTls {}

/// Stands in for `TlsError` (never built).
#[derive(Debug)]
pub(crate) enum Never {}

impl std::fmt::Display for Never {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl ClientTls {
    pub(crate) async fn connect(&self, _: Stream, _: &str) -> Result<Stream, Never> {
        match *self {}
    }
}

impl ServerTls {
    pub(crate) async fn accept(&self, _: Stream, _: &str) -> Result<Stream, Never> {
        match *self {}
    }
}
