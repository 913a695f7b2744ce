//! Running the binary under test.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cvm-image-rewriter");

/// Generous per-run limit so a hang fails the test instead of stalling the suite.
const TIMEOUT: Duration = Duration::from_secs(300);

pub struct TestCommand {
    program: PathBuf,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
}

#[derive(Debug)]
pub struct RunOutput {
    pub cmdline: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl TestCommand {
    /// `cvm-image-rewriter` itself.
    pub fn new() -> TestCommand {
        TestCommand { program: PathBuf::from(BIN), args: vec![], cwd: None }
    }
    /// Any program (e.g. `unshare`), for wrapping the binary.
    pub fn program(p: impl Into<PathBuf>) -> TestCommand {
        TestCommand { program: p.into(), args: vec![], cwd: None }
    }
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, it: I) -> Self {
        for a in it {
            self.args.push(a.as_ref().to_owned());
        }
        self
    }
    pub fn cwd(mut self, d: &Path) -> Self {
        self.cwd = Some(d.to_path_buf());
        self
    }

    pub fn run(self) -> RunOutput {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        let cmdline = super::show(&cmd);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
        let mut out_pipe = child.stdout.take().unwrap();
        let mut err_pipe = child.stderr.take().unwrap();
        let t_out = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out_pipe.read_to_end(&mut s);
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err_pipe.read_to_end(&mut s);
            s
        });
        let start = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > TIMEOUT {
                let _ = child.kill(); // our own child, by its handle
                let _ = child.wait();
                panic!("{cmdline} did not finish within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
        RunOutput { cmdline, code: status.code(), stdout, stderr }
    }
}

impl RunOutput {
    fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.code, self.stdout, self.stderr
        )
    }

    pub fn assert_exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "expected exit code {code}\n{}", self.describe());
        self
    }

    /// Every word must appear in stderr (case-insensitive).
    pub fn assert_stderr_contains(&self, words: &[&str]) -> &Self {
        let low = self.stderr.to_lowercase();
        for w in words {
            assert!(low.contains(&w.to_lowercase()), "stderr should mention {w:?}\n{}", self.describe());
        }
        self
    }

    /// At least one of the words must appear in stderr (case-insensitive).
    pub fn assert_stderr_any(&self, words: &[&str]) -> &Self {
        let low = self.stderr.to_lowercase();
        assert!(
            words.iter().any(|w| low.contains(&w.to_lowercase())),
            "stderr should mention one of {words:?}\n{}",
            self.describe()
        );
        self
    }

    /// A tool error: exit 2 and stderr lines prefixed `cvm-image-rewriter: `.
    pub fn assert_error(&self) -> &Self {
        self.assert_exit(2);
        assert!(
            self.stderr.lines().any(|l| l.starts_with("cvm-image-rewriter: ")),
            "error message must be prefixed `cvm-image-rewriter: `\n{}",
            self.describe()
        );
        self
    }

    pub fn describe_pub(&self) -> String {
        self.describe()
    }
}
