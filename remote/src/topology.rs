//! `topology.toml`: which node hosts which services, where each listens, the secret, link
//! options. Errors name the file, line and column.
//!
//! ```toml
//! socket_dir = "sockets"          # relative Unix endpoints live here (default: next to the file)
//! secret_file = "link.secret"     # mode 0600; or: secret_env = "MYCELIUM_LINK_SECRET"
//!
//! [link]                          # optional; defaults shown
//! queue_capacity = 1024
//! queue_bytes = 16777216          # bytes queued or unacknowledged, at most
//! max_frame = 1048576             # at least 4096
//! max_attempts = 30               # the dialling side gives up after this many failures
//! give_up_after_ms = 60000        # the accepting side waits this long for its peer
//! close_timeout_ms = 5000         # Node::close waits this long for acknowledgements
//! heartbeat_interval_ms = 1000
//! heartbeat_timeout_ms = 5000
//! handshake_timeout_ms = 5000
//! mode = "block"                  # or "spin", with spin_us = 50
//!
//! [[node]]
//! name = "feed"
//! endpoint = "unix:feed.sock"     # or "tcp:127.0.0.1:7001"
//! services = ["feed"]
//! # optional, on every node or on none (feature `tls`): TLS on TCP links
//! # tls = { cert = "feed.pem", key = "feed.key", ca = "ca.pem", server_name = "feed.internal", client_auth = true }
//!
//! [[node]]
//! name = "trading"
//! endpoint = "unix:trading.sock"
//!
//! [[node.subscription]]           # optional: the overflow policy of this node's subscriptions
//! topic = "md.quote.*"            # the pattern the program passes to `subscribe_remote`
//! overflow = "drop_oldest"        # "block" (default), "drop_newest", "drop_oldest", "latest_per_key"
//! capacity = 4096                 # drop_oldest only: its buffer, in publications (default 1024)
//! ```
//!
//! A `[[node.subscription]]` entry sets the policy ([`RemoteOverflow`]) that the publishing
//! nodes apply to the subscription of that node with exactly that pattern: the program's
//! [`Node::subscribe_remote`](crate::Node::subscribe_remote) on a node started from the file
//! uses it (an explicit [`Node::subscribe_remote_with`](crate::Node::subscribe_remote_with)
//! overrides it). The file chooses how a subscriber fares when it is slow or away; the program
//! chooses what it subscribes to.
//!
//! TLS (`tls` on a node): `cert` and `key` are the node's certificate chain and private key
//! (PEM), presented when it accepts a connection on its TCP endpoint and, when the other side
//! asks, when it dials; `ca` holds the CA certificates it trusts for its peers' certificates.
//! A node dialling another verifies the other's certificate against its own `ca` and the other
//! node's `server_name` (default: the host of its endpoint). `client_auth = true` makes the
//! node refuse clients without a certificate that chains to its `ca` (mutual TLS). Either
//! every node has `tls` or none does; a node with a Unix endpoint uses its `tls` only to dial.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{LinkConfig, Mode};
use crate::secret::Secret;
use crate::topics::RemoteOverflow;
use crate::transport::Endpoint;

/// A topology file that cannot be used: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct TopologyError {
    /// The file (or the name given to [`Topology::parse`]).
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// Where the link secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A file readable by its owner only.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl SecretSource {
    /// Loads the secret.
    pub fn load(&self) -> Result<Secret, crate::error::SecretError> {
        match self {
            SecretSource::File(path) => Secret::from_file(path),
            SecretSource::Env(name) => Secret::from_env(name),
        }
    }
}

/// One node of the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    /// Its name (unique).
    pub name: String,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// The services it hosts.
    pub services: Vec<String>,
    /// Its TLS settings, if links use TLS.
    pub tls: Option<TlsSpec>,
    /// The overflow policies of its subscriptions to the other nodes' topics
    /// (`[[node.subscription]]`), in file order.
    pub subscriptions: Vec<SubscriptionSpec>,
    service_at: Vec<(usize, usize)>,
}

/// One `[[node.subscription]]` entry: the overflow policy of a node's subscription to a
/// topic pattern of the other nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// The pattern, as the program passes it to
    /// [`Node::subscribe_remote`](crate::Node::subscribe_remote).
    pub topic: String,
    /// What the publishing nodes do with its publications while the link to this node is
    /// full.
    pub overflow: RemoteOverflow,
}

/// A node's TLS files and options (`tls = { ... }` of a `[[node]]`); paths are resolved
/// against the topology file's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSpec {
    /// The node's certificate chain (PEM).
    pub cert: PathBuf,
    /// The node's private key (PEM).
    pub key: PathBuf,
    /// The CA certificates the node trusts for its peers (PEM).
    pub ca: PathBuf,
    /// The name a dialling node verifies this node's certificate against; `None`: the host
    /// of its endpoint.
    pub server_name: Option<String>,
    /// Require a client certificate that chains to `ca` (mutual TLS).
    pub client_auth: bool,
}

impl NodeSpec {
    /// The name a dialling node expects in this node's TLS certificate: its `server_name`,
    /// else the host of its TCP endpoint.
    pub fn tls_server_name(&self) -> Option<String> {
        if let Some(name) = self.tls.as_ref().and_then(|t| t.server_name.clone()) {
            return Some(name);
        }
        match &self.endpoint {
            Endpoint::Tcp(addr) => {
                let (host, _) = addr.rsplit_once(':')?;
                Some(
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                )
            }
            Endpoint::Unix(_) | Endpoint::Shm(_) => None,
        }
    }
}

/// A loaded and validated topology.
#[derive(Clone, Debug)]
pub struct Topology {
    /// The nodes, in file order.
    pub nodes: Vec<NodeSpec>,
    /// The secret's source.
    pub secret: SecretSource,
    /// Options of every link.
    pub link: LinkConfig,
    origin: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    socket_dir: Option<Spanned<String>>,
    secret_file: Option<Spanned<String>>,
    secret_env: Option<Spanned<String>>,
    link: Option<RawLink>,
    #[serde(default)]
    node: Vec<Spanned<RawNode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<String>,
    endpoint: Option<Spanned<String>>,
    #[serde(default)]
    services: Vec<Spanned<String>>,
    tls: Option<Spanned<RawTls>>,
    #[serde(default)]
    subscription: Vec<Spanned<RawSubscription>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    topic: Spanned<String>,
    overflow: Option<Spanned<String>>,
    capacity: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: String,
    key: String,
    ca: String,
    server_name: Option<String>,
    #[serde(default)]
    client_auth: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    queue_capacity: Option<Spanned<u64>>,
    queue_bytes: Option<Spanned<u64>>,
    max_frame: Option<Spanned<u64>>,
    heartbeat_interval_ms: Option<Spanned<u64>>,
    heartbeat_timeout_ms: Option<Spanned<u64>>,
    handshake_timeout_ms: Option<Spanned<u64>>,
    max_attempts: Option<Spanned<u64>>,
    give_up_after_ms: Option<Spanned<u64>>,
    close_timeout_ms: Option<Spanned<u64>>,
    mode: Option<Spanned<String>>,
    spin_us: Option<Spanned<u64>>,
}

struct Source<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> TopologyError {
        let (line, column) = match span {
            Some(span) => line_col(self.text, span.start),
            None => (1, 1),
        };
        TopologyError {
            origin: self.origin.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Topology {
    /// Reads and validates `path`. Relative paths inside are relative to the file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Topology, TopologyError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError {
            origin: origin.clone(),
            line: 1,
            column: 1,
            message: format!("cannot read the topology file: {e}"),
        })?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        Topology::parse(&text, &origin, &base)
    }

    /// Parses and validates topology text; relative paths are taken from `base`.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Topology, TopologyError> {
        let src = Source { origin, text };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_owned();
            src.error(e.span(), message)
        })?;

        let socket_dir = match &raw.socket_dir {
            Some(dir) => base.join(dir.get_ref()),
            None => base.to_owned(),
        };
        let secret = match (&raw.secret_file, &raw.secret_env) {
            (Some(_), Some(env)) => {
                return Err(src.error(
                    Some(env.span()),
                    "give either `secret_file` or `secret_env`, not both",
                ))
            }
            (Some(file), None) => SecretSource::File(base.join(file.get_ref())),
            (None, Some(env)) => SecretSource::Env(env.get_ref().clone()),
            (None, None) => {
                return Err(src.error(
                    None,
                    "no link secret: add `secret_file = \"PATH\"` (a file of mode 0600) or `secret_env = \"VARIABLE\"`",
                ))
            }
        };
        let link = match &raw.link {
            Some(l) => link_config(&src, l)?,
            None => LinkConfig::default(),
        };
        if raw.node.is_empty() {
            return Err(src.error(None, "no nodes: add at least one `[[node]]` table"));
        }

        let mut nodes: Vec<NodeSpec> = Vec::with_capacity(raw.node.len());
        let mut hosts: BTreeMap<&str, &str> = BTreeMap::new();
        for spanned in &raw.node {
            let node = spanned.get_ref();
            let name = node.name.get_ref();
            if name.is_empty() || name.len() > crate::frame::MAX_NAME_LEN {
                return Err(src.error(
                    Some(node.name.span()),
                    "a node name must have 1 to 255 bytes",
                ));
            }
            if nodes.iter().any(|n| &n.name == name) {
                return Err(src.error(
                    Some(node.name.span()),
                    format!("duplicate node `{name}`: node names must be unique"),
                ));
            }
            let Some(endpoint) = &node.endpoint else {
                return Err(src.error(
                    Some(spanned.span()),
                    format!("node `{name}` has no endpoint: add `endpoint = \"unix:NAME.sock\"` or `endpoint = \"tcp:HOST:PORT\"`"),
                ));
            };
            let endpoint = parse_endpoint(&src, endpoint, &socket_dir)?;
            if let Some(other) = nodes
                .iter()
                .find(|n| n.endpoint == endpoint || same_socket(&n.endpoint, &endpoint))
            {
                return Err(src.error(
                    Some(node.endpoint.as_ref().map_or(0..0, |e| e.span())),
                    format!(
                        "node `{name}` has the same endpoint (or Unix socket path) as node `{}`",
                        other.name
                    ),
                ));
            }
            let mut services = Vec::with_capacity(node.services.len());
            let mut service_at = Vec::with_capacity(node.services.len());
            for service in &node.services {
                let s = service.get_ref();
                if s.is_empty() || s.len() > crate::frame::MAX_NAME_LEN {
                    return Err(src.error(
                        Some(service.span()),
                        "a service name must have 1 to 255 bytes",
                    ));
                }
                if let Some(host) = hosts.insert(s, name) {
                    return Err(src.error(
                        Some(service.span()),
                        format!("service `{s}` is hosted by both `{host}` and `{name}`: a service lives on one node"),
                    ));
                }
                services.push(s.clone());
                service_at.push(line_col(text, service.span().start));
            }
            let tls = node.tls.as_ref().map(|t| {
                let t = t.get_ref();
                TlsSpec {
                    cert: base.join(&t.cert),
                    key: base.join(&t.key),
                    ca: base.join(&t.ca),
                    server_name: t.server_name.clone(),
                    client_auth: t.client_auth,
                }
            });
            if let (Some(raw_tls), Endpoint::Unix(_) | Endpoint::Shm(_)) = (&node.tls, &endpoint) {
                if raw_tls.get_ref().client_auth {
                    return Err(src.error(
                        Some(raw_tls.span()),
                        format!("node `{name}` listens on a Unix socket (or shared memory set up through one), where TLS does not run: remove `client_auth` (the socket's file mode and peer uid protect it)"),
                    ));
                }
            }
            let subscriptions = subscriptions(&src, name, &node.subscription)?;
            nodes.push(NodeSpec {
                name: name.clone(),
                endpoint,
                services,
                tls,
                subscriptions,
                service_at,
            });
        }
        let with_tls = raw
            .node
            .iter()
            .filter(|n| n.get_ref().tls.is_some())
            .count();
        if with_tls != 0 && with_tls != raw.node.len() {
            let without = raw
                .node
                .iter()
                .find(|n| n.get_ref().tls.is_none())
                .map(|n| (n.span(), n.get_ref().name.get_ref().clone()));
            let (span, name) = without.unwrap_or((0..0, String::new()));
            return Err(src.error(
                Some(span),
                format!("node `{name}` has no `tls` while other nodes do: give every node `tls = {{ cert = ..., key = ..., ca = ... }}` (a node needs `ca` to verify the nodes it dials), or remove `tls` from all"),
            ));
        }
        Ok(Topology {
            nodes,
            secret,
            link,
            origin: origin.to_owned(),
        })
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The overflow policy the file gives node `node`'s subscription to `pattern` (its
    /// `[[node.subscription]]` entry whose `topic` is exactly `pattern`), if any.
    pub fn subscription_policy(&self, node: &str, pattern: &str) -> Option<RemoteOverflow> {
        self.node(node)?
            .subscriptions
            .iter()
            .find(|s| s.topic == pattern)
            .map(|s| s.overflow)
    }

    /// The node hosting `service`.
    pub fn host_of(&self, service: &str) -> Option<&NodeSpec> {
        self.nodes
            .iter()
            .find(|n| n.services.iter().any(|s| s == service))
    }

    /// Checks every service named in the file against the services the program has: an
    /// unknown one (a typo) is an error at its line.
    pub fn check_services(&self, known: &[&str]) -> Result<(), TopologyError> {
        for node in &self.nodes {
            for (service, &(line, column)) in node.services.iter().zip(&node.service_at) {
                if !known.contains(&service.as_str()) {
                    return Err(TopologyError {
                        origin: self.origin.clone(),
                        line,
                        column,
                        message: format!(
                            "unknown service `{service}` on node `{}`; this program has: {}",
                            node.name,
                            known.join(", ")
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// An error about this topology as a whole (no position).
    pub fn error(&self, message: impl Into<String>) -> TopologyError {
        TopologyError {
            origin: self.origin.clone(),
            line: 1,
            column: 1,
            message: message.into(),
        }
    }
}

fn parse_endpoint(
    src: &Source<'_>,
    value: &Spanned<String>,
    socket_dir: &Path,
) -> Result<Endpoint, TopologyError> {
    let text = value.get_ref();
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(src.error(Some(value.span()), "empty Unix socket path"));
        }
        return Ok(Endpoint::Unix(socket_dir.join(path)));
    }
    if let Some(addr) = text.strip_prefix("tcp:") {
        let ok = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            return Err(src.error(Some(value.span()), format!("`{addr}` is not HOST:PORT")));
        }
        return Ok(Endpoint::Tcp(addr.to_owned()));
    }
    if let Some(rest) = text.strip_prefix("shm:") {
        return crate::shm::ShmEndpoint::parse(rest, socket_dir)
            .map(Endpoint::Shm)
            .map_err(|m| src.error(Some(value.span()), m));
    }
    Err(src.error(
        Some(value.span()),
        format!("endpoint `{text}` must start with `unix:`, `tcp:` or `shm:`"),
    ))
}

/// The overflow policies allowed in a `[[node.subscription]]` entry, as the file spells them.
const OVERFLOWS: &str = "\"block\", \"drop_newest\", \"drop_oldest\" or \"latest_per_key\"";

/// Validates node `node`'s `[[node.subscription]]` entries.
fn subscriptions(
    src: &Source<'_>,
    node: &str,
    raw: &[Spanned<RawSubscription>],
) -> Result<Vec<SubscriptionSpec>, TopologyError> {
    let mut out: Vec<SubscriptionSpec> = Vec::with_capacity(raw.len());
    for entry in raw {
        let entry = entry.get_ref();
        let topic = entry.topic.get_ref();
        let what = format!("node `{node}`, subscription `{topic}`");
        if let Err(e) = mycelium_actors::topic::check_pattern(topic) {
            return Err(src.error(
                Some(entry.topic.span()),
                format!("{what}: not a topic pattern: {e}"),
            ));
        }
        if out.iter().any(|s| s.topic == *topic) {
            return Err(src.error(
                Some(entry.topic.span()),
                format!("{what}: given twice: a pattern has one policy"),
            ));
        }
        let name = entry.overflow.as_ref().map(|o| o.get_ref().as_str());
        let overflow = match name {
            None | Some("block") => RemoteOverflow::Block,
            Some("drop_newest") => RemoteOverflow::DropNewest,
            Some("drop_oldest") => {
                let capacity = match &entry.capacity {
                    None => mycelium_actors::SubscribeOptions::DEFAULT_CAPACITY as u32,
                    Some(c) => match u32::try_from(*c.get_ref()) {
                        Ok(n) if n >= 1 => n,
                        _ => {
                            return Err(src.error(
                                Some(c.span()),
                                format!(
                                    "{what}: `capacity` must be 1 to {} publications",
                                    u32::MAX
                                ),
                            ))
                        }
                    },
                };
                RemoteOverflow::DropOldest { capacity }
            }
            Some("latest_per_key") => RemoteOverflow::LatestPerKey,
            Some(other) => {
                let span = entry.overflow.as_ref().map(|o| o.span());
                return Err(src.error(
                    span,
                    format!("{what}: unknown overflow `{other}`: use {OVERFLOWS}"),
                ));
            }
        };
        if let (Some(c), false) = (
            &entry.capacity,
            matches!(overflow, RemoteOverflow::DropOldest { .. }),
        ) {
            return Err(src.error(
                Some(c.span()),
                format!(
                    "{what}: `capacity` applies to `overflow = \"drop_oldest\"` only (the \
                     other policies keep no buffer of their own)"
                ),
            ));
        }
        out.push(SubscriptionSpec {
            topic: topic.clone(),
            overflow,
        });
    }
    Ok(out)
}

fn link_config(src: &Source<'_>, raw: &RawLink) -> Result<LinkConfig, TopologyError> {
    let mut c = LinkConfig::default();
    let positive = |v: &Spanned<u64>, what: &str| -> Result<u64, TopologyError> {
        match *v.get_ref() {
            0 => Err(src.error(Some(v.span()), format!("`{what}` must be at least 1"))),
            n => Ok(n),
        }
    };
    let ms = |v: &Spanned<u64>, what: &str| positive(v, what).map(Duration::from_millis);
    if let Some(v) = &raw.queue_capacity {
        c.queue_capacity = usize::try_from(positive(v, "queue_capacity")?).unwrap_or(usize::MAX);
    }
    if let Some(v) = &raw.queue_bytes {
        c.queue_bytes = usize::try_from(positive(v, "queue_bytes")?).unwrap_or(usize::MAX);
    }
    if let Some(v) = &raw.max_frame {
        c.max_frame = u32::try_from(positive(v, "max_frame")?)
            .map_err(|_| src.error(Some(v.span()), "`max_frame` must fit in 32 bits"))?;
        if c.max_frame < crate::config::MIN_MAX_FRAME {
            return Err(src.error(
                Some(v.span()),
                format!(
                    "`max_frame` must be at least {} bytes: the link's own frames must fit",
                    crate::config::MIN_MAX_FRAME
                ),
            ));
        }
    }
    if let Some(v) = &raw.heartbeat_interval_ms {
        c.heartbeat_interval = ms(v, "heartbeat_interval_ms")?;
    }
    if let Some(v) = &raw.heartbeat_timeout_ms {
        c.heartbeat_timeout = ms(v, "heartbeat_timeout_ms")?;
    }
    if let Some(v) = &raw.handshake_timeout_ms {
        c.handshake_timeout = ms(v, "handshake_timeout_ms")?;
    }
    if let Some(v) = &raw.give_up_after_ms {
        c.give_up_after = ms(v, "give_up_after_ms")?;
    }
    if let Some(v) = &raw.close_timeout_ms {
        c.close_timeout = ms(v, "close_timeout_ms")?;
    }
    if let Some(v) = &raw.max_attempts {
        c.max_attempts = u32::try_from(positive(v, "max_attempts")?).unwrap_or(u32::MAX);
    }
    if c.heartbeat_timeout <= c.heartbeat_interval {
        let span = raw
            .heartbeat_timeout_ms
            .as_ref()
            .or(raw.heartbeat_interval_ms.as_ref())
            .map(|v| v.span());
        return Err(src.error(
            span,
            "`heartbeat_timeout_ms` must be longer than `heartbeat_interval_ms`",
        ));
    }
    let spin = raw
        .spin_us
        .as_ref()
        .map(|v| Duration::from_micros(*v.get_ref()));
    c.mode = match raw.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("block", _)) => Mode::Block,
        Some(("spin", _)) => Mode::Spin(spin.unwrap_or(Duration::from_micros(50))),
        Some((other, span)) => {
            return Err(src.error(
                Some(span),
                format!("unknown mode `{other}`: use \"block\" or \"spin\""),
            ))
        }
    };
    Ok(c)
}

impl fmt::Display for NodeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.name, self.endpoint)
    }
}

/// Whether two endpoints listen on one Unix socket path (`unix:` and `shm:` endpoints, whatever
/// their options).
fn same_socket(a: &Endpoint, b: &Endpoint) -> bool {
    fn socket(e: &Endpoint) -> Option<&Path> {
        match e {
            Endpoint::Unix(path) => Some(path),
            Endpoint::Shm(shm) => Some(&shm.socket),
            Endpoint::Tcp(_) => None,
        }
    }
    matches!((socket(a), socket(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests;
