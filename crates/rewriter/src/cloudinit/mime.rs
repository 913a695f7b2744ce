//! MIME multipart user-data, byte for byte what `cloud-init devel make-mime` prints.
//!
//! make-mime (`cloudinit/cmd/devel/make_mime.py`) reads each file in text mode, wraps it in
//! `MIMEText(content, subtype, "utf-8")`, attaches the parts to a `MIMEMultipart()` and
//! `print()`s it, so its output is Python's `email` generator (compat32 policy, no header
//! folding) plus the newline `print` adds:
//!
//! ```text
//! Content-Type: multipart/mixed; boundary="===============<19 digits>=="
//! MIME-Version: 1.0
//!
//! --<boundary>
//! Content-Type: text/cloud-config; charset="utf-8"
//! MIME-Version: 1.0
//! Content-Transfer-Encoding: base64
//! Content-Disposition: attachment; filename="01-a.yaml"
//!
//! <base64, 76 characters a line, every line ending in "\n">
//!
//! --<boundary>
//! ...
//!
//! --<boundary>--
//!
//! ```
//!
//! Where a naive writer differs (all reproduced here, and checked against the real command in
//! the tests):
//! - every part is base64 even when it is pure ASCII (the charset is forced to utf-8), in lines
//!   of 76 characters (57 input bytes), each ending in `\n`, the last one too; an empty part has
//!   no base64 line at all;
//! - each part repeats `MIME-Version: 1.0`, after `Content-Type` and before
//!   `Content-Transfer-Encoding`; `Content-Disposition` comes last;
//! - the delimiter before every part but the first is preceded by an empty line (the `\n` that
//!   ends the last base64 line, then the `\n` that starts the delimiter); no preamble, no
//!   epilogue, and the text ends with `--<boundary>--\n\n` (the generator's newline plus
//!   `print`'s);
//! - lines end in `\n`, never `\r\n`; and make-mime opens files in universal-newline text mode,
//!   so `\r\n` and lone `\r` in a file become `\n` before encoding (done here too);
//! - headers are never folded, however long the file name;
//! - make-mime writes the file name exactly as given on its command line (a path given with
//!   directories keeps them), unquoted inside `"..."`; a non-ASCII name makes Python encode the
//!   whole header value as an RFC 2047 word that cloud-init cannot read. [`check_filename`]
//!   refuses such names instead.
//!
//! Content must be UTF-8 text for make-mime (it fails otherwise); here any bytes are encoded,
//! and [`crate::plugin::validate`] checks plugin parts are UTF-8.

use base64::Engine;
use std::hash::{BuildHasher, Hasher};

/// One part of the user-data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The name cloud-init sees (`Content-Disposition` filename): scripts are written to
    /// `/var/lib/cloud/instance/scripts/<filename>` and run in the order of these names.
    pub filename: String,
    /// The MIME type, e.g. `text/cloud-config` or `text/x-shellscript`.
    pub content_type: String,
    /// The file's content (UTF-8 text).
    pub content: Vec<u8>,
}

/// Python's `email.generator._make_boundary`: 15 `=`, `randrange(sys.maxsize)` as 19 digits,
/// zero-padded, then `==`.
pub fn random_boundary() -> String {
    // RandomState is seeded from the OS's random source for each new instance.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    let token = h.finish() % (i64::MAX as u64); // randrange(sys.maxsize): 0 ..= 2^63 - 2
    format!("==============={token:019}==")
}

/// Whether `boundary` is a valid RFC 2046 boundary: 1 to 70 characters from `bchars`, not ending
/// in a space. Since every part is base64 (whose lines never start with `--`), any valid
/// boundary is safe: it cannot occur in the text.
pub fn check_boundary(boundary: &str) -> Result<(), String> {
    const SPECIALS: &str = "'()+_,-./:=? ";
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(format!("MIME boundary {boundary:?} must be 1 to 70 characters long"));
    }
    if let Some(c) = boundary.chars().find(|c| !(c.is_ascii_alphanumeric() || SPECIALS.contains(*c))) {
        return Err(format!("MIME boundary {boundary:?} contains {c:?}, not allowed by RFC 2046"));
    }
    if boundary.ends_with(' ') {
        return Err(format!("MIME boundary {boundary:?} must not end with a space"));
    }
    Ok(())
}

/// Whether `name` can be a part's file name with the same meaning in make-mime's output and in
/// cloud-init: printable ASCII without `"`, `\` or `/`, not empty. (make-mime would write a `"`
/// unescaped and encode non-ASCII names into an RFC 2047 word cloud-init does not decode.)
pub fn check_filename(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a user-data part needs a file name".into());
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic() && *c != ' ' || matches!(c, '"' | '\\' | '/')) {
        return Err(format!(
            "user-data part name {name:?} contains {c:?}: use printable ASCII without '\"', '\\' and '/' \
             (rename the file)"
        ));
    }
    Ok(())
}

/// `content` as make-mime reads it: universal newlines (`\r\n` and `\r` become `\n`).
fn universal_newlines(content: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !content.contains(&b'\r') {
        return content.into();
    }
    let mut out = Vec::with_capacity(content.len());
    let mut i = 0;
    while i < content.len() {
        if content[i] == b'\r' {
            out.push(b'\n');
            if content.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
        } else {
            out.push(content[i]);
        }
        i += 1;
    }
    out.into()
}

/// The multipart user-data holding `parts` in order, separated by `boundary` (use
/// [`random_boundary`]), identical to `cloud-init devel make-mime -a NAME:TYPE ...` run in the
/// folder holding the files (so that the names carry no directory) once its random boundary is
/// replaced by `boundary`.
///
/// # Panics
/// If `boundary` fails [`check_boundary`] or a part's file name fails [`check_filename`] or its
/// content type is not `type/subtype` in printable ASCII: these are caller bugs (plugin
/// validation refuses such names first).
pub fn multipart(parts: &[Part], boundary: &str) -> Vec<u8> {
    if let Err(e) = check_boundary(boundary) {
        panic!("{e}");
    }
    let mut out = Vec::new();
    out.extend_from_slice(
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\n\n").as_bytes(),
    );
    out.extend_from_slice(format!("--{boundary}\n").as_bytes());
    for (i, part) in parts.iter().enumerate() {
        if let Err(e) = check_filename(&part.filename) {
            panic!("{e}");
        }
        let ct = &part.content_type;
        assert!(
            ct.split_once('/').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
                && ct.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '"' | ';')),
            "content type {ct:?} of user-data part {:?} is not type/subtype",
            part.filename
        );
        if i > 0 {
            out.extend_from_slice(format!("\n--{boundary}\n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "Content-Type: {ct}; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\
                 Content-Disposition: attachment; filename=\"{}\"\n\n",
                part.filename
            )
            .as_bytes(),
        );
        let content = universal_newlines(&part.content);
        // email.base64mime.body_encode: 57 bytes (76 characters) a line, each line ends in "\n".
        for chunk in content.chunks(57) {
            out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(chunk).as_bytes());
            out.push(b'\n');
        }
    }
    out.extend_from_slice(format!("\n--{boundary}--\n\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sample_parts() -> Vec<Part> {
        let long = "x".repeat(300);
        vec![
            Part {
                filename: "01-config.yaml".into(),
                content_type: "text/cloud-config".into(),
                content: format!(
                    "#cloud-config\nmerge_how:\n  - name: list\n    settings: [append]\n  - name: dict\n    \
                     settings: [no_replace, recurse_list]\nruncmd:\n  - echo 'héllo wörld ✓ 日本語 {long}'\n"
                )
                .into_bytes(),
            },
            Part {
                filename: "02-first.sh".into(),
                content_type: "text/x-shellscript".into(),
                content: format!("#!/bin/sh\nset -eu\necho \"ünïcödé\"\n# {long}\n").into_bytes(),
            },
            Part {
                filename: "03-second.sh".into(),
                content_type: "text/x-shellscript".into(),
                // exactly 57 bytes: one full base64 line, and CRLF/CR line ends
                content: b"#!/bin/bash\r\necho windows line ends\recho old mac\n#12345".to_vec(),
            },
            Part { filename: "04-empty.sh".into(), content_type: "text/x-shellscript".into(), content: Vec::new() },
        ]
    }

    /// Runs `cloud-init devel make-mime` on `parts` written to files in a temporary folder.
    fn make_mime(parts: &[Part]) -> Vec<u8> {
        let d = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("cloud-init");
        cmd.current_dir(d.path()).args(["devel", "make-mime"]);
        for p in parts {
            std::fs::write(d.path().join(&p.filename), &p.content).unwrap();
            cmd.arg("-a").arg(format!("{}:{}", p.filename, p.content_type.trim_start_matches("text/")));
        }
        cmd.env("LC_ALL", "C.UTF-8");
        let out = cmd.output().unwrap_or_else(|e| {
            panic!(
                "cannot run `cloud-init devel make-mime` ({e}): install the Debian package cloud-init \
                 (apt-get install --no-install-recommends cloud-init)"
            )
        });
        assert!(
            out.status.success(),
            "cloud-init devel make-mime failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The boundary of a multipart message, from its first line.
    fn boundary_of(msg: &[u8]) -> String {
        let first = msg.split(|b| *b == b'\n').next().unwrap();
        let first = std::str::from_utf8(first).unwrap();
        let b = first.split("boundary=\"").nth(1).unwrap_or_else(|| panic!("no boundary in {first:?}"));
        b.trim_end_matches('"').to_string()
    }

    fn show(b: &[u8]) -> String {
        String::from_utf8_lossy(b).replace('\n', "⏎\n")
    }

    #[test]
    fn identical_to_cloud_init_make_mime() {
        for parts in [sample_parts(), sample_parts()[..1].to_vec(), Vec::new()] {
            let reference = make_mime(&parts);
            let boundary = boundary_of(&reference);
            let ours = multipart(&parts, &boundary);
            assert!(ours == reference, "ours:\n{}\nmake-mime:\n{}", show(&ours), show(&reference));
        }
    }

    #[test]
    fn random_boundary_has_pythons_format() {
        let b = random_boundary();
        assert_eq!(b.len(), 15 + 19 + 2, "{b}");
        assert!(b.starts_with("===============") && b.ends_with("=="), "{b}");
        assert!(b[15..34].bytes().all(|c| c.is_ascii_digit()), "{b}");
        assert_ne!(random_boundary(), random_boundary());
        check_boundary(&b).unwrap();
    }

    /// Python's own MIME parser reads back the same parts (names, types, content after
    /// universal-newline translation).
    #[test]
    fn python_email_parser_reads_back_the_parts() {
        let parts = sample_parts();
        let msg = multipart(&parts, &random_boundary());
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("user-data");
        std::fs::write(&file, &msg).unwrap();
        let script = r#"
import email, json, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
assert m.is_multipart() and m.get_content_type() == "multipart/mixed"
print(json.dumps([[p.get_filename(), p.get_content_type(), p.get_content_charset(),
                   list(p.get_payload(decode=True))] for p in m.get_payload()]))
"#;
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}): install the Debian package python3"));
        assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
        let got: Vec<(String, String, String, Vec<u8>)> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got.len(), parts.len());
        for (p, (name, ct, charset, content)) in parts.iter().zip(got) {
            assert_eq!(name, p.filename);
            assert_eq!(ct, p.content_type);
            assert_eq!(charset, "utf-8");
            assert_eq!(content, &*universal_newlines(&p.content), "{}", p.filename);
        }
    }

    #[test]
    fn base64_lines_are_76_characters() {
        let p =
            Part { filename: "01-a.sh".into(), content_type: "text/x-shellscript".into(), content: vec![b'a'; 200] };
        let text = String::from_utf8(multipart(&[p], "b")).unwrap();
        let body: Vec<&str> = text.split("\n\n").nth(2).unwrap().lines().collect();
        assert_eq!(body.iter().map(|l| l.len()).collect::<Vec<_>>(), [76, 76, 76, 40]);
    }

    #[test]
    fn universal_newlines_like_python() {
        assert_eq!(&*universal_newlines(b"a\r\nb\rc\n\r\r\nd\r"), b"a\nb\nc\n\n\nd\n");
        assert_eq!(&*universal_newlines(b"plain\n"), b"plain\n");
    }

    #[test]
    fn names_and_boundaries_are_checked() {
        check_filename("01-resize.yaml").unwrap();
        for bad in ["", "a\"b", "dir/x.sh", "é.sh", "a\nb", "a\\b"] {
            assert!(check_filename(bad).is_err(), "{bad:?}");
        }
        check_boundary("===============0123456789012345678==").unwrap();
        for bad in ["", "a b ", "a\"b", &"x".repeat(71)] {
            assert!(check_boundary(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    #[should_panic(expected = "contains")]
    fn bad_name_panics() {
        let p = Part { filename: "x\"y".into(), content_type: "text/x-shellscript".into(), content: vec![] };
        multipart(&[p], "b");
    }
}
