//! `mycelium-codegen`: check a contracts.yaml, print its digest, generate code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mycelium_codegen::{digest, model};

const USAGE: &str = "\
usage: mycelium-codegen <command> FILE [-o DIR]

commands:
  check FILE            report every error in FILE (exit status 1 if any)
  digest FILE           print the schema digest as lowercase hex
  canonical FILE        print the schema's canonical text: what a node sends a peer whose
                        digest differs, for it to judge compatibility
  compat OLD NEW        decide whether peers holding OLD and NEW can talk (exit status 1
                        if not, naming the first incompatible message and field)
  rust FILE -o DIR      write the generated Rust module into DIR
  python FILE -o DIR    write the generated Python package into DIR
  ocaml FILE -o DIR     write the generated OCaml module and its dune library into DIR
  ocaml FILE -o X.ml    write only the OCaml module, as X.ml (for a dune rule)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            ExitCode::FAILURE
        }
    }
}

fn load(file: &Path) -> Result<model::Schema, String> {
    model::load(file).map_err(|diags| {
        for d in &diags {
            eprintln!("{d}");
        }
        if diags.len() > mycelium_codegen::check::MAX_ERRORS {
            format!(
                "{}: more than {} errors found",
                file.display(),
                mycelium_codegen::check::MAX_ERRORS
            )
        } else {
            format!(
                "{}: {} error{} found",
                file.display(),
                diags.len(),
                if diags.len() == 1 { "" } else { "s" }
            )
        }
    })
}

fn run(args: &[String]) -> Result<(), String> {
    // Asked for, the usage is the answer, not an error: stdout and exit status 0.
    if wants_help(args) {
        println!("{USAGE}");
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("compat") {
        return compat(&args[1..]);
    }
    let (cmd, file, out) = parse_args(args)?;
    let schema = load(&file)?;
    let files = match cmd.as_str() {
        "check" => {
            println!(
                "{}: ok ({} messages)",
                file.display(),
                schema.messages.len()
            );
            return Ok(());
        }
        "digest" => {
            println!("{}", digest::hex(&digest::digest(&schema)));
            return Ok(());
        }
        "canonical" => {
            print!("{}", digest::canonical(&schema));
            return Ok(());
        }
        "rust" => vec![(
            mycelium_codegen::rust::FILE_NAME.to_string(),
            mycelium_codegen::rust::generate(&schema),
        )],
        "python" => {
            mycelium_codegen::python::generate_from(&schema, Some(&file.display().to_string()))?
        }
        "ocaml" => {
            let source = file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let files = mycelium_codegen::ocaml::generate_from(&schema, &source)?;
            if let Some(target) = out
                .as_deref()
                .filter(|o| o.extension().is_some_and(|e| e == "ml"))
            {
                // One module file, as a dune rule's single target: no dune file beside it.
                return write_module(target, &files[0].1);
            }
            files
        }
        other => return Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    let dir = out.ok_or_else(|| format!("`{cmd}` needs `-o DIR`\n{USAGE}"))?;
    write_files(&dir, &files)
}

fn compat(args: &[String]) -> Result<(), String> {
    for a in args {
        unknown_option(a)?;
    }
    let [old, new] = args else {
        return Err(USAGE.to_string());
    };
    let old_schema = load(Path::new(old))?;
    let new_schema = load(Path::new(new))?;
    match mycelium_codegen::compat::check(&old_schema, &new_schema) {
        Ok(report) => {
            println!("{report}");
            Ok(())
        }
        Err(e) => Err(format!("incompatible: {e}")),
    }
}

fn is_help(arg: &str) -> bool {
    arg == "-h" || arg == "--help"
}

/// Whether `-h` or `--help` stands anywhere as a flag (not as the directory after `-o`).
fn wants_help(args: &[String]) -> bool {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" | "--out" => {
                it.next();
            }
            a if is_help(a) => return true,
            _ => {}
        }
    }
    false
}

/// Refuses an argument that looks like an option but is none (a file named so can be
/// written `./-name`).
fn unknown_option(arg: &str) -> Result<(), String> {
    if arg.len() > 1 && arg.starts_with('-') {
        return Err(format!("unknown option `{arg}`\n{USAGE}"));
    }
    Ok(())
}

fn parse_args(args: &[String]) -> Result<(String, PathBuf, Option<PathBuf>), String> {
    let mut positional = Vec::new();
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" | "--out" => {
                let dir = it
                    .next()
                    .ok_or_else(|| format!("`{a}` needs a directory\n{USAGE}"))?;
                out = Some(PathBuf::from(dir));
            }
            _ => {
                unknown_option(a)?;
                positional.push(a.clone());
            }
        }
    }
    match positional.as_slice() {
        [cmd, file] => Ok((cmd.clone(), PathBuf::from(file), out)),
        _ => Err(USAGE.to_string()),
    }
}

fn write_module(path: &Path, contents: &str) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn write_files(dir: &Path, files: &[(String, String)]) -> Result<(), String> {
    for (name, contents) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
