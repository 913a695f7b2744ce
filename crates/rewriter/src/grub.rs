//! The kernel command line as GRUB builds it, edited as text: a plain command line, the
//! shell fragments `/etc/default/grub` and `/etc/default/grub.d/*.cfg` that `update-grub`
//! reads, and the generated `/boot/grub/grub.cfg` (so the image boots with the new
//! parameters without running `update-grub`). Every edit is idempotent: a managed parameter
//! ends up exactly once, and a second run changes nothing.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use thiserror::Error;

/// The variable whose last assignment `update-grub` uses for normal (non-recovery) entries.
const CMDLINE_DEFAULT: &str = "GRUB_CMDLINE_LINUX_DEFAULT";
/// The variable used for every entry, recovery ones included.
const CMDLINE_LINUX: &str = "GRUB_CMDLINE_LINUX";

/// Characters allowed in a managed value: nothing that the kernel, the shell (inside double
/// quotes) or the grub.cfg script parser would treat specially.
const VALUE_PUNCTUATION: &str = "_-.,:/+@%=";

/// Errors from the grub edits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GrubError {
    /// A parameter name in a [`CmdlineChange`] could not be matched or written safely.
    #[error(
        "kernel parameter name {key:?} cannot be managed: {reason}; \
         use a name made of letters, digits, `_`, `-` and `.`"
    )]
    InvalidKey {
        /// The offending name.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value in a [`CmdlineChange`] has a character that grub.cfg, the shell or the kernel
    /// would reinterpret.
    #[error(
        "value {value:?} of kernel parameter {key} contains {bad:?}, which the kernel, the \
         shell or grub.cfg would reinterpret; use only letters, digits and `{VALUE_PUNCTUATION}`"
    )]
    InvalidValue {
        /// The parameter name.
        key: String,
        /// The offending value.
        value: String,
        /// The first character that is not allowed.
        bad: char,
    },
    /// A [`CmdlineChange`] names a parameter twice, so the result would be ambiguous.
    #[error(
        "kernel parameter {key} appears more than once in the requested change (in `set` \
         twice, or in both `set` and `remove`); list each parameter once"
    )]
    DuplicateKey {
        /// The repeated name.
        key: String,
    },
    /// A quoted value does not end on its line.
    #[error(
        "{}line {line}: the value of {var} opens a {quote} quote that does not close on \
         that line; multi-line values are not supported: join the value onto one line and retry",
        location(.path)
    )]
    UnterminatedQuote {
        /// The file, if known.
        path: Option<String>,
        /// 1-based line number of the assignment.
        line: usize,
        /// The variable assigned.
        var: String,
        /// `double` or `single`.
        quote: &'static str,
    },
    /// A value uses shell syntax that cannot be edited without running a shell.
    #[error(
        "{}line {line}: cannot safely edit the value of {var}: {reason}; rewrite it as one \
         double-quoted string, e.g. {var}=\"quiet\", and retry",
        location(.path)
    )]
    UnsupportedValue {
        /// The file, if known.
        path: Option<String>,
        /// 1-based line number of the assignment.
        line: usize,
        /// The variable assigned.
        var: String,
        /// Which construct is in the way.
        reason: &'static str,
    },
    /// [`edit_defaults`] was given no files.
    #[error(
        "no grub defaults file was found (expected /etc/default/grub): if the image boots \
         with GRUB, create /etc/default/grub in it (it may be empty) and retry; if it uses \
         another boot loader (systemd-boot, a unified kernel image), its kernel command line \
         cannot be edited this way"
    )]
    NoDefaultsFile,
}

/// Formats the file part of an error location: `"/etc/default/grub "` or nothing.
fn location(path: &Option<String>) -> String {
    path.as_ref().map(|p| format!("{p} ")).unwrap_or_default()
}

/// Kernel parameters to manage: which `key=value` to have exactly once, and which keys to
/// have nowhere.
///
/// Parameters are matched by key, the text before the first `=` (or the whole token when it
/// has none), case-sensitively as the kernel does. Call [`CmdlineChange::validate`] before
/// using a change built from user input; [`edit_defaults`] does so itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdlineChange {
    /// `(key, value)` pairs: every existing occurrence of `key` is removed and one
    /// `key=value` is appended, e.g. `("ima_appraise", "enforce")`.
    pub set: Vec<(String, String)>,
    /// Keys to remove everywhere, e.g. a previous `ima_policy`.
    pub remove: Vec<String>,
}

impl CmdlineChange {
    /// Checks that every key and value can be matched and written safely: keys of letters,
    /// digits, `_`, `-` and `.` (not starting with `-`), values of letters, digits and
    /// `_-.,:/+@%=` (no whitespace, quotes, `$`, `\` or backticks, which grub.cfg or the
    /// shell would reinterpret), and no key listed twice.
    ///
    /// # Errors
    ///
    /// [`GrubError::InvalidKey`], [`GrubError::InvalidValue`] or
    /// [`GrubError::DuplicateKey`], naming the first offending parameter.
    pub fn validate(&self) -> Result<(), GrubError> {
        let mut seen = HashSet::new();
        for key in self.set.iter().map(|(k, _)| k).chain(&self.remove) {
            validate_key(key)?;
            if !seen.insert(key.as_str()) {
                // Repeats inside `remove` are harmless; anything else is ambiguous.
                let in_set = self.set.iter().any(|(k, _)| k == key);
                if in_set {
                    return Err(GrubError::DuplicateKey { key: key.clone() });
                }
            }
        }
        for (key, value) in &self.set {
            if let Some(bad) = value.chars().find(|&c| !(c.is_ascii_alphanumeric() || VALUE_PUNCTUATION.contains(c))) {
                return Err(GrubError::InvalidValue { key: key.clone(), value: value.clone(), bad });
            }
        }
        Ok(())
    }

    /// Returns true if and only if `key` is set or removed by this change.
    fn manages(&self, key: &str) -> bool {
        self.set.iter().any(|(k, _)| k == key) || self.remove.iter().any(|k| k == key)
    }
}

/// Checks one parameter name; see [`CmdlineChange::validate`].
fn validate_key(key: &str) -> Result<(), GrubError> {
    let reason = if key.is_empty() {
        Some("it is empty")
    } else if key.starts_with('-') {
        Some("it starts with `-`")
    } else if !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        Some("it contains a character other than letters, digits, `_`, `-` and `.`")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(GrubError::InvalidKey { key: key.to_owned(), reason }),
        None => Ok(()),
    }
}

/// The quoting syntaxes we have to tell apart when splitting a command line into parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// A bare kernel command line: `"` groups words (as the kernel's `next_arg` does).
    Kernel,
    /// Text inside shell double quotes: `\` escapes, `\"` is a kernel quote, `${…}` is one
    /// expansion.
    ShellDouble,
    /// Arguments of a grub.cfg command: `\` escapes, `'…'` and `"…"` group words.
    Grub,
}

/// One parameter of a command line.
#[derive(Debug)]
struct Token<'a> {
    /// The text exactly as written, quotes and escapes included.
    raw: &'a str,
    /// Where `raw` is in the text that was split.
    span: Range<usize>,
    /// The text as the kernel sees it: quotes and escapes removed.
    text: String,
}

impl<'a> Token<'a> {
    /// The token at `span` of `text`, unquoted as `dialect` says.
    fn new(text: &'a str, span: Range<usize>, dialect: Dialect) -> Self {
        let raw = &text[span.clone()];
        Token { raw, span, text: unquote(raw, dialect) }
    }

    /// The parameter name: the text before the first `=`, or all of it.
    fn key(&self) -> &str {
        self.text.split('=').next().unwrap_or_default()
    }
}

/// Splits a command line into parameters at whitespace outside quotes and expansions.
fn split_tokens(text: &str, dialect: Dialect) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    let mut braces = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_ascii_whitespace() && quote.is_none() && braces == 0 {
            if let Some(s) = start.take() {
                tokens.push(Token::new(text, s..i, dialect));
            }
            continue;
        }
        start.get_or_insert(i);
        match (dialect, c) {
            (Dialect::Kernel, '"') => toggle(&mut quote, '"'),
            (Dialect::ShellDouble, '\\') => {
                // `\"` puts a literal `"` in the value: a kernel quote.
                if let Some((_, '"')) = chars.next() {
                    toggle(&mut quote, '"');
                }
            }
            (Dialect::ShellDouble, '$') if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                chars.next();
                braces += 1;
            }
            (Dialect::ShellDouble, '}') if braces > 0 => braces -= 1,
            (Dialect::Grub, '\\') if quote != Some('\'') => {
                chars.next();
            }
            (Dialect::Grub, '\'' | '"') => toggle(&mut quote, c),
            _ => {}
        }
    }
    if let Some(s) = start {
        tokens.push(Token::new(text, s..text.len(), dialect));
    }
    tokens
}

/// Opens a quote of kind `c`, or closes the open one if it is of that kind.
fn toggle(quote: &mut Option<char>, c: char) {
    match *quote {
        None => *quote = Some(c),
        Some(q) if q == c => *quote = None,
        Some(_) => {}
    }
}

/// Removes quotes and escapes from one parameter, giving the text the kernel receives.
fn unquote(raw: &str, dialect: Dialect) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut quote: Option<char> = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (dialect, c) {
            (Dialect::Kernel, '"') => {}
            (Dialect::ShellDouble, '\\') => match chars.next() {
                // `\"` is a literal quote, i.e. a kernel quote: dropped like one.
                Some('"') => {}
                Some(n @ ('$' | '`' | '\\')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            (Dialect::Grub, '\\') if quote != Some('\'') => {
                out.push(chars.next().unwrap_or('\\'));
            }
            (Dialect::Grub, '\'' | '"') if quote.is_none() => quote = Some(c),
            (Dialect::Grub, '\'' | '"') if quote == Some(c) => quote = None,
            _ => out.push(c),
        }
    }
    out
}

/// Applies `change` to a list of parameters. Returns the new list of raw parameters, or
/// `None` when the list already satisfies the change and must be kept as it is.
///
/// With `append`, each `set` key must end up exactly once with its value (the existing token
/// is kept in place if it already is); without, managed keys are only removed. Parameters
/// after a `--` belong to init, not the kernel: they are neither matched nor moved, and new
/// parameters go before the `--`.
fn edit_tokens<'a>(tokens: &[Token<'a>], change: &CmdlineChange, append: bool) -> Option<Vec<Cow<'a, str>>> {
    let boundary = tokens.iter().position(|t| t.raw == "--").unwrap_or(tokens.len());
    let (kernel, init) = tokens.split_at(boundary);
    let removed_absent = !kernel.iter().any(|t| change.remove.iter().any(|k| k == t.key()));
    let satisfied = if append {
        removed_absent
            && change.set.iter().all(|(key, value)| {
                let mut found = kernel.iter().filter(|t| t.key() == key);
                let wanted = format!("{key}={value}");
                matches!((found.next(), found.next()), (Some(t), None) if t.text == wanted)
            })
    } else {
        !kernel.iter().any(|t| change.manages(t.key()))
    };
    if satisfied {
        return None;
    }
    let mut out: Vec<Cow<'a, str>> =
        kernel.iter().filter(|t| !change.manages(t.key())).map(|t| Cow::Borrowed(t.raw)).collect();
    if append {
        out.extend(change.set.iter().map(|(k, v)| Cow::Owned(format!("{k}={v}"))));
    }
    out.extend(init.iter().map(|t| Cow::Borrowed(t.raw)));
    Some(out)
}

/// Applies `change` to a kernel command line (parameters separated by whitespace, `"`
/// grouping words as the kernel allows).
///
/// Each `set` key loses all its occurrences and gets one `key=value` at the end (before a
/// `--`, if any); each `remove` key is removed. If every `set` key already occurs exactly
/// once with its value and no `remove` key occurs, the input is returned unchanged, byte for
/// byte; otherwise the parameters are joined with single spaces.
pub fn edit_cmdline(cmdline: &str, change: &CmdlineChange) -> String {
    match edit_tokens(&split_tokens(cmdline, Dialect::Kernel), change, true) {
        Some(tokens) => tokens.join(" "),
        None => cmdline.to_owned(),
    }
}

/// Returns the value of the last `key=value` in a kernel command line, with kernel quotes
/// removed (`root="UUID=x"` → `UUID=x`). A bare `key` without `=` has no value and is
/// ignored, and so is everything after `--` (init's arguments).
pub fn parse_cmdline_param(cmdline: &str, key: &str) -> Option<String> {
    split_tokens(cmdline, Dialect::Kernel)
        .into_iter()
        .take_while(|t| t.raw != "--")
        .filter_map(|t| {
            let (k, v) = t.text.split_once('=')?;
            (k == key).then(|| v.to_owned())
        })
        .last()
}

/// How a shell assignment's value is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    /// `VAR="…"`: `$` expands, `\` escapes `$`, `` ` ``, `"` and `\`.
    Double,
    /// `VAR='…'`: literal text.
    Single,
    /// `VAR=word` (or `VAR=` for empty).
    Unquoted,
}

/// One `VAR=value` line of a shell fragment such as `/etc/default/grub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// 1-based line number.
    pub line: usize,
    /// The variable assigned, e.g. `GRUB_CMDLINE_LINUX_DEFAULT`.
    pub var: String,
    /// The value with the shell's quotes and escapes removed; `$VAR` references are kept as
    /// written, not expanded.
    pub value: String,
    /// How the value was quoted.
    pub quote: Quote,
}

/// An assignment with what is needed to rewrite it.
#[derive(Debug)]
struct Located {
    /// What [`assignments`] reports.
    assignment: Assignment,
    /// Byte range of the value, quotes included, within its line.
    span: Range<usize>,
    /// The value as it must appear between double quotes to mean the same to the shell.
    double_quoted: String,
}

/// Why one line could not be read; turned into a [`GrubError`] by the caller, which knows
/// the path.
enum LineProblem {
    /// A quote of this kind (`double`, `single`) does not close.
    Unterminated(&'static str),
    /// Shell syntax we cannot edit, and why.
    Unsupported(&'static str),
}

/// Finds the assignments of `var` in a shell fragment: lines `VAR=…`, optionally indented or
/// after `export `, with a double-quoted, single-quoted or unquoted value. Commented-out
/// lines are ignored, and so are assignments that do not start their line (after `;`, `&&`,
/// or in an `if` on one line).
///
/// # Errors
///
/// [`GrubError::UnterminatedQuote`] for a quoted value that does not close on its line, and
/// [`GrubError::UnsupportedValue`] for command substitution or a value glued to more quoted
/// text, which cannot be edited without running a shell.
pub fn assignments(text: &str, var: &str) -> Result<Vec<Assignment>, GrubError> {
    Ok(locate(None, text, var)?.into_iter().map(|l| l.assignment).collect())
}

/// [`assignments`] with spans, and `path` for error messages.
fn locate(path: Option<&str>, text: &str, var: &str) -> Result<Vec<Located>, GrubError> {
    let mut found = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let line_no = index + 1;
        match parse_assignment_line(line, var) {
            Ok(None) => {}
            Ok(Some((span, quote, value, double_quoted))) => found.push(Located {
                assignment: Assignment { line: line_no, var: var.to_owned(), value, quote },
                span,
                double_quoted,
            }),
            Err(LineProblem::Unterminated(quote)) => {
                return Err(GrubError::UnterminatedQuote {
                    path: path.map(str::to_owned),
                    line: line_no,
                    var: var.to_owned(),
                    quote,
                })
            }
            Err(LineProblem::Unsupported(reason)) => {
                return Err(GrubError::UnsupportedValue {
                    path: path.map(str::to_owned),
                    line: line_no,
                    var: var.to_owned(),
                    reason,
                })
            }
        }
    }
    Ok(found)
}

/// A parsed assignment: value span in the line, quoting, unquoted value, double-quoted form.
type ParsedLine = (Range<usize>, Quote, String, String);

/// Reads one line as an assignment of `var`, or `Ok(None)` if it is not one.
fn parse_assignment_line(line: &str, var: &str) -> Result<Option<ParsedLine>, LineProblem> {
    let is_blank = |c: char| c == ' ' || c == '\t';
    let mut rest = line.trim_start_matches(is_blank);
    if let Some(after) = rest.strip_prefix("export") {
        if after.starts_with(is_blank) {
            rest = after.trim_start_matches(is_blank);
        }
    }
    let Some(value_text) = rest.strip_prefix(var).and_then(|r| r.strip_prefix('=')) else {
        return Ok(None);
    };
    let start = line.len() - value_text.len();
    let (len, quote, value, double_quoted) = match value_text.chars().next() {
        Some('"') => {
            let inner_len = double_quoted_len(&value_text[1..])?;
            let inner = &value_text[1..1 + inner_len];
            let value = unescape_double(inner);
            (inner_len + 2, Quote::Double, value, inner.to_owned())
        }
        Some('\'') => {
            let inner_len = value_text[1..].find('\'').ok_or(LineProblem::Unterminated("single"))?;
            let inner = &value_text[1..1 + inner_len];
            // Literal text: escape what would be special inside double quotes.
            let mut escaped = String::with_capacity(inner.len());
            for c in inner.chars() {
                if matches!(c, '\\' | '"' | '$' | '`') {
                    escaped.push('\\');
                }
                escaped.push(c);
            }
            (inner_len + 2, Quote::Single, inner.to_owned(), escaped)
        }
        _ => {
            let len = value_text.find(|c: char| is_word_end(c)).unwrap_or(value_text.len());
            let word = &value_text[..len];
            if word.contains(['\\', '"', '\'', '`']) || word.contains("$(") {
                return Err(LineProblem::Unsupported(
                    "the unquoted value contains quotes, backslashes or command substitution",
                ));
            }
            (len, Quote::Unquoted, word.to_owned(), word.to_owned())
        }
    };
    if quote != Quote::Unquoted && !value_text[len..].chars().next().is_none_or(is_word_end) {
        return Err(LineProblem::Unsupported("the value continues after its closing quote"));
    }
    Ok(Some((start..start + len, quote, value, double_quoted)))
}

/// Returns true if and only if `c` ends an unquoted shell word.
fn is_word_end(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | ';' | '&' | '|' | ')' | '<' | '>')
}

/// Length of the text inside double quotes, up to (not including) the closing quote.
fn double_quoted_len(text: &str) -> Result<usize, LineProblem> {
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok(i),
            // A backslash at the end of the line continues the value on the next one.
            '\\' if chars.next().is_none() => break,
            '`' => return Err(LineProblem::Unsupported("it uses `command` substitution")),
            '$' if chars.peek().is_some_and(|&(_, n)| n == '(') => {
                return Err(LineProblem::Unsupported("it uses $(command) substitution"))
            }
            _ => {}
        }
    }
    Err(LineProblem::Unterminated("double"))
}

/// Removes the escapes the shell removes inside double quotes (`\$`, `` \` ``, `\"`, `\\`).
fn unescape_double(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek().filter(|n| matches!(n, '$' | '`' | '"' | '\\')) {
                out.push(n);
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Returns the assignment of `GRUB_CMDLINE_LINUX_DEFAULT` that `update-grub` uses, the last
/// one over `files` (given as for [`edit_defaults`]), with the path of its file; `Ok(None)`
/// if no file assigns it.
///
/// # Errors
///
/// As [`assignments`], with the file's path in the message.
pub fn effective_default(files: &[(&str, &str)]) -> Result<Option<(String, Assignment)>, GrubError> {
    let mut last = None;
    for &(path, text) in files {
        if let Some(l) = locate(Some(path), text, CMDLINE_DEFAULT)?.pop() {
            last = Some((path.to_owned(), l.assignment));
        }
    }
    Ok(last)
}

/// Applies `change` to the grub defaults, so that the next `update-grub` generates it.
///
/// `files` are `(path, text)` in the order grub-mkconfig sources them: `/etc/default/grub`,
/// then `/etc/default/grub.d/*.cfg` sorted by name. Every managed key is removed from every
/// assignment of `GRUB_CMDLINE_LINUX_DEFAULT` and `GRUB_CMDLINE_LINUX` in every file (so
/// nothing is duplicated or contradicted, e.g. by an upstream-style
/// `GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT ima_appraise=fix"` line), then
/// the `set` parameters are appended to the last assignment of `GRUB_CMDLINE_LINUX_DEFAULT`,
/// the one that takes effect. Recovery entries use only `GRUB_CMDLINE_LINUX`, so they get
/// nothing new. `$VAR` references and other parameters are kept as written.
///
/// An edited value is rewritten in double quotes (single-quoted text is escaped so that it
/// keeps its meaning); the rest of the line (indentation, `export`, a trailing comment) is
/// kept. If no file assigns `GRUB_CMDLINE_LINUX_DEFAULT`, a line assigning it is appended
/// to the first file. Returns only the files whose text changed, as `(path, new text)`;
/// running it again on the result returns nothing.
///
/// Caveat: the files are read as text, not run. An assignment inside an `if` counts as if it
/// always ran, and a value computed by other means (`+=`, `eval`) is not seen.
///
/// # Errors
///
/// [`GrubError::NoDefaultsFile`] if `files` is empty; errors of
/// [`CmdlineChange::validate`]; and, with the file's path, [`GrubError::UnterminatedQuote`]
/// or [`GrubError::UnsupportedValue`] for a value that cannot be edited safely.
pub fn edit_defaults(files: &[(&str, &str)], change: &CmdlineChange) -> Result<Vec<(String, String)>, GrubError> {
    change.validate()?;
    if files.is_empty() {
        return Err(GrubError::NoDefaultsFile);
    }
    let mut located = Vec::with_capacity(files.len());
    for &(path, text) in files {
        let mut both = locate(Some(path), text, CMDLINE_DEFAULT)?;
        both.extend(locate(Some(path), text, CMDLINE_LINUX)?);
        located.push(both);
    }
    let last_default = located.iter().enumerate().rev().find_map(|(file, found)| {
        found
            .iter()
            .filter(|l| l.assignment.var == CMDLINE_DEFAULT)
            .max_by_key(|l| l.assignment.line)
            .map(|l| (file, l.assignment.line))
    });

    let mut changed = Vec::new();
    for (file, (&(path, text), found)) in files.iter().zip(&located).enumerate() {
        let mut edits: Vec<(usize, &Range<usize>, String)> = Vec::new();
        for l in found {
            let append = last_default == Some((file, l.assignment.line));
            let tokens = split_tokens(&l.double_quoted, Dialect::ShellDouble);
            if let Some(new) = edit_tokens(&tokens, change, append) {
                edits.push((l.assignment.line, &l.span, format!("\"{}\"", new.join(" "))));
            }
        }
        let add_line = file == 0 && last_default.is_none() && !change.set.is_empty();
        if edits.is_empty() && !add_line {
            continue;
        }
        let mut out = String::with_capacity(text.len() + 64);
        for (index, line) in text.split_inclusive('\n').enumerate() {
            match edits.iter().find(|(n, _, _)| *n == index + 1) {
                Some((_, span, value)) => {
                    out.push_str(&line[..span.start]);
                    out.push_str(value);
                    out.push_str(&line[span.end..]);
                }
                None => out.push_str(line),
            }
        }
        if add_line {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            let params: Vec<String> = change.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("{CMDLINE_DEFAULT}=\"{}\"\n", params.join(" ")));
        }
        changed.push((path.to_owned(), out));
    }
    Ok(changed)
}

/// The grub.cfg commands that load a Linux kernel and take its command line.
const LINUX_COMMANDS: [&str; 3] = ["linux", "linuxefi", "linux16"];

/// Parameters that mark a recovery entry: Debian's 10_linux passes `single`, Ubuntu's
/// `recovery`.
const RECOVERY_MARKERS: [&str; 2] = ["single", "recovery"];

/// Applies `change` to a generated `grub.cfg` and returns the new text with the number of
/// kernel lines changed.
///
/// Every line whose first word is `linux`, `linuxefi` or `linux16` is edited after its
/// kernel path: normal entries get the full change (as [`edit_cmdline`]); recovery entries
/// (a `single` or `recovery` parameter) only lose the managed keys, which is what
/// `update-grub` would generate after [`edit_defaults`]. The indentation, command, separator
/// and kernel path of a changed line are kept byte for byte, its parameters are joined with
/// single spaces; all other lines are untouched. A second run changes nothing. Xen entries
/// (`multiboot`/`module`) are not edited.
pub fn edit_grub_cfg(text: &str, change: &CmdlineChange) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + 256);
    let mut count = 0;
    for line in text.split_inclusive('\n') {
        match edit_linux_line(line, change) {
            Some(new_line) => {
                out.push_str(&new_line);
                count += 1;
            }
            None => out.push_str(line),
        }
    }
    (out, count)
}

/// The new text of one grub.cfg line (with its terminator), or `None` if it is not a kernel
/// line or needs no change.
fn edit_linux_line(line: &str, change: &CmdlineChange) -> Option<String> {
    let body = line.trim_end_matches(['\n', '\r']);
    let terminator = &line[body.len()..];
    let is_blank = |c: char| c == ' ' || c == '\t';
    let command_start = body.len() - body.trim_start_matches(is_blank).len();
    let command_end = body[command_start..].find(is_blank).map_or(body.len(), |i| command_start + i);
    if !LINUX_COMMANDS.contains(&&body[command_start..command_end]) {
        return None;
    }
    let mut words = split_tokens(&body[command_end..], Dialect::Grub).into_iter();
    let kernel_end = command_end + words.next()?.span.end;
    let args: Vec<Token<'_>> = words.collect();
    let recovery = args.iter().any(|t| RECOVERY_MARKERS.contains(&t.text.as_str()));
    let new_args = edit_tokens(&args, change, !recovery)?;
    let mut new_line = String::with_capacity(line.len() + 64);
    new_line.push_str(&body[..kernel_end]);
    for arg in new_args {
        new_line.push(' ');
        new_line.push_str(&arg);
    }
    new_line.push_str(terminator);
    Some(new_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The change the `ima enable` pipeline makes.
    fn ima_change() -> CmdlineChange {
        CmdlineChange {
            set: vec![
                ("ima_appraise".into(), "enforce".into()),
                ("ima_hash".into(), "sha256".into()),
                ("rootflags".into(), "i_version".into()),
            ],
            remove: vec!["ima_policy".into()],
        }
    }

    #[test]
    fn edit_cmdline_table() {
        let change = ima_change();
        let tail = "ima_appraise=enforce ima_hash=sha256 rootflags=i_version";
        let cases: Vec<(&str, String)> = vec![
            ("", tail.to_owned()),
            ("ro quiet", format!("ro quiet {tail}")),
            (
                "root=UUID=9c3e ro  console=tty1   console=ttyS0",
                format!("root=UUID=9c3e ro console=tty1 console=ttyS0 {tail}"),
            ),
            ("ro ima_appraise=fix quiet ima_appraise=log", format!("ro quiet {tail}")),
            ("ro ima_policy=tcb ima_hash=sha1", format!("ro {tail}")),
            ("ro rootflags", format!("ro {tail}")),
            // Already satisfied, not at the end: unchanged byte for byte.
            (
                "  rootflags=i_version ima_hash=sha256  quiet ima_appraise=enforce ",
                "  rootflags=i_version ima_hash=sha256  quiet ima_appraise=enforce ".to_owned(),
            ),
            // Satisfied but a removed key is present.
            ("ima_appraise=enforce ima_hash=sha256 rootflags=i_version ima_policy=tcb", tail.to_owned()),
            // Duplicate with the right value still collapses to one.
            ("ima_hash=sha256 ima_appraise=enforce ima_hash=sha256 rootflags=i_version", tail.to_owned()),
            // Kernel quotes group words; keys are matched after unquoting.
            ("dyndbg=\"file ima* +p\" \"ima_appraise=fix\" ro", format!("dyndbg=\"file ima* +p\" ro {tail}")),
            // After `--` it is init's business.
            ("ro ima_appraise=fix -- single ima_hash=md5", format!("ro {tail} -- single ima_hash=md5")),
            // Similar names are other parameters.
            (
                "ima_appraise_tcb ima=on ima_template=ima-ng",
                format!("ima_appraise_tcb ima=on ima_template=ima-ng {tail}"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(edit_cmdline(input, &change), expected, "input {input:?}");
        }
    }

    #[test]
    fn edit_cmdline_remove_only() {
        let change = CmdlineChange { set: vec![], remove: vec!["quiet".into(), "splash".into()] };
        assert_eq!(edit_cmdline("quiet splash  vt.handoff=7", &change), "vt.handoff=7");
        assert_eq!(edit_cmdline("ro  rw", &change), "ro  rw");
    }

    #[test]
    fn edit_cmdline_is_idempotent() {
        let change = ima_change();
        for input in [
            "",
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-cloud-amd64 root=UUID=9c3e ro console=tty0",
            "ro ima_appraise=fix ima_appraise=fix ima_policy=tcb -- x",
            "dyndbg=\"a b\" ima_hash=sha1",
        ] {
            let once = edit_cmdline(input, &change);
            assert_eq!(edit_cmdline(&once, &change), once, "input {input:?}");
        }
    }

    #[test]
    fn parse_cmdline_param_table() {
        let cmdline = "BOOT_IMAGE=/boot/vmlinuz-5.15.0-91-generic root=PARTUUID=4fbd7e29-01 ro \
                       console=tty1 console=ttyS0 quiet root=\"LABEL=cloudimg-rootfs\" -- root=x";
        let cases = [
            ("root", Some("LABEL=cloudimg-rootfs")),
            ("console", Some("ttyS0")),
            ("BOOT_IMAGE", Some("/boot/vmlinuz-5.15.0-91-generic")),
            ("quiet", None),
            ("ro", None),
            ("ima_appraise", None),
        ];
        for (key, expected) in cases {
            assert_eq!(parse_cmdline_param(cmdline, key).as_deref(), expected, "{key}");
        }
        assert_eq!(parse_cmdline_param("ima_hash=", "ima_hash").as_deref(), Some(""));
    }

    #[test]
    fn validate_changes() {
        assert_eq!(ima_change().validate(), Ok(()));
        let bad = |set: &[(&str, &str)], remove: &[&str]| CmdlineChange {
            set: set.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            remove: remove.iter().map(|k| (*k).into()).collect(),
        };
        let cases = [
            (bad(&[("", "x")], &[]), "InvalidKey"),
            (bad(&[("--", "x")], &[]), "InvalidKey"),
            (bad(&[("a b", "x")], &[]), "InvalidKey"),
            (bad(&[], &["ima=x"]), "InvalidKey"),
            (bad(&[("k", "a b")], &[]), "InvalidValue"),
            (bad(&[("k", "$x")], &[]), "InvalidValue"),
            (bad(&[("k", "\"x\"")], &[]), "InvalidValue"),
            (bad(&[("k", "a`b`")], &[]), "InvalidValue"),
            (bad(&[("k", "a"), ("k", "b")], &[]), "DuplicateKey"),
            (bad(&[("k", "a")], &["k"]), "DuplicateKey"),
        ];
        for (change, kind) in cases {
            let err = change.validate().unwrap_err();
            assert!(format!("{err:?}").starts_with(kind), "{change:?}: {err:?}");
        }
        assert_eq!(bad(&[("k", "")], &["x", "x"]).validate(), Ok(()));
        assert_eq!(bad(&[("ima_policy", "/etc/ima/ima-policy,a:b+c@d%e=f")], &[]).validate(), Ok(()));
    }

    /// Ubuntu 22.04 cloud image `/etc/default/grub`.
    const UBUNTU_GRUB: &str = "\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT_STYLE=hidden
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash\"
GRUB_CMDLINE_LINUX=\"\"

# Uncomment to enable BadRAM filtering, modify to suit your needs
# This works with Linux (no patch required) and with any kernel that obtains
# the memory map information from GRUB (GNU Mach, kernel of FreeBSD ...)
#GRUB_BADRAM=\"0x01234567,0xfefefefe,0x89abcdef,0xefefefef\"

# Uncomment to disable graphical terminal (grub-pc only)
#GRUB_TERMINAL=console
";

    /// Ubuntu cloud image `/etc/default/grub.d/50-cloudimg-settings.cfg`.
    const UBUNTU_CLOUDIMG: &str = "\
# Cloud Image specific Grub settings for Generic Cloud Images
# CLOUD_IMG: This file was created/modified by the Cloud Image build process

# Set the recordfail timeout
GRUB_RECORDFAIL_TIMEOUT=0

# Do not wait on grub prompt
GRUB_TIMEOUT=0

# Set the default commandline
GRUB_CMDLINE_LINUX_DEFAULT=\"console=tty1 console=ttyS0\"

# Set the grub console type
GRUB_TERMINAL=console
";

    /// Debian 12 genericcloud `/etc/default/grub` (unchanged from the package).
    const DEBIAN_GRUB: &str = "\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"
GRUB_CMDLINE_LINUX=\"\"
";

    /// Debian cloud images' drop-in.
    const DEBIAN_CLOUD: &str = "\
GRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0\"
GRUB_TERMINAL=\"console serial\"
GRUB_SERIAL_COMMAND=\"serial --speed=115200\"
GRUB_TIMEOUT=0
";

    #[test]
    fn assignments_table() {
        let text = "\
GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash\"
#GRUB_CMDLINE_LINUX_DEFAULT=\"commented\"
  export GRUB_CMDLINE_LINUX_DEFAULT='single $quoted'  # trailing comment
GRUB_CMDLINE_LINUX_DEFAULT=plain
GRUB_CMDLINE_LINUX_DEFAULT=
GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT a=\\\"b c\\\" d\\\\e \\$HOME\"; export X
GRUB_CMDLINE_LINUX=\"not this one\"
GRUB_CMDLINE_LINUX_DEFAULTS=\"nor this\"
exportGRUB_CMDLINE_LINUX_DEFAULT=\"nor this\"
[ -n x ] && GRUB_CMDLINE_LINUX_DEFAULT=\"nor this\"
";
        let got: Vec<(usize, String, Quote)> = assignments(text, CMDLINE_DEFAULT)
            .unwrap()
            .into_iter()
            .map(|a| {
                assert_eq!(a.var, CMDLINE_DEFAULT);
                (a.line, a.value, a.quote)
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, "quiet splash".into(), Quote::Double),
                (3, "single $quoted".into(), Quote::Single),
                (4, "plain".into(), Quote::Unquoted),
                (5, "".into(), Quote::Unquoted),
                (6, "$GRUB_CMDLINE_LINUX_DEFAULT a=\"b c\" d\\e $HOME".into(), Quote::Double),
            ]
        );
        let linux = assignments(text, CMDLINE_LINUX).unwrap();
        assert_eq!(linux.len(), 1);
        assert_eq!(linux[0].line, 7);
    }

    #[test]
    fn assignments_errors() {
        let cases = [
            (
                "A=1\nGRUB_CMDLINE_LINUX=\"quiet\n splash\"\n",
                GrubError::UnterminatedQuote { path: None, line: 2, var: CMDLINE_LINUX.into(), quote: "double" },
            ),
            (
                "GRUB_CMDLINE_LINUX=\"quiet \\\n",
                GrubError::UnterminatedQuote { path: None, line: 1, var: CMDLINE_LINUX.into(), quote: "double" },
            ),
            (
                "GRUB_CMDLINE_LINUX='quiet\n'",
                GrubError::UnterminatedQuote { path: None, line: 1, var: CMDLINE_LINUX.into(), quote: "single" },
            ),
            (
                "GRUB_CMDLINE_LINUX=\"$(cat /proc/cmdline)\"",
                GrubError::UnsupportedValue {
                    path: None,
                    line: 1,
                    var: CMDLINE_LINUX.into(),
                    reason: "it uses $(command) substitution",
                },
            ),
            (
                "GRUB_CMDLINE_LINUX=\"a\"'b'",
                GrubError::UnsupportedValue {
                    path: None,
                    line: 1,
                    var: CMDLINE_LINUX.into(),
                    reason: "the value continues after its closing quote",
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(assignments(text, CMDLINE_LINUX), Err(expected), "{text:?}");
        }
        // Other variables may use any syntax.
        assert_eq!(
            assignments(UBUNTU_GRUB, "GRUB_DISTRIBUTOR").unwrap_err(),
            GrubError::UnsupportedValue {
                path: None,
                line: 9,
                var: "GRUB_DISTRIBUTOR".into(),
                reason: "the unquoted value contains quotes, backslashes or command substitution",
            }
        );
        assert!(assignments(UBUNTU_GRUB, CMDLINE_DEFAULT).is_ok());
    }

    #[test]
    fn error_messages_say_where_and_what_to_do() {
        let err =
            edit_defaults(&[("/etc/default/grub.d/50-x.cfg", "GRUB_CMDLINE_LINUX=\"a\n")], &ima_change()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("/etc/default/grub.d/50-x.cfg line 1: "), "{msg}");
        assert!(msg.contains("join the value onto one line"), "{msg}");
        let msg = edit_defaults(&[], &ima_change()).unwrap_err().to_string();
        assert!(msg.contains("expected /etc/default/grub"), "{msg}");
        assert!(msg.contains("create /etc/default/grub"), "{msg}");
        let msg = assignments("GRUB_CMDLINE_LINUX=`x`", CMDLINE_LINUX).unwrap_err().to_string();
        assert!(msg.starts_with("line 1: "), "{msg}");
    }

    /// Runs [`edit_defaults`] and returns every file's text afterwards.
    fn run_defaults(files: &[(&str, &str)], change: &CmdlineChange) -> Vec<(String, String)> {
        let changed = edit_defaults(files, change).unwrap();
        files
            .iter()
            .map(|&(path, text)| {
                let new = changed.iter().find(|(p, _)| p == path).map_or(text, |(_, t)| t.as_str());
                (path.to_owned(), new.to_owned())
            })
            .collect()
    }

    #[test]
    fn edit_defaults_ubuntu_cloud() {
        let files =
            [("/etc/default/grub", UBUNTU_GRUB), ("/etc/default/grub.d/50-cloudimg-settings.cfg", UBUNTU_CLOUDIMG)];
        let changed = edit_defaults(&files, &ima_change()).unwrap();
        // /etc/default/grub has nothing to remove; only the effective drop-in changes.
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0, "/etc/default/grub.d/50-cloudimg-settings.cfg");
        assert_eq!(
            changed[0].1,
            UBUNTU_CLOUDIMG.replace(
                "\"console=tty1 console=ttyS0\"",
                "\"console=tty1 console=ttyS0 ima_appraise=enforce ima_hash=sha256 rootflags=i_version\""
            )
        );
        let new_files: Vec<(&str, &str)> = vec![(files[0].0, files[0].1), (&changed[0].0, &changed[0].1)];
        let (path, effective) = effective_default(&new_files).unwrap().unwrap();
        assert_eq!(path, "/etc/default/grub.d/50-cloudimg-settings.cfg");
        assert_eq!(
            effective.value,
            "console=tty1 console=ttyS0 ima_appraise=enforce ima_hash=sha256 rootflags=i_version"
        );
    }

    #[test]
    fn edit_defaults_debian_cloud() {
        // The drop-in sets only GRUB_CMDLINE_LINUX, so /etc/default/grub's default is the
        // effective one and the drop-in is left alone.
        let files = [("/etc/default/grub", DEBIAN_GRUB), ("/etc/default/grub.d/10_cloud.cfg", DEBIAN_CLOUD)];
        let changed = edit_defaults(&files, &ima_change()).unwrap();
        assert_eq!(
            changed,
            [(
                "/etc/default/grub".to_owned(),
                DEBIAN_GRUB.replace(
                    "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"",
                    "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet ima_appraise=enforce ima_hash=sha256 \
                     rootflags=i_version\""
                )
            )]
        );
        assert_eq!(
            effective_default(&files).unwrap(),
            Some((
                "/etc/default/grub".to_owned(),
                Assignment { line: 9, var: CMDLINE_DEFAULT.into(), value: "quiet".into(), quote: Quote::Double }
            ))
        );
        assert_eq!(effective_default(&[("/etc/default/grub", "")]), Ok(None));
    }

    #[test]
    fn edit_defaults_upstream_leftovers() {
        // What the shell tool leaves behind: fix mode appended with a self-reference, and
        // rootflags put into GRUB_CMDLINE_LINUX, plus a later drop-in that only appends.
        let grub = DEBIAN_GRUB
            .replace("GRUB_CMDLINE_LINUX=\"\"", "GRUB_CMDLINE_LINUX=\"rootflags=i_version\"  # added for IMA");
        let cloud =
            format!("{DEBIAN_CLOUD}GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT ima_appraise=fix\"\n");
        let extra = "export GRUB_CMDLINE_LINUX_DEFAULT=\"${GRUB_CMDLINE_LINUX_DEFAULT} intel_iommu=on\"";
        let files = [
            ("/etc/default/grub", grub.as_str()),
            ("/etc/default/grub.d/10_cloud.cfg", cloud.as_str()),
            ("/etc/default/grub.d/99-iommu.cfg", extra),
        ];
        let out = run_defaults(&files, &ima_change());
        assert_eq!(
            out[0].1,
            DEBIAN_GRUB.replace("GRUB_CMDLINE_LINUX=\"\"", "GRUB_CMDLINE_LINUX=\"\"  # added for IMA")
        );
        assert_eq!(out[1].1, format!("{DEBIAN_CLOUD}GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT\"\n"));
        // The last assignment gets the parameters; no final newline is added or lost.
        assert_eq!(
            out[2].1,
            "export GRUB_CMDLINE_LINUX_DEFAULT=\"${GRUB_CMDLINE_LINUX_DEFAULT} intel_iommu=on \
             ima_appraise=enforce ima_hash=sha256 rootflags=i_version\""
        );
    }

    #[test]
    fn edit_defaults_quoting() {
        let cases = [
            // Single quotes become double quotes with `$` kept literal.
            (
                "GRUB_CMDLINE_LINUX_DEFAULT='quiet ima_hash=sha1 x=$y'\n",
                "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet x=\\$y ima_appraise=enforce ima_hash=sha256 rootflags=i_version\"\n",
            ),
            // Unquoted values, including an empty one.
            (
                "GRUB_CMDLINE_LINUX_DEFAULT=quiet\n",
                "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet ima_appraise=enforce ima_hash=sha256 rootflags=i_version\"\n",
            ),
            (
                "\tGRUB_CMDLINE_LINUX_DEFAULT= # empty\n",
                "\tGRUB_CMDLINE_LINUX_DEFAULT=\"ima_appraise=enforce ima_hash=sha256 rootflags=i_version\" # empty\n",
            ),
            // Escapes and kernel quotes in other parameters survive as written.
            (
                "GRUB_CMDLINE_LINUX_DEFAULT=\"dyndbg=\\\"file ima* +p\\\" p=\\$HOME ima_appraise=fix\"\r\n",
                "GRUB_CMDLINE_LINUX_DEFAULT=\"dyndbg=\\\"file ima* +p\\\" p=\\$HOME ima_appraise=enforce ima_hash=sha256 rootflags=i_version\"\r\n",
            ),
            // No assignment at all: one is appended, after a missing final newline.
            (
                "GRUB_TIMEOUT=5",
                "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=\"ima_appraise=enforce ima_hash=sha256 rootflags=i_version\"\n",
            ),
            (
                "",
                "GRUB_CMDLINE_LINUX_DEFAULT=\"ima_appraise=enforce ima_hash=sha256 rootflags=i_version\"\n",
            ),
        ];
        for (input, expected) in cases {
            let out = run_defaults(&[("/etc/default/grub", input)], &ima_change());
            assert_eq!(out[0].1, expected, "input {input:?}");
        }
    }

    #[test]
    fn edit_defaults_appends_to_first_file_only_when_nobody_assigns() {
        let files = [
            ("/etc/default/grub", "GRUB_TIMEOUT=5\n"),
            ("/etc/default/grub.d/a.cfg", "GRUB_CMDLINE_LINUX=\"ima_appraise=fix\"\n"),
        ];
        let changed = edit_defaults(&files, &ima_change()).unwrap();
        assert_eq!(
            changed,
            [
                (
                    "/etc/default/grub".to_owned(),
                    "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=\"ima_appraise=enforce \
                     ima_hash=sha256 rootflags=i_version\"\n"
                        .to_owned()
                ),
                ("/etc/default/grub.d/a.cfg".to_owned(), "GRUB_CMDLINE_LINUX=\"\"\n".to_owned()),
            ]
        );
        // A remove-only change adds nothing.
        let remove_only = CmdlineChange { set: vec![], remove: vec!["ima_appraise".into()] };
        let changed = edit_defaults(&files, &remove_only).unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0, "/etc/default/grub.d/a.cfg");
    }

    #[test]
    fn edit_defaults_rejects_invalid_change() {
        let change = CmdlineChange { set: vec![("ima_policy".into(), "a b".into())], remove: vec![] };
        assert!(matches!(edit_defaults(&[("/etc/default/grub", "")], &change), Err(GrubError::InvalidValue { .. })));
    }

    #[test]
    fn edit_defaults_is_idempotent() {
        let cloud_fix =
            format!("{UBUNTU_CLOUDIMG}GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT ima_appraise=fix\"\n");
        let sets: Vec<Vec<(&str, &str)>> = vec![
            vec![("/etc/default/grub", UBUNTU_GRUB), ("/etc/default/grub.d/50-cloudimg-settings.cfg", UBUNTU_CLOUDIMG)],
            vec![("/etc/default/grub", UBUNTU_GRUB), ("/etc/default/grub.d/50-cloudimg-settings.cfg", &cloud_fix)],
            vec![("/etc/default/grub", DEBIAN_GRUB), ("/etc/default/grub.d/10_cloud.cfg", DEBIAN_CLOUD)],
            vec![("/etc/default/grub", "GRUB_TIMEOUT=1")],
            vec![("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT='a b'\nGRUB_CMDLINE_LINUX=ima_hash=md5")],
        ];
        for files in sets {
            let once = run_defaults(&files, &ima_change());
            let once_refs: Vec<(&str, &str)> = once.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
            assert_eq!(edit_defaults(&once_refs, &ima_change()).unwrap(), [], "{files:?}");
        }
    }

    /// Excerpt of a Debian 12 genericcloud `/boot/grub/grub.cfg` with two kernels.
    const DEBIAN_GRUB_CFG: &str = "\
### BEGIN /etc/grub.d/10_linux ###
function gfxmode {
\tset gfxpayload=\"${1}\"
}
set linux_gfx_mode=
export linux_gfx_mode
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94' {
\tload_video
\tinsmod gzio
\tif [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
\tinsmod part_gpt
\tinsmod ext2
\tsearch --no-floppy --fs-uuid --set=root 9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94
\techo\t'Loading Linux 6.1.0-28-cloud-amd64 ...'
\tlinux\t/boot/vmlinuz-6.1.0-28-cloud-amd64 root=UUID=9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94 ro  console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0
\techo\t'Loading initial ramdisk ...'
\tinitrd\t/boot/initrd.img-6.1.0-28-cloud-amd64
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94' {
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-28-cloud-amd64' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-6.1.0-28-cloud-amd64-advanced-9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94' {
\t\tload_video
\t\tinsmod gzio
\t\tsearch --no-floppy --fs-uuid --set=root 9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94
\t\techo\t'Loading Linux 6.1.0-28-cloud-amd64 ...'
\t\tlinux\t/boot/vmlinuz-6.1.0-28-cloud-amd64 root=UUID=9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94 ro  console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0
\t\techo\t'Loading initial ramdisk ...'
\t\tinitrd\t/boot/initrd.img-6.1.0-28-cloud-amd64
\t}
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-28-cloud-amd64 (recovery mode)' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-6.1.0-28-cloud-amd64-recovery-9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94' {
\t\tload_video
\t\tinsmod gzio
\t\tsearch --no-floppy --fs-uuid --set=root 9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94
\t\techo\t'Loading Linux 6.1.0-28-cloud-amd64 ...'
\t\tlinux\t/boot/vmlinuz-6.1.0-28-cloud-amd64 root=UUID=9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94 ro single console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0
\t\techo\t'Loading initial ramdisk ...'
\t\tinitrd\t/boot/initrd.img-6.1.0-28-cloud-amd64
\t}
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-27-cloud-amd64' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-6.1.0-27-cloud-amd64-advanced-9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94' {
\t\tload_video
\t\tinsmod gzio
\t\tsearch --no-floppy --fs-uuid --set=root 9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94
\t\techo\t'Loading Linux 6.1.0-27-cloud-amd64 ...'
\t\tlinux\t/boot/vmlinuz-6.1.0-27-cloud-amd64 root=UUID=9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94 ro  console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0
\t\techo\t'Loading initial ramdisk ...'
\t\tinitrd\t/boot/initrd.img-6.1.0-27-cloud-amd64
\t}
}

### END /etc/grub.d/10_linux ###
";

    /// Excerpt of an Ubuntu 22.04 cloud image `/boot/grub/grub.cfg` (initrd-less boot
    /// fallback, `$vt_handoff`, a recovery entry and a previous shell-tool run's leftovers).
    const UBUNTU_GRUB_CFG: &str = "\
menuentry 'Ubuntu' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-3b5d0f5a-1c2e-4d6f-9a8b-7c6d5e4f3a2b' {
\trecordfail
\tload_video
\tgfxmode $linux_gfx_mode
\tinsmod gzio
\tif [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
\tinsmod part_gpt
\tinsmod ext2
\tsearch --no-floppy --fs-uuid --set=root 3b5d0f5a-1c2e-4d6f-9a8b-7c6d5e4f3a2b
\tif [ \"${initrdfail}\" = 1 ]; then
\t  echo\t'Loading Linux 5.15.0-91-generic ...'
\t  linux\t/boot/vmlinuz-5.15.0-91-generic root=LABEL=cloudimg-rootfs ro  console=tty1 console=ttyS0 ima_appraise=fix $vt_handoff
\t  echo\t'Loading initial ramdisk ...'
\t  initrd\t/boot/initrd.img-5.15.0-91-generic
\telse
\t  echo\t'Loading Linux 5.15.0-91-generic ...'
\t  linux\t/boot/vmlinuz-5.15.0-91-generic root=PARTUUID=4fbd7e29-3b5d-4c2e-9a8b-1f2e3d4c5b6a ro  console=tty1 console=ttyS0 ima_appraise=fix panic=-1 $vt_handoff
\tfi
\tinitrdfail
}
submenu 'Advanced options for Ubuntu' $menuentry_id_option 'gnulinux-advanced-3b5d0f5a-1c2e-4d6f-9a8b-7c6d5e4f3a2b' {
\tmenuentry 'Ubuntu, with Linux 5.15.0-91-generic (recovery mode)' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-5.15.0-91-generic-recovery-3b5d0f5a-1c2e-4d6f-9a8b-7c6d5e4f3a2b' {
\t\trecordfail
\t\tload_video
\t\tinsmod gzio
\t\tsearch --no-floppy --fs-uuid --set=root 3b5d0f5a-1c2e-4d6f-9a8b-7c6d5e4f3a2b
\t\techo\t'Loading Linux 5.15.0-91-generic ...'
\t\tlinux\t/boot/vmlinuz-5.15.0-91-generic root=LABEL=cloudimg-rootfs ro recovery nomodeset dis_ucode_ldr rootflags=i_version
\t\techo\t'Loading initial ramdisk ...'
\t\tinitrd\t/boot/initrd.img-5.15.0-91-generic
\t}
}
menuentry 'UEFI Firmware Settings' $menuentry_id_option 'uefi-firmware' {
\tfwsetup
}
";

    #[test]
    fn edit_grub_cfg_debian() {
        let (out, count) = edit_grub_cfg(DEBIAN_GRUB_CFG, &ima_change());
        assert_eq!(count, 3);
        let old = "ro  console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0\n";
        let new = "ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0 \
                   ima_appraise=enforce ima_hash=sha256 rootflags=i_version\n";
        assert_eq!(out, DEBIAN_GRUB_CFG.replace(old, new));
        // The recovery entry had nothing managed: byte-identical.
        assert!(out.contains("\t\tlinux\t/boot/vmlinuz-6.1.0-28-cloud-amd64 root=UUID=9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94 ro single console=tty0"));
        assert!(out.contains("\tlinux\t/boot/vmlinuz-6.1.0-28-cloud-amd64 root="));
    }

    #[test]
    fn edit_grub_cfg_ubuntu() {
        let (out, count) = edit_grub_cfg(UBUNTU_GRUB_CFG, &ima_change());
        assert_eq!(count, 3);
        let expected = UBUNTU_GRUB_CFG
            .replace(
                "root=LABEL=cloudimg-rootfs ro  console=tty1 console=ttyS0 ima_appraise=fix $vt_handoff\n",
                "root=LABEL=cloudimg-rootfs ro console=tty1 console=ttyS0 $vt_handoff \
                 ima_appraise=enforce ima_hash=sha256 rootflags=i_version\n",
            )
            .replace(
                "ro  console=tty1 console=ttyS0 ima_appraise=fix panic=-1 $vt_handoff\n",
                "ro console=tty1 console=ttyS0 panic=-1 $vt_handoff \
                 ima_appraise=enforce ima_hash=sha256 rootflags=i_version\n",
            )
            .replace(
                "ro recovery nomodeset dis_ucode_ldr rootflags=i_version\n",
                "ro recovery nomodeset dis_ucode_ldr\n",
            );
        assert_eq!(out, expected);
    }

    #[test]
    fn edit_grub_cfg_line_forms() {
        let change = ima_change();
        let tail = "ima_appraise=enforce ima_hash=sha256 rootflags=i_version";
        let cases: Vec<(&str, String)> = vec![
            ("linux /vmlinuz", format!("linux /vmlinuz {tail}")),
            ("  linuxefi  /vmlinuz ro\r\n", format!("  linuxefi  /vmlinuz ro {tail}\r\n")),
            ("linux16 /vmlinuz ro", format!("linux16 /vmlinuz ro {tail}")),
            // Grub quoting: the key is matched after unquoting, quoted args are kept.
            ("linux '/boot/my kernel' \"ima_appraise=fix\" x='a b'", format!("linux '/boot/my kernel' x='a b' {tail}")),
            // Not kernel lines.
            ("linux", "linux".into()),
            ("linuxfoo /vmlinuz ro", "linuxfoo /vmlinuz ro".into()),
            ("# linux /vmlinuz ro", "# linux /vmlinuz ro".into()),
            ("\techo 'linux /vmlinuz'", "\techo 'linux /vmlinuz'".into()),
            ("\tmodule /boot/vmlinuz ro", "\tmodule /boot/vmlinuz ro".into()),
            // Recovery with nothing managed, and normal already satisfied: unchanged.
            ("linux /vmlinuz ro  single", "linux /vmlinuz ro  single".into()),
            (
                "linux /vmlinuz  ro  ima_appraise=enforce rootflags=i_version ima_hash=sha256  quiet",
                "linux /vmlinuz  ro  ima_appraise=enforce rootflags=i_version ima_hash=sha256  quiet".into(),
            ),
            ("linux /vmlinuz ro single ima_policy=tcb", "linux /vmlinuz ro single".into()),
        ];
        for (input, expected) in cases {
            let (out, count) = edit_grub_cfg(input, &change);
            assert_eq!(out, expected, "input {input:?}");
            assert_eq!(count, usize::from(out != input), "input {input:?}");
        }
    }

    #[test]
    fn edit_grub_cfg_is_idempotent() {
        for input in [DEBIAN_GRUB_CFG, UBUNTU_GRUB_CFG, "linux /v -- ima_hash=x"] {
            let (once, _) = edit_grub_cfg(input, &ima_change());
            let (twice, count) = edit_grub_cfg(&once, &ima_change());
            assert_eq!(twice, once);
            assert_eq!(count, 0);
        }
    }
}
