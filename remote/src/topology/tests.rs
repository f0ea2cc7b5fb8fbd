use super::*;

fn parse(text: &str) -> Result<Topology, TopologyError> {
    Topology::parse(text, "topology.toml", Path::new("/base"))
}

const GOOD: &str = r#"
secret_file = "link.secret"
socket_dir = "sockets"

[link]
queue_capacity = 64
mode = "spin"
spin_us = 20

[[node]]
name = "feed"
endpoint = "unix:feed.sock"
services = ["feed"]

[[node]]
name = "exec"
endpoint = "tcp:127.0.0.1:7001"
services = ["portfolio", "execution"]
"#;

#[test]
fn good_file() {
    let t = parse(GOOD).unwrap();
    assert_eq!(t.nodes.len(), 2);
    assert_eq!(
        t.node("feed").unwrap().endpoint,
        Endpoint::Unix(PathBuf::from("/base/sockets/feed.sock"))
    );
    assert_eq!(t.host_of("execution").unwrap().name, "exec");
    assert_eq!(
        t.secret,
        SecretSource::File(PathBuf::from("/base/link.secret"))
    );
    assert_eq!(t.link.queue_capacity, 64);
    assert_eq!(t.link.mode, Mode::Spin(Duration::from_micros(20)));
    t.check_services(&["feed", "portfolio", "execution"])
        .unwrap();
}

#[test]
fn unknown_service_named_at_its_line() {
    let t = parse(GOOD).unwrap();
    let e = t.check_services(&["feed", "portfolio"]).unwrap_err();
    assert_eq!((e.line, e.column), (18, 26));
    assert!(e.message.contains("unknown service `execution`"), "{e}");
}

#[test]
fn duplicate_node() {
    let text = GOOD.replace("name = \"exec\"", "name = \"feed\"");
    let e = parse(&text).unwrap_err();
    assert_eq!((e.line, e.column), (16, 8));
    assert!(e
        .to_string()
        .starts_with("topology.toml:16:8: duplicate node `feed`"));
}

#[test]
fn missing_endpoint() {
    let text = GOOD.replace("endpoint = \"unix:feed.sock\"\n", "");
    let e = parse(&text).unwrap_err();
    assert!(e.message.contains("node `feed` has no endpoint"), "{e}");
    assert_eq!(e.line, 10);
}

#[test]
fn bad_endpoints() {
    for (from, to, says) in [
        ("unix:feed.sock", "udp:x", "must start with"),
        ("unix:feed.sock", "tcp:nohost", "not HOST:PORT"),
        ("unix:feed.sock", "tcp:h:99999", "not HOST:PORT"),
        ("unix:feed.sock", "unix:", "empty Unix"),
        ("unix:feed.sock", "tcp:127.0.0.1:7001", "same endpoint"),
    ] {
        let e = parse(&GOOD.replace(from, to)).unwrap_err();
        assert!(e.message.contains(says), "{to}: {e}");
        // The second of two equal endpoints is the one named.
        let line = if says == "same endpoint" { 17 } else { 12 };
        assert_eq!(e.line, line, "{to}");
    }
}

#[test]
fn endpoints_on_one_socket_path_are_duplicates() {
    for (first, second) in [
        ("unix:a.sock", "shm:a.sock"),
        ("shm:a.sock", "shm:a.sock?ring_bytes=65536"),
        ("shm:a.sock?prefix=one", "shm:a.sock?prefix=two"),
    ] {
        let text = GOOD
            .replace("unix:feed.sock", first)
            .replace("tcp:127.0.0.1:7001", second);
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("same endpoint"), "{first} {second}: {e}");
        assert_eq!(e.line, 17, "{first} {second}");
    }
    let text = GOOD
        .replace("unix:feed.sock", "shm:a.sock")
        .replace("tcp:127.0.0.1:7001", "shm:b.sock");
    parse(&text).unwrap();
}

#[test]
fn service_on_two_nodes() {
    let e = parse(&GOOD.replace("\"execution\"", "\"feed\"")).unwrap_err();
    assert!(
        e.message.contains("hosted by both `feed` and `exec`"),
        "{e}"
    );
    assert_eq!(e.line, 18);
}

#[test]
fn syntax_and_type_errors_have_positions() {
    let e = parse("secret_env = \"S\"\n[[node]]\nname = 5\n").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    let e = parse("secret_env = \"S\"\n[[node]\n").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    let e = parse("secret_env = \"S\"\nsurprise = 1\n").unwrap_err();
    assert!(e.message.contains("surprise"), "{e}");
    assert_eq!(e.line, 2);
}

#[test]
fn secret_and_link_options_checked() {
    let e = parse("[[node]]\nname = \"a\"\nendpoint = \"tcp:h:1\"\n").unwrap_err();
    assert!(e.message.contains("no link secret"), "{e}");
    let both = format!("secret_env = \"S\"\n{GOOD}");
    assert!(parse(&both).unwrap_err().message.contains("not both"));
    let e = parse(&GOOD.replace("mode = \"spin\"", "mode = \"turbo\"")).unwrap_err();
    assert!(e.message.contains("unknown mode"), "{e}");
    assert_eq!(e.line, 7);
    let e =
        parse(&GOOD.replace("queue_capacity = 64", "heartbeat_interval_ms = 9000")).unwrap_err();
    assert!(e.message.contains("longer than"), "{e}");
    let e = parse(&GOOD.replace("queue_capacity = 64", "queue_capacity = 0")).unwrap_err();
    assert!(e.message.contains("at least 1"), "{e}");
    let e = parse(&GOOD.replace("queue_capacity = 64", "max_frame = 64")).unwrap_err();
    assert!(
        e.message.contains("`max_frame` must be at least 4096"),
        "{e}"
    );
    assert_eq!(e.line, 6);
    let e = parse("secret_env = \"S\"\n").unwrap_err();
    assert!(e.message.contains("no nodes"), "{e}");
}

#[test]
fn close_timeout_read_from_the_link_table() {
    assert_eq!(
        parse(GOOD).unwrap().link.close_timeout,
        Duration::from_secs(5)
    );
    let text = GOOD.replace("queue_capacity = 64", "close_timeout_ms = 250");
    assert_eq!(
        parse(&text).unwrap().link.close_timeout,
        Duration::from_millis(250)
    );
    let e = parse(&GOOD.replace("queue_capacity = 64", "close_timeout_ms = 0")).unwrap_err();
    assert!(
        e.message.contains("`close_timeout_ms` must be at least 1"),
        "{e}"
    );
}

#[test]
fn queue_bytes_read_from_the_link_table() {
    assert_eq!(
        parse(GOOD).unwrap().link.queue_bytes,
        crate::config::DEFAULT_QUEUE_BYTES
    );
    let text = GOOD.replace("queue_capacity = 64", "queue_bytes = 65536");
    assert_eq!(parse(&text).unwrap().link.queue_bytes, 65536);
    let e = parse(&GOOD.replace("queue_capacity = 64", "queue_bytes = 0")).unwrap_err();
    assert!(
        e.to_string().contains("`queue_bytes` must be at least 1"),
        "{e}"
    );
}

const SUBSCRIBING: &str = r#"
secret_env = "SECRET"

[[node]]
name = "md"
endpoint = "unix:md.sock"

[[node]]
name = "trading"
endpoint = "unix:trading.sock"

[[node.subscription]]
topic = "md.quote.*"
overflow = "latest_per_key"

[[node.subscription]]
topic = "md.trade.*"
overflow = "drop_oldest"
capacity = 4096

[[node.subscription]]
topic = "md.status"
"#;

#[test]
fn subscriptions_take_their_policy() {
    let t = parse(SUBSCRIBING).unwrap();
    assert!(t.node("md").unwrap().subscriptions.is_empty());
    let subs = &t.node("trading").unwrap().subscriptions;
    assert_eq!(subs.len(), 3);
    assert_eq!(
        t.subscription_policy("trading", "md.quote.*"),
        Some(RemoteOverflow::LatestPerKey)
    );
    assert_eq!(
        t.subscription_policy("trading", "md.trade.*"),
        Some(RemoteOverflow::DropOldest { capacity: 4096 })
    );
    assert_eq!(
        t.subscription_policy("trading", "md.status"),
        Some(RemoteOverflow::Block)
    );
    // Exactly the pattern: another one, or another node's, has no entry.
    assert_eq!(t.subscription_policy("trading", "md.quote.ES"), None);
    assert_eq!(t.subscription_policy("md", "md.quote.*"), None);
    let text = SUBSCRIBING.replace("capacity = 4096", "").replace(
        "overflow = \"latest_per_key\"",
        "overflow = \"drop_newest\"",
    );
    let t = parse(&text).unwrap();
    assert_eq!(
        t.subscription_policy("trading", "md.trade.*"),
        Some(RemoteOverflow::DropOldest { capacity: 1024 })
    );
    assert_eq!(
        t.subscription_policy("trading", "md.quote.*"),
        Some(RemoteOverflow::DropNewest)
    );
}

#[test]
fn unknown_overflow_names_the_file_the_entry_and_the_choices() {
    let text = SUBSCRIBING.replace("\"latest_per_key\"", "\"drop_latest\"");
    let e = parse(&text).unwrap_err();
    assert_eq!((e.line, e.column), (14, 12));
    assert_eq!(
        e.to_string(),
        "topology.toml:14:12: node `trading`, subscription `md.quote.*`: unknown overflow \
         `drop_latest`: use \"block\", \"drop_newest\", \"drop_oldest\" or \"latest_per_key\""
    );
}

#[test]
fn subscription_entries_are_checked() {
    let capacity_elsewhere = SUBSCRIBING.replace(
        "overflow = \"latest_per_key\"",
        "overflow = \"latest_per_key\"\ncapacity = 8",
    );
    let e = parse(&capacity_elsewhere).unwrap_err();
    assert!(
        e.message.contains(
            "subscription `md.quote.*`: `capacity` applies to `overflow = \"drop_oldest\"` only"
        ),
        "{e}"
    );
    let zero = SUBSCRIBING.replace("capacity = 4096", "capacity = 0");
    let e = parse(&zero).unwrap_err();
    assert!(e.message.contains("`capacity` must be 1 to"), "{e}");
    let bad_pattern = SUBSCRIBING.replace("md.quote.*", "md.*.quote");
    let e = parse(&bad_pattern).unwrap_err();
    assert!(
        e.message
            .contains("subscription `md.*.quote`: not a topic pattern"),
        "{e}"
    );
    let twice = SUBSCRIBING.replace("md.status", "md.quote.*");
    let e = parse(&twice).unwrap_err();
    assert!(e.message.contains("given twice"), "{e}");
    let unknown_field = SUBSCRIBING.replace("capacity = 4096", "key = 3");
    let e = parse(&unknown_field).unwrap_err();
    assert!(e.message.contains("unknown field `key`"), "{e}");
    let no_topic = SUBSCRIBING.replace("topic = \"md.status\"", "overflow = \"block\"");
    let e = parse(&no_topic).unwrap_err();
    assert!(e.message.contains("missing field `topic`"), "{e}");
}
