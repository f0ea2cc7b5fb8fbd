//! The `mycelium-journal` tool: `ls` and `cat` on a whole, a cut and a damaged journal.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use mycelium_journal::{
    segment_path, ActorAddr, Encoding, Entry, JournalOptions, JournalSchema, JournalWriter, Kind,
    Origin,
};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mycelium-journal"))
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path) {
    let writer =
        JournalWriter::open(dir, JournalOptions::new(JournalSchema::none()).node("n1")).unwrap();
    let strategy = ActorAddr { node: 0, id: 3 };
    let feed = ActorAddr { node: 0, id: 1 };
    for i in 0..10u64 {
        let payload = format!("{{\"px\":{i}}}");
        let handled = writer
            .append(&Entry {
                origin: Origin::Actor(feed),
                name: "Tick",
                encoding: Encoding::Json,
                payload: payload.as_bytes(),
                ..Entry::new(Kind::Handled, i * 1_000_000, strategy)
            })
            .unwrap();
        writer
            .append(&Entry {
                cause: Some(handled.seq()),
                name: "Order",
                topic: "orders",
                encoding: Encoding::Text,
                payload: b"buy",
                ..Entry::new(Kind::Published, i * 1_000_000, strategy)
            })
            .unwrap();
    }
    writer
        .append(&Entry {
            encoding: Encoding::Text,
            payload: b"boom",
            ..Entry::new(Kind::Failed, 20_000_000, feed)
        })
        .unwrap();
    writer.close().unwrap();
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn cat_prints_json_lines_filtered_by_actor_kind_type_and_time() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let d = dir.path().to_str().unwrap();

    let all = tool(&["cat", d]);
    assert!(all.status.success());
    let all = lines(&all);
    assert_eq!(all.len(), 21);
    assert_eq!(all[0]["kind"], "handled");
    assert_eq!(all[0]["payload"]["px"], 0);
    assert_eq!(all[0]["origin"]["actor"], 1);
    assert_eq!(all[1]["cause"], 0);
    assert_eq!(all[1]["topic"], "orders");

    let out = lines(&tool(&["cat", d, "--actor", "3", "--kind", "published"]));
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|v| v["type"] == "Order"));
    // The journal's own node by its name, as `ls` shows it.
    let named = lines(&tool(&["cat", d, "--actor", "3@n1", "--kind", "published"]));
    assert_eq!(named, out);
    let other = tool(&["cat", d, "--actor", "3@elsewhere"]);
    assert!(!other.status.success());
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("recorded by node \"n1\""),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );

    let out = lines(&tool(&[
        "cat", d, "--type", "Tick", "--from", "2ms", "--to", "5000000",
    ]));
    let times: Vec<_> = out.iter().map(|v| v["time_ns"].as_u64().unwrap()).collect();
    assert_eq!(times, [2_000_000, 3_000_000, 4_000_000]);

    let out = lines(&tool(&["cat", d, "--kind", "failed"]));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["payload"], "boom");
    assert_eq!(out[0]["actor"], 1);

    let bad = tool(&["cat", d, "--kind", "nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown kind \"nope\""));
}

#[test]
fn ls_says_when_retention_deleted_the_oldest_records() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::new(JournalSchema::none())
        .segment_bytes(1000)
        .retain_bytes(3000);
    let writer = JournalWriter::open(dir.path(), options).unwrap();
    for i in 0..200u64 {
        writer
            .append(&Entry {
                origin: Origin::Outside,
                name: "Tick",
                encoding: Encoding::Raw,
                payload: &[1; 40],
                ..Entry::new(Kind::Handled, i, ActorAddr { node: 0, id: 2 })
            })
            .unwrap();
    }
    writer.close().unwrap();
    let out = tool(&["ls", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("deleted  the records before number"),
        "{text}"
    );

    // A whole journal says nothing of it.
    let whole = tempfile::tempdir().unwrap();
    write(whole.path());
    let text = String::from_utf8(tool(&["ls", whole.path().to_str().unwrap()]).stdout).unwrap();
    assert!(!text.contains("deleted"), "{text}");
}

#[test]
fn ls_describes_the_journal_and_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let d = dir.path().to_str().unwrap();
    let out = tool(&["ls", d]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("node     \"n1\""), "{text}");
    assert!(text.contains("records  21 (numbers 0 to 20)"), "{text}");
    assert!(text.contains("published    10"), "{text}");
    assert!(text.contains("#3           20"), "{text}");
    assert!(!text.contains("not closed"), "{text}");

    // Its index gone (with the closing entry): a journal its writer never closed.
    let index = mycelium_journal::index_path(dir.path(), 1);
    let kept = fs::read(&index).unwrap();
    fs::remove_file(&index).unwrap();
    let text = String::from_utf8(tool(&["ls", d]).stdout).unwrap();
    assert!(
        text.contains("open     the journal was not closed"),
        "{text}"
    );
    fs::write(&index, kept).unwrap();

    let path = segment_path(dir.path(), 1);
    let len = fs::metadata(&path).unwrap().len();
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..(len - 3) as usize]).unwrap();
    let out = tool(&["ls", d]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("records  20"), "{text}");
    assert!(text.contains("segment 1 was cut"), "{text}");
    let cat = tool(&["cat", d]);
    assert!(cat.status.success());
    assert!(String::from_utf8_lossy(&cat.stderr).contains("segment 1 was cut"));
}

#[test]
fn ls_lists_the_runs_of_a_journal_opened_again() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let d = dir.path().to_str().unwrap();
    let once = String::from_utf8(tool(&["ls", d]).stdout).unwrap();
    assert!(!once.contains("runs"), "{once}");
    write(dir.path());
    let out = tool(&["ls", d]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("runs     2: a replay of the journal covers run 0"),
        "{text}"
    );
    assert!(
        text.contains("run 0    the first, from record 0 (segments 1 to 1)"),
        "{text}"
    );
    assert!(
        text.contains("run 1    resumed, from record 21 (segments 2 to 2)"),
        "{text}"
    );
}

#[test]
fn a_damaged_journal_fails_with_the_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let path = segment_path(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.len() - 200;
    bytes[at] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    for command in ["ls", "cat"] {
        let out = tool(&[command, dir.path().to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("00000000000000000001.journal is corrupt at byte offset"),
            "{err}"
        );
    }
    let out = tool(&["ls", "/nonexistent-journal-dir"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot list"));
}

#[test]
fn diff_compares_two_runs_actor_by_actor() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(a.path());
    write(b.path());
    let (da, db) = (a.path().to_str().unwrap(), b.path().to_str().unwrap());
    let same = tool(&["diff", da, db]);
    assert_eq!(same.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&same.stdout).contains("21 events compared, no difference"));

    // A third run whose strategy answered differently once and did one thing more.
    let c = tempfile::tempdir().unwrap();
    let writer = JournalWriter::open(
        c.path(),
        JournalOptions::new(JournalSchema::none()).node("n1"),
    )
    .unwrap();
    let reader = mycelium_journal::JournalReader::open(a.path()).unwrap();
    for r in reader.records() {
        let r = r.unwrap();
        let payload: &[u8] = if r.seq == 3 { b"sell" } else { &r.payload };
        writer
            .append(&Entry {
                payload,
                ..r.as_entry()
            })
            .unwrap();
    }
    writer
        .append(&Entry::new(
            Kind::Stopped,
            30_000_000,
            ActorAddr { node: 0, id: 3 },
        ))
        .unwrap();
    writer.close().unwrap();
    let out = tool(&["diff", da, c.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("22 events compared, 2 differ"), "{text}");
    assert!(text.contains("actor #3 event 3:\n  - published Order on orders buy at 0.001000000s\n  + published Order on orders sell at 0.001000000s"), "{text}");
    assert!(
        text.contains("  - (none)\n  + stopped at 0.030000000s"),
        "{text}"
    );

    let csv = tool(&[
        "diff",
        da,
        c.path().to_str().unwrap(),
        "--csv",
        "--ignore-time",
    ]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("actor,node,index,left,right\n3,0,3,\"published Order on orders buy\",\"published Order on orders sell\"\n"), "{csv}");
}

/// With no replayer named, `replay` says what a replay would feed and compare, and that it
/// needs the actors' code (exit status 2).
#[test]
fn replay_without_a_replayer_checks_the_journal_and_says_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let out = tool(&["replay", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("#3 (type not recorded): 10 inputs to feed, 0 from its timers"),
        "{stdout}"
    );
    assert!(stdout.contains("10 outputs to compare"), "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("names no replaying program"), "{stderr}");
}

/// `replay` runs the replayer the journal names, with the journal's directory and the
/// remaining arguments, and exits with its status.
#[test]
fn replay_runs_the_named_replayer_with_the_journal_and_its_arguments() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let script = dir.path().join("replayer.sh");
    fs::write(&script, "echo \"replaying $1 $2\"\nexit 4\n").unwrap();
    mycelium_journal::set_replayer(
        dir.path(),
        &["sh".to_owned(), script.to_str().unwrap().to_owned()],
    )
    .unwrap();
    let journal = dir.path().to_str().unwrap();
    let out = tool(&["replay", journal, "--compare"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("replaying {journal} --compare\n")
    );
    assert!(out.stderr.is_empty(), "{:?}", out.stderr);
    // A journal its writer never closed (its index gone with the closing entry) is said to
    // be one before the replayer runs.
    let index = mycelium_journal::index_path(dir.path(), 1);
    let kept = fs::read(&index).unwrap();
    fs::remove_file(&index).unwrap();
    let out = tool(&["replay", journal]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("was not closed"), "{stderr}");
    assert!(
        stderr.contains("still writes): the replay ends at its last whole record"),
        "one sentence, no gaps: {stderr}"
    );
    fs::write(&index, kept).unwrap();
    // A replayer that cannot be started is named.
    mycelium_journal::set_replayer(dir.path(), &["/nonexistent/replayer".to_owned()]).unwrap();
    let out = tool(&["replay", journal]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cannot run the replayer \"/nonexistent/replayer\""),
        "{stderr}"
    );
}

/// Every command's output to a pipe already closed (`| head` that has read enough) ends
/// quietly, with the command's own status: never a panic.
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(a.path());
    write(b.path());
    let (da, db) = (a.path().to_str().unwrap(), b.path().to_str().unwrap());
    for (args, status) in [
        (vec!["ls", da], 0),
        (vec!["cat", da], 0),
        (vec!["diff", da, db], 0),
        (vec!["diff", da, db, "--csv"], 0),
        (vec!["replay", da], 2),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_mycelium-journal"))
            .args(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A journal whose header carries its schema's text shows contract payloads by field, in the
/// schema's order; one that knows its schema by digest only shows their bytes.
#[test]
fn cat_decodes_contract_payloads_by_the_schema_in_the_header() {
    let schema = mycelium_codegen::model::parse_str(
        "lab.yaml",
        "package: lab\nversion: 1\nmessages:\n  Ping:\n    id: 500\n    topic: lab.ping\n    \
         fields:\n      - { name: seq, type: u64, tag: 1 }\n      - { name: at, type: string, tag: 2 }\n",
    )
    .unwrap();
    // Ping { seq: 7, at: "ab" } as the codec writes it.
    let mut body = Vec::new();
    body.extend_from_slice(&(1u16 << 3 | 3).to_le_bytes());
    body.extend_from_slice(&7u64.to_le_bytes());
    body.extend_from_slice(&(2u16 << 3 | 4).to_le_bytes());
    body.extend_from_slice(&2u32.to_le_bytes());
    body.extend_from_slice(b"ab");
    for (name, journal_schema, expected) in [
        (
            "whole",
            JournalSchema::from_schema(&schema),
            serde_json::json!({"seq": 7, "at": "ab"}),
        ),
        (
            "digest",
            JournalSchema::from_digest(JournalSchema::from_schema(&schema).digest),
            serde_json::json!({"hex": "0b0007000000000000001400020000006162"}),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let writer = JournalWriter::open(&path, JournalOptions::new(journal_schema)).unwrap();
        writer
            .append(&Entry {
                type_id: 500,
                name: "Ping",
                encoding: Encoding::Contract,
                payload: &body,
                ..Entry::new(Kind::Handled, 1, ActorAddr { node: 0, id: 1 })
            })
            .unwrap();
        writer.close().unwrap();
        let out = tool(&["cat", path.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(lines(&out)[0]["payload"], expected, "{name}");
        if name == "whole" {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains(r#""payload":{"seq":7,"at":"ab"}"#), "{text}");
            assert!(text.starts_with(r#"{"seq":0,"time_ns":"#), "{text}");
        }
    }
}
