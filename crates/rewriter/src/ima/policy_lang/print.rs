//! Printing. `Display` of a [`Policy`] parsed from text gives that text back byte for byte;
//! `Display` of a [`Rule`] is its canonical single-line form: the action, then the conditions,
//! then the options, each in the order parsed, separated by one space. The canonical form is
//! valid whenever the rule is (the kernel's order constraints are "action before `template=`"
//! and "`digest_type=` before `appraise_type=`", both kept).

use std::fmt;

use super::ast::{Action, AppraiseType, Condition, DigestType, Func, IdOp, Line, Mask, Opt, Policy, Rule};

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for IdOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.symbol())
    }
}

impl fmt::Display for AppraiseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for DigestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key();
        match self {
            Condition::Func { func, legacy_name } => {
                let name = if *legacy_name { func.legacy_name().unwrap_or(func.name()) } else { func.name() };
                write!(f, "{key}={name}")
            }
            Condition::Mask { inverted, mask } => write!(f, "{key}={}{mask}", if *inverted { "^" } else { "" }),
            Condition::FsMagic { value, text } => {
                if text.is_empty() {
                    write!(f, "{key}={value:#x}")
                } else {
                    write!(f, "{key}={text}")
                }
            }
            Condition::FsName(v)
            | Condition::FsSubtype(v)
            | Condition::FsUuid(v)
            | Condition::ObjUser(v)
            | Condition::ObjRole(v)
            | Condition::ObjType(v)
            | Condition::SubjUser(v)
            | Condition::SubjRole(v)
            | Condition::SubjType(v) => write!(f, "{key}={v}"),
            Condition::Uid { op, value }
            | Condition::Euid { op, value }
            | Condition::Gid { op, value }
            | Condition::Egid { op, value }
            | Condition::Fowner { op, value }
            | Condition::Fgroup { op, value } => write!(f, "{key}{op}{value}"),
        }
    }
}

impl fmt::Display for Opt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key();
        match self {
            Opt::AppraiseType(t) => write!(f, "{key}={t}"),
            Opt::AppraiseFlag(v) | Opt::Template(v) => write!(f, "{key}={v}"),
            Opt::AppraiseAlgos(list) => write!(f, "{key}={}", list.join(",")),
            Opt::Keyrings(list) | Opt::Label(list) => write!(f, "{key}={}", list.join("|")),
            Opt::Pcr(n) => write!(f, "{key}={n}"),
            Opt::PermitDirectio => f.write_str(key),
            Opt::DigestType(t) => write!(f, "{key}={t}"),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action.keyword())?;
        for c in &self.conditions {
            write!(f, " {c}")?;
        }
        for o in &self.options {
            write!(f, " {o}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match line {
                Line::Blank(text) | Line::Comment(text) => f.write_str(text)?,
                Line::Rule { text: Some(text), .. } => f.write_str(text)?,
                Line::Rule { index, text: None } => match self.rules.get(*index) {
                    Some(rule) => write!(f, "{rule}")?,
                    None => return Err(fmt::Error),
                },
            }
        }
        if self.final_newline {
            f.write_str("\n")?;
        }
        Ok(())
    }
}

impl Policy {
    /// The policy as text (the same as `to_string()`).
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// Every rule in canonical form, one per line, each line ending with `\n`; comments and
    /// blank lines dropped.
    pub fn to_canonical_text(&self) -> String {
        self.rules.iter().map(|r| format!("{r}\n")).collect()
    }
}
