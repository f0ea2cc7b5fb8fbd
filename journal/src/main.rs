//! `mycelium-journal`: lists and prints a journal.
//!
//! ```text
//! mycelium-journal ls DIR
//! mycelium-journal cat DIR [--actor N[@NODE]] [--kind KIND[,KIND...]] [--type NAME[,NAME...]]
//!                          [--from TIME] [--to TIME]
//! mycelium-journal diff DIR DIR [--ignore-time] [--csv]
//! mycelium-journal replay DIR [ARGS...]
//! ```
//!
//! `ls` prints the journal's node, schema, segments and counts, and the cut a crash left if
//! any. `cat` prints records as JSON lines, one object per record, filtered by actor, kind,
//! message type name and bus time range (`--from` inclusive, `--to` exclusive; a time is
//! nanoseconds or a number with `ns`, `us`, `ms` or `s`). A damaged journal ends the output
//! with an error on stderr naming the segment and byte offset, and exit status 1.
//!
//! `diff` compares two journals of the same actors (two runs, or a run and its replay) actor by
//! actor, record by record (kind, type, topic, payload, bus time unless `--ignore-time`), and
//! prints each difference (or, with `--csv`, CSV); exit status 0 when they agree, 3 when they
//! differ, 1 on an error.
//!
//! `replay` runs the command the recording program named beside its journal
//! (`replayer.json`, [`mycelium_journal::set_replayer`]) with the journal's directory and
//! `ARGS` appended, and exits with its status: the tool cannot link a team's actors, so their
//! own program replays them. A journal that names none is checked instead: each recorded
//! actor's inputs, what a replay would feed and what it would regenerate, and what would stop
//! a replay (an input recorded without its payload, a gap); then exit status 2.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use mycelium_codegen::model::Schema;
use mycelium_journal::contract_json::hex;
use mycelium_journal::{
    ActorAddr, Encoding, JournalError, JournalReader, Kind, Origin, Record, RunStart,
};
use serde_json::{json, Value};

const USAGE: &str = "\
usage: mycelium-journal ls DIR
       mycelium-journal cat DIR [--actor N[@NODE]] [--kind KIND[,KIND...]] [--type NAME[,NAME...]]
                                [--from TIME] [--to TIME]
       mycelium-journal diff DIR DIR [--ignore-time] [--csv]
       mycelium-journal replay DIR [ARGS...]

kinds: handled sent published replied answered refused timer-fired clock-read seeded
       started failed restarted stopped gap cut resumed
times: nanoseconds of bus time, or a number with ns, us, ms or s (1.5s, 250ms)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ls") => args.get(1).ok_or_else(usage).and_then(|dir| {
            if args.len() > 2 {
                return Err(format!("ls takes one directory\n\n{USAGE}"));
            }
            ls(dir)
        }),
        Some("cat") => args
            .get(1)
            .ok_or_else(usage)
            .and_then(|dir| Filter::parse(&args[2..]).and_then(|f| cat(dir, &f))),
        Some("diff") => match diff(&args[1..]) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::from(3),
            Err(e) => Err(e),
        },
        Some("replay") => match args.get(1) {
            None => Err(usage()),
            Some(dir) => match replay(dir, &args[2..]) {
                Ok(code) => return code,
                Err(e) => Err(e),
            },
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}")),
        None => Err(usage()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mycelium-journal: {message}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    USAGE.to_owned()
}

fn open(dir: &str) -> Result<JournalReader, String> {
    JournalReader::open(dir).map_err(|e| e.to_string())
}

fn damaged(e: JournalError, shown: u64) -> String {
    format!("{e}\n(the {shown} records before it are whole; nothing after it was read)")
}

fn ls(dir: &str) -> Result<(), String> {
    let journal = open(dir)?;
    let header = journal.header();
    let mut out = String::new();
    out.push_str(&format!("journal  {}\n", journal.dir().display()));
    out.push_str(&format!("node     {:?}\n", header.node));
    out.push_str(&format!(
        "schema   {} ({})\n",
        header.schema.digest_hex(),
        match header.schema.schema() {
            None => "known by its digest only".to_owned(),
            Some(Ok(s)) => format!(
                "canonical text in the header: {} messages",
                s.messages.len()
            ),
            Some(Err(e)) => format!("its canonical text does not check: {e}"),
        }
    ));
    out.push_str("segments\n  number  first record  bytes\n");
    for s in journal.segments() {
        match &s.header {
            Some(h) => out.push_str(&format!(
                "  {:>6}  {:>12}  {}\n",
                s.number, h.first_seq, s.file_len
            )),
            None => out.push_str(&format!(
                "  {:>6}  {:>12}  {} (cut inside its header)\n",
                s.number, "-", s.file_len
            )),
        }
    }
    let mut kinds: BTreeMap<Kind, u64> = BTreeMap::new();
    let mut actors: BTreeMap<ActorAddr, u64> = BTreeMap::new();
    let mut gaps = Vec::new();
    let mut cuts = Vec::new();
    let mut resumed = Vec::new();
    let mut first_last: Option<(u64, u64)> = None;
    let mut time_range: Option<(u64, u64)> = None;
    let mut count = 0u64;
    let mut records = journal.records();
    let mut error = None;
    while let Some(r) = records.next_ref() {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        count += 1;
        *kinds.entry(r.kind).or_default() += 1;
        match r.kind {
            Kind::Gap => gaps.extend(r.gap()),
            Kind::Cut => cuts.extend(r.cut()),
            Kind::Resumed => resumed.push(r.seq),
            _ => {
                *actors.entry(r.actor).or_default() += 1;
                time_range = Some(match time_range {
                    None => (r.time_ns, r.time_ns),
                    Some((lo, hi)) => (lo.min(r.time_ns), hi.max(r.time_ns)),
                });
            }
        }
        first_last = Some((first_last.map_or(r.seq, |f| f.0), r.seq));
    }
    out.push_str(&format!("records  {count}"));
    if let Some((first, last)) = first_last {
        out.push_str(&format!(" (numbers {first} to {last})"));
    }
    out.push('\n');
    if let Some((lo, hi)) = time_range {
        out.push_str(&format!(
            "bus time {} to {}\n",
            show_time(lo),
            show_time(hi)
        ));
    }
    for (kind, n) in &kinds {
        out.push_str(&format!("  {:<12} {n}\n", kind.name()));
    }
    if !actors.is_empty() {
        out.push_str("actors\n");
        for (actor, n) in &actors {
            out.push_str(&format!("  {:<12} {n}\n", actor.to_string()));
        }
    }
    if let Some(first) = journal.deleted_before() {
        out.push_str(&format!(
            "deleted  the records before number {first} (by the journal's retention limit, or \
             by hand): an actor started before them cannot be replayed\n"
        ));
    }
    for gap in &gaps {
        out.push_str(&format!("gap      {gap}\n"));
    }
    for seq in &resumed {
        out.push_str(&format!(
            "resumed  record {seq}: the writer opened the journal again after closing it; a \
             new run begins (a replay covers the run before it)\n"
        ));
    }
    // Read already without an error when it is listed (it reads each segment's first record).
    let runs = match error {
        None => journal.runs().unwrap_or_default(),
        Some(_) => Vec::new(),
    };
    if runs.len() > 1 {
        out.push_str(&format!(
            "runs     {}: a replay of the journal covers run 0; JournalReader::run(N) in Rust, \
             run=N in Python, replays run N\n",
            runs.len()
        ));
        for run in &runs {
            let how = match run.start {
                RunStart::First => "the first",
                RunStart::Resumed => "resumed",
                RunStart::AfterCrash => "after a crash",
            };
            out.push_str(&format!(
                "  run {:<4} {how}, from record {} (segments {} to {})\n",
                run.index, run.first_seq, run.segments.0, run.segments.1
            ));
        }
    }
    for cut in &cuts {
        let how = if cut.bytes == 0 {
            "found when the journal was opened again"
        } else {
            "truncated when the journal was opened again"
        };
        out.push_str(&format!("cut      {cut} ({how})\n"));
    }
    if let Some(cut) = records.cut() {
        out.push_str(&format!(
            "cut      {cut} (its last whole record is the last above)\n"
        ));
    } else if error.is_none() && !journal.closed() {
        out.push_str(
            "open     the journal was not closed: its writer was killed (or still writes), and \
             what its last input made may be missing\n",
        );
    }
    emit(&out)?;
    match error {
        Some(e) => Err(damaged(e, count)),
        None => Ok(()),
    }
}

fn show_time(ns: u64) -> String {
    format!("{}.{:09}s", ns / 1_000_000_000, ns % 1_000_000_000)
}

/// What `cat` prints.
#[derive(Default)]
struct Filter {
    actor: Option<ActorAddr>,
    /// The node name `--actor N@NAME` gave, resolved against the journal's own node.
    actor_node_name: Option<String>,
    kinds: Option<Vec<Kind>>,
    types: Option<Vec<String>>,
    from: Option<u64>,
    to: Option<u64>,
}

impl Filter {
    fn parse(args: &[String]) -> Result<Filter, String> {
        let mut f = Filter::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
            };
            match flag.as_str() {
                "--actor" => {
                    let (actor, name) = parse_actor(value()?)?;
                    f.actor = Some(actor);
                    f.actor_node_name = name;
                }
                "--kind" => {
                    let kinds = value()?
                        .split(',')
                        .map(|k| {
                            Kind::from_name(k)
                                .ok_or_else(|| format!("unknown kind {k:?}\n\n{USAGE}"))
                        })
                        .collect::<Result<_, _>>()?;
                    f.kinds = Some(kinds);
                }
                "--type" => f.types = Some(value()?.split(',').map(str::to_owned).collect()),
                "--from" => f.from = Some(parse_time(value()?)?),
                "--to" => f.to = Some(parse_time(value()?)?),
                other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
            }
        }
        Ok(f)
    }

    fn accepts(&self, r: &Record) -> bool {
        self.actor.is_none_or(|a| r.actor == a)
            && self.kinds.as_ref().is_none_or(|k| k.contains(&r.kind))
            && self.types.as_ref().is_none_or(|t| t.contains(&r.name))
            && self.from.is_none_or(|from| r.time_ns >= from)
            && self.to.is_none_or(|to| r.time_ns < to)
    }
}

/// An actor's address: its number, and its node's number, or the node's name (resolved once
/// the journal is open: the journal's own node is node 0).
fn parse_actor(text: &str) -> Result<(ActorAddr, Option<String>), String> {
    let bad = || {
        format!(
            "--actor takes an actor number, optionally @NODE (7, #7, 7@2, 7@gateway), not {text:?}"
        )
    };
    let text = text.strip_prefix('#').unwrap_or(text);
    let (id, node) = match text.split_once('@') {
        Some((id, node)) => (id, node.strip_prefix("node").unwrap_or(node)),
        None => (text, "0"),
    };
    let id = id.parse().map_err(|_| bad())?;
    Ok(match node.parse() {
        Ok(node) => (ActorAddr { node, id }, None),
        Err(_) if !node.is_empty() => (
            ActorAddr { node: 0, id },
            Some(text.split_once('@').map_or(node, |(_, n)| n).to_owned()),
        ),
        Err(_) => return Err(bad()),
    })
}

fn parse_time(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a time (nanoseconds, or a number with ns, us, ms or s)");
    let (number, scale) = if let Some(n) = text.strip_suffix("ns") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("us") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e9)
    } else {
        return text.parse().map_err(|_| bad());
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 || value * scale > u64::MAX as f64 {
        return Err(bad());
    }
    Ok((value * scale).round() as u64)
}

/// What writing to standard output came to: a closed pipe (`| head`) ends the output
/// quietly; another error is the command's.
fn written(result: io::Result<()>) -> Result<(), String> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
    }
}

/// Writes `text` to standard output, as [`written`] says.
fn emit(text: &str) -> Result<(), String> {
    let mut out = io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

fn cat(dir: &str, filter: &Filter) -> Result<(), String> {
    let journal = open(dir)?;
    if let Some(name) = &filter.actor_node_name {
        let own = &journal.header().node;
        if name != own {
            return Err(format!(
                "--actor names node {name:?}, but this journal was recorded by node {own:?}: \
                 its own actors are @0 (or @{own}), other nodes' by the numbers its records give \
                 them (ls lists them)"
            ));
        }
    }
    // Contract payloads are shown decoded where the journal carries its schema's text.
    let schema = journal.header().schema.schema().and_then(Result::ok);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let records = match filter.from {
        Some(from) => journal.records_from(from),
        None => journal.records(),
    };
    let mut records = records;
    for (read, r) in records.by_ref().enumerate() {
        let r = r.map_err(|e| damaged(e, read as u64))?;
        if !filter.accepts(&r) {
            continue;
        }
        let line =
            serde_json::to_string(&to_json(&r, schema.as_ref())).map_err(|e| e.to_string())?;
        if let Err(e) = writeln!(out, "{line}") {
            return written(Err(e));
        }
    }
    written(out.flush())?;
    if let Some(cut) = records.cut() {
        eprintln!("mycelium-journal: {cut} (the output ends at the last whole record)");
    }
    Ok(())
}

fn to_json(r: &Record, schema: Option<&Schema>) -> Value {
    let origin = match r.origin {
        Origin::None => Value::Null,
        Origin::Actor(a) => json!({"actor": a.id, "node": a.node}),
        Origin::Remote { node } => json!({"remote": node}),
        Origin::Timer { id } => json!({"timer": id}),
        Origin::Outside => json!("outside"),
        Origin::Foreign { language } => json!({"foreign": language}),
        Origin::Journal => json!("journal"),
    };
    let mut v = json!({
        "seq": r.seq,
        "time_ns": r.time_ns,
        "kind": r.kind.name(),
        "actor": r.actor.id,
        "node": r.actor.node,
        "origin": origin,
        "cause": r.cause,
        "asked": r.asked,
        "type_id": r.type_id,
        "type": r.name,
        "topic": r.topic,
        "encoding": r.encoding.name(),
    });
    let payload = match r.encoding {
        Encoding::Empty => None,
        Encoding::Json => Some(
            std::str::from_utf8(&r.payload)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .unwrap_or_else(|| json!({"hex": hex(&r.payload)})),
        ),
        Encoding::Text => Some(json!(String::from_utf8_lossy(&r.payload))),
        Encoding::U64 => Some(
            r.payload_u64()
                .map_or_else(|| json!({"hex": hex(&r.payload)}), |n| json!(n)),
        ),
        Encoding::Journal => r
            .gap()
            .map(|g| json!({"source": g.source, "first": g.first, "count": g.count}))
            .or_else(|| {
                r.cut()
                    .map(|c| json!({"segment": c.segment, "offset": c.offset, "bytes": c.bytes}))
            })
            .or_else(|| {
                r.seeded()
                    .map(|(seed, stream)| json!({"seed": seed, "stream": stream}))
            })
            .or_else(|| {
                r.timer_schedule()
                    .map(|(due, every)| json!({"due": due, "every": every}))
            }),
        Encoding::Contract => Some(
            schema
                .and_then(|s| mycelium_journal::contract_json::to_json(s, r.type_id, &r.payload))
                .unwrap_or_else(|| json!({"hex": hex(&r.payload)})),
        ),
        Encoding::Raw => Some(json!({"hex": hex(&r.payload)})),
    };
    if let Some(p) = payload {
        v["payload"] = p;
    }
    v
}

/// `Ok(true)` when the journals agree.
fn diff(args: &[String]) -> Result<bool, String> {
    let mut dirs = Vec::new();
    let (mut with_time, mut as_csv) = (true, false);
    for a in args {
        match a.as_str() {
            "--ignore-time" => with_time = false,
            "--csv" => as_csv = true,
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag:?}\n\n{USAGE}"))
            }
            dir => dirs.push(dir),
        }
    }
    let [left, right] = dirs[..] else {
        return Err(format!("diff takes two journal directories\n\n{USAGE}"));
    };
    let (left, right) = (open(left)?, open(right)?);
    for journal in [&left, &right] {
        if !journal.closed() {
            eprintln!(
                "mycelium-journal: {} was not closed (its writer was killed, or still writes): \
                 its last records may stop inside what one input made",
                journal.dir().display()
            );
        }
    }
    let d = mycelium_journal::diff(&left, &right, with_time).map_err(|e| e.to_string())?;
    if as_csv {
        emit(&d.to_csv())?;
    } else {
        emit(&format!("{d}\n"))?;
    }
    Ok(d.differences.is_empty())
}

/// `replay`: runs the journal's replayer, or checks what a replay would do.
fn replay(dir: &str, rest: &[String]) -> Result<ExitCode, String> {
    let Some(command) = mycelium_journal::replayer(dir).map_err(|e| e.to_string())? else {
        replay_plan(dir)?;
        eprintln!(
            "mycelium-journal: {dir} names no replaying program ({}): a replay runs the \
             recorded actors' code, which this tool does not have. A Rust program names its \
             replayer with mycelium_journal::set_replayer; actors recorded from Python replay \
             with mycelium.journal.replay(path, ActorClass, args) (or journal.ReplaySet)",
            mycelium_journal::REPLAYER_FILE
        );
        return Ok(ExitCode::from(2));
    };
    // Checked first, so that a damaged journal is reported the same way whatever replays it.
    if !open(dir)?.closed() {
        eprintln!(
            "mycelium-journal: {dir} was not closed (its writer was killed, or still writes): \
             the replay ends at its last whole record, and what each actor's last input made \
             may be cut short"
        );
    }
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .arg(dir)
        .args(rest)
        .status()
        .map_err(|e| {
            format!(
                "cannot run the replayer {:?} that {dir} names ({}): {e}; build the recording \
                 program again, or edit that file",
                command[0],
                mycelium_journal::REPLAYER_FILE
            )
        })?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            return Err(format!(
                "the replayer {:?} was ended by a signal ({status})",
                command[0]
            ))
        }
    })
}

/// What a replay of each recorded actor would feed, regenerate and compare, and what would
/// stop it.
fn replay_plan(dir: &str) -> Result<(), String> {
    #[derive(Default)]
    struct Plan {
        actor_type: String,
        fed: u64,
        timers: u64,
        readings: u64,
        answers: u64,
        refused: u64,
        outputs: u64,
        unrecorded: BTreeMap<String, u64>,
    }
    let journal = open(dir)?;
    let mut plans: BTreeMap<ActorAddr, Plan> = BTreeMap::new();
    let mut stops = Vec::new();
    let mut records = journal.records();
    for (shown, r) in (0u64..).zip(records.by_ref()) {
        let r = r.map_err(|e| damaged(e, shown))?;
        match r.kind {
            Kind::Gap => {
                if let Some(gap) = r.gap() {
                    stops.push(format!("a replay stops before record {}: {gap}", r.seq));
                }
                continue;
            }
            Kind::Cut => {
                if let Some(cut) = r.cut() {
                    stops.push(format!(
                        "a replay ends at record {} (what follows is another run): {cut}",
                        r.seq
                    ));
                }
                continue;
            }
            Kind::Resumed => {
                stops.push(format!(
                    "a replay ends at record {} (what follows is another run: the writer \
                     opened the journal again)",
                    r.seq
                ));
                continue;
            }
            _ => {}
        }
        let plan = plans.entry(r.actor).or_default();
        match r.kind {
            Kind::Started | Kind::Restarted if plan.actor_type.is_empty() => {
                plan.actor_type = r.name.clone();
            }
            Kind::Handled if matches!(r.origin, Origin::Timer { .. }) => plan.timers += 1,
            Kind::Handled if r.encoding == Encoding::Empty => {
                *plan.unrecorded.entry(r.name.clone()).or_default() += 1;
            }
            Kind::Handled => plan.fed += 1,
            Kind::ClockRead => plan.readings += 1,
            Kind::Answered => plan.answers += 1,
            Kind::Refused => plan.refused += 1,
            Kind::Sent | Kind::Published | Kind::Replied | Kind::Failed => plan.outputs += 1,
            _ => {}
        }
    }
    let mut out = format!(
        "journal {} (node {:?}): {} recorded actors (inputs to feed: replayed alone; replayed \
         together, the inputs from the set's other actors are regenerated instead)\n",
        journal.dir().display(),
        journal.header().node,
        plans.len()
    );
    for (actor, plan) in &plans {
        let name = if plan.actor_type.is_empty() {
            "(type not recorded)"
        } else {
            &plan.actor_type
        };
        out.push_str(&format!(
            "  {actor} {name}: {} inputs to feed, {} from its timers (regenerated), {} clock \
             readings (served), {} answers to its asks (served), {}{} outputs to compare\n",
            plan.fed,
            plan.timers,
            plan.readings,
            plan.answers,
            if plan.refused > 0 {
                format!("{} refusals of its tells (served), ", plan.refused)
            } else {
                String::new()
            },
            plan.outputs
        ));
        for (ty, n) in &plan.unrecorded {
            out.push_str(&format!(
                "    cannot be replayed: {n} inputs of type {ty} were recorded without their \
                 payload (no codec was chosen for {ty})\n"
            ));
        }
    }
    if let Some(cut) = records.cut() {
        stops.push(format!("the journal ends in a crash's cut: {cut}"));
    }
    for stop in stops {
        out.push_str(&format!("  {stop}\n"));
    }
    emit(&out)
}
