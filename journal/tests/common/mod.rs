//! The harness of the tests that kill a recording child process: the test binary runs itself
//! as the child, which finds its journal directory in an environment variable.

use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// Kills the child if the test fails before it does.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts this test binary's test `test` as a child writing into `dir` (named by the
/// environment variable `dir_var`), and returns it with its standard output.
pub fn spawn_child(test: &str, dir_var: &str, dir: &Path) -> (Reap, ChildStdout) {
    let mut child = Reap(
        Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(dir_var, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    (child, stdout)
}
