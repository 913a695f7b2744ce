//! Labelling in a boot (`run --ima-label boot`): the seed's method, for filesystems we cannot
//! write offline. The guest boots with `ima_appraise=fix` and the policy in place; a pass run
//! last by cloud-init opens every regular file once, so the kernel writes each label, then
//! sets the final mode for the next boot. See `label_pass.py`.

use super::AppraiseMode;

/// The pass's script name: cloud-init runs the scripts of a boot sorted by name, and `zz-`
/// sorts after every plugin script (two digits first) and after `runcmd` (where the base
/// user-data rebuilds the initrd and grub.cfg).
pub const SCRIPT_NAME: &str = "zz-cvm-ima-label-pass";

const SCRIPT: &str = include_str!("label_pass.py");
const TAG: &str = "cvm-image-rewriter label pass: opened ";

/// The pass as an x-shellscript body, switching the next boot to `final_mode`.
pub fn script(final_mode: AppraiseMode) -> String {
    SCRIPT.replace("@FINAL_MODE@", final_mode.kernel_name())
}

/// What the pass reported in the guest's cloud-init-output.log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PassReport {
    /// Regular files opened (the kernel labelled those its policy appraises).
    pub files_opened: u64,
    /// The pass's own summary line.
    pub summary: String,
}

/// Finds the pass's summary line in cloud-init-output.log; `None` if the pass never finished.
pub fn find_report(output_log: &str) -> Option<PassReport> {
    let line = output_log.lines().rev().find(|l| l.starts_with(TAG))?;
    let files_opened = line[TAG.len()..].split_whitespace().next()?.parse().ok()?;
    Some(PassReport { files_opened, summary: line.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_gets_the_final_mode_and_reports_what_it_opened() {
        let s = script(AppraiseMode::Enforce);
        assert!(s.starts_with("#!/usr/bin/python3\n"));
        assert!(s.contains("FINAL_MODE = \"enforce\"") && !s.contains("@FINAL_MODE@"));
        let log = "Cloud-init v. 22.4.2\nsomething\ncvm-image-rewriter label pass: opened 15123 files on / (ext4); next boot: ima_appraise=enforce (set in /etc/default/grub)\nCloud-init v. 22.4.2 finished\n";
        let r = find_report(log).unwrap();
        assert_eq!(r.files_opened, 15123);
        assert!(r.summary.contains("/ (ext4)"));
        assert_eq!(find_report("cvm-image-rewriter label pass: error: no\n"), None);
    }

    /// The script is valid Python (python3 comes with cloud-init) and refuses to run on a
    /// kernel that was not booted in fix mode: this host's.
    #[test]
    fn the_script_compiles_and_refuses_without_fix_mode() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join(SCRIPT_NAME);
        std::fs::write(&f, script(AppraiseMode::Enforce)).unwrap();
        let c = std::process::Command::new("python3").args(["-m", "py_compile"]).arg(&f).output().expect("python3");
        assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
        let host_cmdline = std::fs::read_to_string("/proc/cmdline").unwrap();
        assert!(!host_cmdline.contains("ima_appraise=fix"), "this test needs a host not in fix mode");
        let r = std::process::Command::new("python3").arg(&f).output().unwrap();
        assert_eq!(r.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&r.stderr).contains("not booted with ima_appraise=fix"));
    }
}
