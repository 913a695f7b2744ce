//! Tests: built-in and real-world policies, one bad line per kernel rule, round trips, and
//! property tests over generated rules and policies.

use super::*;

/// The seed plugin's policy (98-ima-enable-simple): the appraise_tcb exclusions without
/// efivarfs, then `appraise fowner=0`.
const SEED_POLICY: &str = "\
# PROC_SUPER_MAGIC
dont_appraise fsmagic=0x9fa0
# SYSFS_MAGIC
dont_appraise fsmagic=0x62656572
# DEBUGFS_MAGIC
dont_appraise fsmagic=0x64626720
# TMPFS_MAGIC
dont_appraise fsmagic=0x01021994
# RAMFS_MAGIC
dont_appraise fsmagic=0x858458f6
# DEVPTS_SUPER_MAGIC
dont_appraise fsmagic=0x1cd1
# BINFMTFS_MAGIC
dont_appraise fsmagic=0x42494e4d
# SECURITYFS_MAGIC
dont_appraise fsmagic=0x73636673
# SELINUX_MAGIC
dont_appraise fsmagic=0xf97cff8c
# SMACK_MAGIC
dont_appraise fsmagic=0x43415d53
# NSFS_MAGIC
dont_appraise fsmagic=0x6e736673
# CGROUP_SUPER_MAGIC
dont_appraise fsmagic=0x27e0eb
# CGROUP2_SUPER_MAGIC
dont_appraise fsmagic=0x63677270

appraise fowner=0
";

const SEED_MAGICS: [u64; 13] = [
    0x9fa0, 0x62656572, 0x64626720, 0x01021994, 0x858458f6, 0x1cd1, 0x42494e4d, 0x73636673, 0xf97cff8c, 0x43415d53,
    0x6e736673, 0x27e0eb, 0x63677270,
];

/// The later upstream policy: the seed list plus overlayfs, the same magics for measurement,
/// and measure/appraise rules.
fn upstream_policy() -> String {
    let mut s = String::from("# IMA policy (later upstream version)\n");
    for m in SEED_MAGICS {
        s.push_str(&format!("dont_appraise fsmagic={m:#x}\n"));
    }
    s.push_str("dont_appraise fsmagic=0x794c7630\n");
    for m in SEED_MAGICS {
        s.push_str(&format!("dont_measure fsmagic={m:#x}\n"));
    }
    s.push_str("dont_measure fsmagic=0x794c7630\n");
    s.push_str("measure func=BPRM_CHECK\n");
    s.push_str("measure func=FILE_MMAP mask=MAY_EXEC\n");
    s.push_str("measure func=MODULE_CHECK uid=0\n");
    s.push_str("appraise\n");
    s
}

fn ok(text: &str) -> Policy {
    match parse(text) {
        Ok(p) => p,
        Err(errs) => {
            panic!("{text:?} should parse, got:\n{}", errs.iter().map(|e| e.to_string() + "\n").collect::<String>())
        }
    }
}

fn one_err(text: &str) -> PolicyError {
    match parse(text) {
        Ok(p) => panic!("{text:?} should fail, parsed as {p:?}"),
        Err(mut errs) => {
            assert_eq!(errs.len(), 1, "{text:?}: expected one error, got {errs:#?}");
            errs.remove(0)
        }
    }
}

/// The error's column points at its token on its line.
fn assert_points_at_token(text: &str, e: &PolicyError) {
    if e.token.is_empty() || e.kind == ErrorKind::LineTooLong || e.kind == ErrorKind::NulByte {
        return;
    }
    let line = text.split('\n').nth(e.line - 1).expect("error line exists");
    let rest: String = line.chars().skip(e.column - 1).collect();
    assert!(rest.starts_with(&e.token), "column {} of {line:?} is not at token {:?}", e.column, e.token);
}

// ---------------------------------------------------------------------------------------------
// Built-in and real-world policies

#[test]
fn builtin_policies_parse_and_round_trip() {
    let expected = [("tcb", 20), ("appraise_tcb", 15), ("secure_boot", 4), ("critical_data", 1)];
    for (name, count) in expected {
        let text = builtin(name).unwrap_or_else(|| panic!("builtin {name}"));
        let p = ok(text);
        assert_eq!(p.rules.len(), count, "{name}");
        assert_eq!(p.to_string(), text, "{name} round trip");
        assert_eq!(p.to_canonical_text(), text, "{name} is already canonical");
        assert!(p.final_newline);
        assert_eq!(p.min_kernel(), None, "{name} works on every target kernel");
    }
    assert_eq!(BUILTIN_NAMES.len(), expected.len());
    assert_eq!(builtin("ima_tcb"), None);
    assert_eq!(builtin("TCB"), None);
}

#[test]
fn builtin_tcb_content() {
    let p = ok(builtin("tcb").unwrap_or_default());
    let dont: Vec<u64> = p
        .rules
        .iter()
        .filter(|r| r.action == Action::DontMeasure)
        .map(|r| match &r.conditions[..] {
            [Condition::FsMagic { value, .. }] => *value,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(dont.len(), 13);
    assert_eq!(dont[3], 0x0102_1994, "TMPFS written 0x1021994 in the facts");
    assert!(dont.contains(&0xde5e81e4), "EFIVARFS");
    let file_check: Vec<&Rule> = p.rules.iter().filter(|r| r.func() == Some(Func::FileCheck)).collect();
    assert_eq!(file_check.len(), 2);
    assert_eq!(file_check[0].conditions[1], Condition::Mask { inverted: true, mask: Mask::Read });
    assert_eq!(file_check[0].conditions[2], Condition::Euid { op: IdOp::Eq, value: 0 });
    assert_eq!(file_check[1].conditions[2], Condition::Uid { op: IdOp::Eq, value: 0 });
    assert_eq!(p.rules.last().map(|r| r.to_string()), Some("measure func=POLICY_CHECK".to_string()));
}

#[test]
fn builtin_appraise_tcb_and_secure_boot_content() {
    let p = ok(builtin("appraise_tcb").unwrap_or_default());
    assert_eq!(p.rules.iter().filter(|r| r.action == Action::DontAppraise).count(), 14);
    assert!(p.rules[4].to_string().ends_with("0x858458f6"), "RAMFS is fifth");
    assert_eq!(p.rules[14].to_string(), "appraise fowner=0");
    assert!(!p.rules.iter().any(|r| r.func() == Some(Func::PolicyCheck)), "CONFIG-dependent line left out");

    let sb = ok(builtin("secure_boot").unwrap_or_default());
    let funcs: Vec<Func> = sb.rules.iter().filter_map(Rule::func).collect();
    assert_eq!(funcs, [Func::ModuleCheck, Func::FirmwareCheck, Func::KexecKernelCheck, Func::PolicyCheck]);
    assert!(sb
        .rules
        .iter()
        .all(|r| r.action == Action::Appraise && r.options == [Opt::AppraiseType(AppraiseType::ImaSig)]));

    let cd = ok(builtin("critical_data").unwrap_or_default());
    assert_eq!(cd.rules[0].func(), Some(Func::CriticalData));
    assert_eq!(cd.rules[0].action, Action::Measure);
}

#[test]
fn seed_policy_parses_and_round_trips() {
    let p = ok(SEED_POLICY);
    assert_eq!(p.rules.len(), 14);
    assert_eq!(p.to_string(), SEED_POLICY);
    let magics: Vec<u64> = p
        .rules
        .iter()
        .filter_map(|r| match r.conditions.first() {
            Some(Condition::FsMagic { value, .. }) if r.action == Action::DontAppraise => Some(*value),
            _ => None,
        })
        .collect();
    assert_eq!(magics, SEED_MAGICS);
    // The leading zero of 0x01021994 is kept for printing.
    assert_eq!(p.rules[3].to_string(), "dont_appraise fsmagic=0x01021994");
    assert_eq!(p.rules[13].to_string(), "appraise fowner=0");
    assert_eq!(p.rules[13].line, 28);
    assert_eq!(p.lines.iter().filter(|l| matches!(l, Line::Comment(_))).count(), 13);
    assert_eq!(p.lines.iter().filter(|l| matches!(l, Line::Blank(_))).count(), 1);
}

#[test]
fn upstream_policy_parses() {
    let text = upstream_policy();
    let p = ok(&text);
    assert_eq!(p.rules.len(), 14 + 14 + 4);
    assert_eq!(p.to_string(), text);
    let mmap = p.rules.iter().find(|r| r.func() == Some(Func::MmapCheck)).expect("FILE_MMAP rule");
    assert_eq!(mmap.conditions[0], Condition::Func { func: Func::MmapCheck, legacy_name: true });
    assert_eq!(mmap.to_string(), "measure func=FILE_MMAP mask=MAY_EXEC", "alias spelling kept");
    assert_eq!(p.rules.last().map(|r| (r.action, r.conditions.len())), Some((Action::Appraise, 0)));
}

#[test]
fn repo_default_policy_parses() {
    let text = crate::ima::policy::default_policy();
    let p = ok(&text);
    assert_eq!(p.to_string(), text);
    assert!(p.rules.iter().any(|r| r.action == Action::Appraise));
}

// ---------------------------------------------------------------------------------------------
// One bad line per kernel rule

#[test]
fn bad_line_corpus() {
    let long = format!("measure fsname={}", "a".repeat(4096 - 15));
    assert_eq!(long.len(), 4096);
    let cases: Vec<(&str, String, ErrorKind, usize, usize)> = vec![
        ("second action", "measure appraise func=FILE_CHECK".into(), ErrorKind::SecondAction, 1, 9),
        ("no action", "func=FILE_CHECK mask=MAY_EXEC".into(), ErrorKind::NoAction, 1, 1),
        ("duplicate func", "measure func=FILE_CHECK func=BPRM_CHECK".into(), ErrorKind::DuplicateCondition, 1, 25),
        ("duplicate mask", "measure mask=MAY_EXEC mask=^MAY_READ".into(), ErrorKind::DuplicateCondition, 1, 23),
        ("uid then euid", "measure uid=0 euid=0".into(), ErrorKind::DuplicateCondition, 1, 15),
        ("gid then egid", "measure egid=0 gid<5".into(), ErrorKind::DuplicateCondition, 1, 16),
        ("fowner twice", "appraise fowner=0 fowner>1000".into(), ErrorKind::DuplicateCondition, 1, 19),
        ("obj_type twice", "measure obj_type=a obj_type=b".into(), ErrorKind::DuplicateCondition, 1, 20),
        ("template before measure", "template=ima-ng measure".into(), ErrorKind::TemplateBeforeAction, 1, 1),
        ("template on appraise", "appraise template=ima-ng".into(), ErrorKind::TemplateNotMeasure, 1, 10),
        ("template on dont_measure", "dont_measure template=ima-ng".into(), ErrorKind::TemplateNotMeasure, 1, 14),
        ("unknown template", "measure template=ima-cgpath".into(), ErrorKind::UnknownTemplate, 1, 9),
        ("template twice", "measure template=ima-ng template=ima-sig".into(), ErrorKind::DuplicateOption, 1, 25),
        ("pcr on appraise", "appraise func=BPRM_CHECK pcr=11".into(), ErrorKind::PcrNotMeasure, 1, 26),
        ("pcr out of range", "measure pcr=64".into(), ErrorKind::PcrOutOfRange, 1, 9),
        ("pcr negative", "measure pcr=-1".into(), ErrorKind::PcrOutOfRange, 1, 9),
        ("pcr not a number", "measure pcr=ten".into(), ErrorKind::BadNumber, 1, 9),
        (
            "appraise_type on measure",
            "measure func=BPRM_CHECK appraise_type=imasig".into(),
            ErrorKind::AppraiseOptionNotAppraise,
            1,
            25,
        ),
        (
            "appraise_algos on dont_appraise",
            "dont_appraise appraise_algos=sha256".into(),
            ErrorKind::AppraiseOptionNotAppraise,
            1,
            15,
        ),
        (
            "sigv3 without digest_type",
            "appraise func=BPRM_CHECK appraise_type=sigv3".into(),
            ErrorKind::Sigv3WithoutVerity,
            1,
            26,
        ),
        (
            "digest_type after imasig",
            "appraise func=BPRM_CHECK appraise_type=imasig digest_type=verity".into(),
            ErrorKind::DigestTypeAfterAppraiseType,
            1,
            47,
        ),
        (
            "imasig after digest_type",
            "appraise func=BPRM_CHECK digest_type=verity appraise_type=imasig".into(),
            ErrorKind::SignatureTypeWithVerity,
            1,
            45,
        ),
        (
            "verity appraise without sigv3",
            "appraise func=BPRM_CHECK digest_type=verity".into(),
            ErrorKind::VerityWithoutSignature,
            1,
            26,
        ),
        ("unknown digest_type", "measure digest_type=sha256".into(), ErrorKind::UnknownDigestType, 1, 9),
        ("unknown appraise_type", "appraise appraise_type=modsig".into(), ErrorKind::UnknownAppraiseType, 1, 10),
        ("bad fsmagic hex", "dont_appraise fsmagic=0xzz".into(), ErrorKind::BadFsMagic, 1, 15),
        ("fsmagic 0x only", "dont_appraise fsmagic=0x".into(), ErrorKind::BadFsMagic, 1, 15),
        ("fsmagic overflow", "dont_appraise fsmagic=0x10000000000000000".into(), ErrorKind::BadFsMagic, 1, 15),
        ("bad fsuuid", "appraise fsuuid=1234".into(), ErrorKind::BadFsUuid, 1, 10),
        (
            "fsuuid wrong dashes",
            "appraise fsuuid=6a3c1b362-f7e-4d4b-9c55-0a1b2c3d4e5f".into(),
            ErrorKind::BadFsUuid,
            1,
            10,
        ),
        ("bad uid number", "measure uid=root".into(), ErrorKind::BadNumber, 1, 9),
        ("uid is the invalid id", "measure uid=4294967295".into(), ErrorKind::BadNumber, 1, 9),
        ("uid overflows u32", "measure uid=4294967296".into(), ErrorKind::BadNumber, 1, 9),
        ("uid negative", "measure fowner=-1".into(), ErrorKind::BadNumber, 1, 9),
        ("unknown func", "measure func=FILE_OPEN".into(), ErrorKind::UnknownFunc, 1, 9),
        ("func lowercase", "measure func=bprm_check".into(), ErrorKind::UnknownFunc, 1, 9),
        ("unknown mask", "measure mask=MAY_RUN".into(), ErrorKind::UnknownMask, 1, 9),
        (
            "unknown appraise_algos name",
            "appraise func=SETXATTR_CHECK appraise_algos=sha256,md6".into(),
            ErrorKind::UnknownHashAlgo,
            1,
            30,
        ),
        ("removed appraise_algos name", "appraise appraise_algos=tgr192".into(), ErrorKind::UnavailableHashAlgo, 1, 10),
        ("empty appraise_algos item", "appraise appraise_algos=sha256,".into(), ErrorKind::EmptyListItem, 1, 10),
        (
            "appraise_algos twice",
            "appraise appraise_algos=sha256 appraise_algos=sha512".into(),
            ErrorKind::DuplicateOption,
            1,
            32,
        ),
        ("keyrings without KEY_CHECK", "measure keyrings=.ima".into(), ErrorKind::NotAllowedWithFunc, 1, 9),
        (
            "label without CRITICAL_DATA",
            "measure func=FILE_CHECK label=selinux".into(),
            ErrorKind::NotAllowedWithFunc,
            1,
            25,
        ),
        ("empty keyring name", "measure func=KEY_CHECK keyrings=.ima||.evm".into(), ErrorKind::EmptyListItem, 1, 24),
        ("KEY_CHECK with fowner", "measure func=KEY_CHECK fowner=0".into(), ErrorKind::NotAllowedWithFunc, 1, 24),
        ("KEY_CHECK with euid", "measure func=KEY_CHECK euid=0".into(), ErrorKind::NotAllowedWithFunc, 1, 24),
        ("KEY_CHECK on appraise", "appraise func=KEY_CHECK".into(), ErrorKind::ActionNotAllowedWithFunc, 1, 1),
        (
            "CRITICAL_DATA with LSM",
            "measure func=CRITICAL_DATA obj_type=foo".into(),
            ErrorKind::NotAllowedWithFunc,
            1,
            28,
        ),
        (
            "KEXEC_CMDLINE with mask",
            "measure func=KEXEC_CMDLINE mask=MAY_READ".into(),
            ErrorKind::NotAllowedWithFunc,
            1,
            28,
        ),
        ("KEXEC_CMDLINE on hash", "hash func=KEXEC_CMDLINE".into(), ErrorKind::ActionNotAllowedWithFunc, 1, 1),
        ("SETXATTR_CHECK without algos", "appraise func=SETXATTR_CHECK".into(), ErrorKind::SetxattrWithoutAlgos, 1, 10),
        ("SETXATTR_CHECK on measure", "measure func=SETXATTR_CHECK".into(), ErrorKind::ActionNotAllowedWithFunc, 1, 1),
        (
            "SETXATTR_CHECK with fowner",
            "appraise func=SETXATTR_CHECK appraise_algos=sha256 fowner=0".into(),
            ErrorKind::NotAllowedWithFunc,
            1,
            52,
        ),
        (
            "modsig on FILE_CHECK",
            "appraise func=FILE_CHECK appraise_type=imasig|modsig".into(),
            ErrorKind::NotAllowedWithFunc,
            1,
            26,
        ),
        (
            "verity on MODULE_CHECK",
            "measure func=MODULE_CHECK digest_type=verity".into(),
            ErrorKind::NotAllowedWithFunc,
            1,
            27,
        ),
        (
            "blacklist without modsig",
            "appraise func=MODULE_CHECK appraise_type=imasig appraise_flag=check_blacklist".into(),
            ErrorKind::BlacklistWithoutModsig,
            1,
            49,
        ),
        (
            "bad appraise_flag",
            "appraise func=MODULE_CHECK appraise_flag=strict".into(),
            ErrorKind::BadAppraiseFlag,
            1,
            28,
        ),
        ("trailing # comment", "appraise fowner=0 # root files".into(), ErrorKind::TrailingComment, 1, 19),
        ("trailing #comment", "appraise fowner=0\t#root".into(), ErrorKind::TrailingComment, 1, 19),
        ("unknown token", "appraise fowner=0 foo=bar".into(), ErrorKind::UnknownToken, 1, 19),
        ("upper-case action", "Measure func=FILE_CHECK".into(), ErrorKind::UnknownToken, 1, 1),
        ("value-less key", "measure func=".into(), ErrorKind::EmptyValue, 1, 9),
        ("permit_directio with value", "measure permit_directio=1".into(), ErrorKind::UnknownToken, 1, 9),
        ("gt on a value key", "measure fsname>ext4".into(), ErrorKind::UnknownToken, 1, 9),
        ("CRLF line end", "measure func=FILE_CHECK\r".into(), ErrorKind::CarriageReturn, 1, 9),
        ("CRLF after free text", "measure fsname=ext4\r".into(), ErrorKind::CarriageReturn, 1, 9),
        ("line > 4095 bytes", long, ErrorKind::LineTooLong, 1, 1),
        ("NUL byte", "measure\0 func=FILE_CHECK".into(), ErrorKind::NulByte, 1, 8),
        ("empty policy", String::new(), ErrorKind::EmptyPolicy, 1, 1),
        ("comment-only policy", "# nothing here\n\n   # still nothing\n".into(), ErrorKind::EmptyPolicy, 1, 1),
        ("blank-only policy", " \t\n\n".into(), ErrorKind::EmptyPolicy, 1, 1),
    ];
    for (what, text, kind, line, column) in &cases {
        let e = one_err(text);
        assert_eq!((e.kind, e.line, e.column), (*kind, *line, *column), "{what}: {e}");
        assert!(!e.hint.is_empty(), "{what}: hint");
        assert_points_at_token(text, &e);
        // The same line inside a policy, after a comment and a good rule, is reported on its line.
        if *kind != ErrorKind::EmptyPolicy {
            let embedded = format!("# header\nmeasure func=BPRM_CHECK\n\t{text}\n");
            let e2 = one_err(&embedded);
            assert_eq!((e2.kind, e2.line), (*kind, 3), "{what} embedded: {e2}");
            let shift = if *kind == ErrorKind::LineTooLong { 0 } else { 1 };
            assert_eq!(e2.column, column + shift, "{what} embedded column (after a tab)");
        }
    }
}

#[test]
fn hints_say_what_to_do() {
    let e = one_err("appraise fowner=0 # root files");
    assert!(e.hint.contains("line of its own"), "{}", e.hint);
    assert_eq!(e.token, "#");
    let e = one_err("appraise fowner=0\r");
    assert!(e.hint.contains("CRLF"), "{}", e.hint);
    let e = one_err("Measure func=FILE_CHECK");
    assert!(e.hint.contains("`measure`"), "{}", e.hint);
    let e = one_err("measure FUNC=FILE_CHECK");
    assert!(e.hint.contains("`func=`"), "{}", e.hint);
    let e = one_err("measure func=bprm_check");
    assert!(e.hint.contains("func=BPRM_CHECK"), "{}", e.hint);
    let e = one_err("measure uid=0 euid=0");
    assert!(e.hint.contains("share one slot"), "{}", e.hint);
    let e = one_err("measure keyrings=.ima");
    assert!(e.hint.contains("KEY_CHECK"), "{}", e.hint);
    let e = one_err("measure func=KEY_CHECK fowner=0");
    assert!(e.hint.contains("func, uid, gid, keyrings, pcr"), "{}", e.hint);
    let e = one_err("appraise func=BPRM_CHECK appraise_type=sigv3");
    assert!(e.hint.contains("digest_type=verity"), "{}", e.hint);
    let e = one_err("measure template=ima-cgpath");
    assert!(e.hint.contains("ima-ng"), "{}", e.hint);
}

#[test]
fn error_display_format() {
    let e = one_err("appraise fowner=0 foo=bar");
    let s = e.to_string();
    assert!(s.starts_with("line 1:19: unknown token `foo=bar`; hint: "), "{s}");
    let e = one_err("measure pcr=64");
    assert!(e.to_string().starts_with("line 1:9: pcr out of range `pcr=64`; hint: "), "{e}");
}

#[test]
fn every_bad_line_is_reported() {
    let text = "measure\nappraise foo\n# ok\nappraise fowner=0\nmeasure measure\nfunc=FILE_CHECK\n";
    let errs = parse(text).expect_err("bad policy");
    let got: Vec<(usize, ErrorKind)> = errs.iter().map(|e| (e.line, e.kind)).collect();
    assert_eq!(
        got,
        [(2, ErrorKind::UnknownToken), (5, ErrorKind::SecondAction), (6, ErrorKind::NoAction)],
        "{errs:#?}"
    );
}

#[test]
fn first_bad_token_of_a_line_wins() {
    // The kernel stops at the first failing token; so does the parser.
    let e = one_err("measure func=NOPE foo=bar pcr=99");
    assert_eq!((e.kind, e.column), (ErrorKind::UnknownFunc, 9));
    let e = one_err("appraise pcr=99 func=NOPE");
    assert_eq!(e.kind, ErrorKind::PcrOutOfRange);
}

#[test]
fn long_line_limit_is_exact() {
    let fits = format!("measure fsname={}\n", "b".repeat(MAX_LINE_BYTES - 15));
    assert_eq!(fits.len(), MAX_LINE_BYTES + 1);
    ok(&fits);
    let long_comment = format!("#{}\nmeasure\n", "c".repeat(MAX_LINE_BYTES));
    assert_eq!(one_err(&long_comment).kind, ErrorKind::LineTooLong);
}

// ---------------------------------------------------------------------------------------------
// Accepted forms the kernel allows

#[test]
fn kernel_number_formats() {
    let cases = [
        ("dont_appraise fsmagic=9fa0", 0x9fa0u64),
        ("dont_appraise fsmagic=0X9FA0", 0x9fa0),
        ("dont_appraise fsmagic=+0x9fa0", 0x9fa0),
        ("dont_appraise fsmagic=0x0000009fa0", 0x9fa0),
        ("dont_appraise fsmagic=0xffffffffffffffff", u64::MAX),
    ];
    for (text, want) in cases {
        let r = parse_rule(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        match &r.conditions[0] {
            Condition::FsMagic { value, text: t } => {
                assert_eq!(*value, want, "{text}");
                assert!(text.ends_with(t.as_str()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.to_string(), text, "original fsmagic spelling printed");
    }
    let r = parse_rule("measure uid=+007").expect("+ and leading zeros");
    assert_eq!(r.conditions[0], Condition::Uid { op: IdOp::Eq, value: 7 });
    assert_eq!(r.to_string(), "measure uid=7");
    let r = parse_rule("measure pcr=-0").expect("kstrtoint takes -0");
    assert_eq!(r.options, [Opt::Pcr(0)]);
    let r = parse_rule("measure pcr=63").expect("highest pcr");
    assert_eq!(r.options, [Opt::Pcr(63)]);
    assert_eq!(
        parse_rule("measure fowner<4294967294").map(|r| r.to_string()).ok().as_deref(),
        Some("measure fowner<4294967294")
    );
}

#[test]
fn kernel_tolerances() {
    // The action may come anywhere, tokens may be separated by runs of spaces and tabs.
    let r = parse_rule(" \t func=BPRM_CHECK \t measure   mask=MAY_EXEC\t").expect("valid");
    assert_eq!(r.to_string(), "measure func=BPRM_CHECK mask=MAY_EXEC");
    // Repeats the kernel does not reject.
    for text in [
        "measure fsname=ext4 fsname=xfs",
        "measure pcr=10 pcr=11",
        "appraise appraise_type=imasig appraise_type=imasig",
        "appraise func=MODULE_CHECK appraise_type=imasig|modsig appraise_flag=check_blacklist appraise_flag=blacklist",
        "measure permit_directio permit_directio",
    ] {
        let r = parse_rule(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(r.to_string(), text);
    }
    // uid and gid slots are separate; fowner and fgroup each once.
    parse_rule("measure euid=0 egid=0 fowner=0 fgroup=0").expect("distinct slots");
    // LSM values and fsname are free text up to the next blank.
    let r = parse_rule("measure subj_type=unconfined_t obj_user=system_u:object_r fsname=fuse.sshfs").expect("lsm");
    assert_eq!(r.conditions.len(), 3);
    // Template may name a built-in format.
    parse_rule("measure template=d-ng|n-ng|sig").expect("format of ima-sig");
    parse_rule("measure func=KEY_CHECK keyrings=.ima|.builtin_trusted_keys template=ima-buf pcr=12")
        .expect("key check");
    parse_rule("measure func=CRITICAL_DATA label=selinux|kernel_info uid=0").expect("critical data");
    parse_rule("appraise func=SETXATTR_CHECK appraise_algos=sha256,sha384,sha512").expect("setxattr");
    parse_rule("measure func=FILE_CHECK digest_type=verity template=ima-ngv2").expect("measure verity");
    parse_rule("appraise func=BPRM_CHECK digest_type=verity appraise_type=sigv3").expect("verity sigv3");
    parse_rule("appraise func=KEXEC_KERNEL_CHECK appraise_type=imasig|modsig").expect("modsig");
    parse_rule("audit func=BPRM_CHECK").expect("audit");
    parse_rule("dont_hash fsmagic=0x01021994").expect("dont_hash");
    parse_rule("hash func=FILE_CHECK").expect("hash");
    parse_rule("measure func=KEXEC_CMDLINE pcr=14 fsuuid=6A3C1B36-2F7E-4D4B-9C55-0A1B2C3D4E5F").expect("cmdline");
    parse_rule("appraise func=PATH_CHECK appraise_type=imasig permit_directio").expect("PATH_CHECK");
}

#[test]
fn legacy_func_names_round_trip() {
    let r = parse_rule("measure func=PATH_CHECK").expect("alias");
    assert_eq!(r.func(), Some(Func::FileCheck));
    assert_eq!(r.to_string(), "measure func=PATH_CHECK");
    let r = parse_rule("measure func=FILE_MMAP").expect("alias");
    assert_eq!(r.func(), Some(Func::MmapCheck));
    assert_eq!(r.to_string(), "measure func=FILE_MMAP");
    assert_eq!(Func::from_name("MMAP_CHECK"), Some((Func::MmapCheck, false)));
    assert_eq!(Func::from_name("mmap_check"), None);
}

#[test]
fn newer_kernel_features_are_recorded() {
    let cases = [
        ("measure func=MMAP_CHECK_REQPROT mask=MAY_EXEC", Some(SINCE_MMAP_CHECK_REQPROT)),
        ("dont_audit fsname=fuse", Some(SINCE_DONT_AUDIT)),
        ("audit fs_subtype=sshfs", Some(SINCE_FS_SUBTYPE)),
        ("appraise func=SETXATTR_CHECK appraise_algos=sha256,sha3-256", Some(SINCE_SHA3_ALGOS)),
        ("appraise fowner=0", None),
        ("measure func=KEY_CHECK keyrings=.ima", None),
    ];
    for (text, want) in cases {
        let r = parse_rule(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(r.min_kernel(), want, "{text}");
    }
    assert_eq!(SINCE_MMAP_CHECK_REQPROT.to_string(), "6.3");
    assert!(SINCE_MMAP_CHECK_REQPROT > KernelVersion::TARGET_MIN);
    let r = parse_rule("measure func=KEY_CHECK keyrings=.ima").expect("key check");
    let kconfig: Vec<_> = r.requirements().into_iter().filter_map(|q| q.kconfig).collect();
    assert_eq!(kconfig, ["CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS", "CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS"]);
    let p = ok("measure\ndont_audit fsname=fuse\n");
    assert_eq!(p.min_kernel(), Some(SINCE_DONT_AUDIT));
    let r = parse_rule("appraise func=MODULE_CHECK appraise_type=imasig|modsig").expect("modsig");
    assert!(r.requirements().iter().any(|q| q.kconfig == Some("CONFIG_IMA_APPRAISE_MODSIG")));
    let r = parse_rule("measure obj_type=bin_t").expect("lsm");
    assert!(r.requirements().iter().any(|q| q.what == "obj_type="));
}

// ---------------------------------------------------------------------------------------------
// Printing

#[test]
fn policy_text_round_trips_exactly() {
    for text in [
        "measure",
        "measure\n",
        "\n\nmeasure\n\n",
        "  # indented comment\n\tmeasure  func=BPRM_CHECK \t\n   \n#\n",
        "appraise fowner=0\n# no final newline",
    ] {
        let p = ok(text);
        assert_eq!(p.to_string(), text);
        assert_eq!(p.to_text(), text);
        assert_eq!(p.final_newline, text.ends_with('\n'));
    }
    let p = ok("\tmeasure  func=BPRM_CHECK \n");
    assert_eq!(p.to_canonical_text(), "measure func=BPRM_CHECK\n");
    assert_eq!(p.lines, [Line::Rule { index: 0, text: Some("\tmeasure  func=BPRM_CHECK ".into()) }]);
}

#[test]
fn policy_from_rules_prints_canonically() {
    let rules = vec![
        Rule { line: 0, action: Action::DontAppraise, conditions: vec![Condition::fsmagic(0x9fa0)], options: vec![] },
        Rule {
            line: 0,
            action: Action::Appraise,
            conditions: vec![Condition::Fowner { op: IdOp::Eq, value: 0 }],
            options: vec![Opt::AppraiseType(AppraiseType::ImaSig)],
        },
    ];
    let p = Policy::from_rules(rules);
    let text = p.to_string();
    assert_eq!(text, "dont_appraise fsmagic=0x9fa0\nappraise fowner=0 appraise_type=imasig\n");
    let back = ok(&text);
    assert_eq!(back.rules, p.rules);
    assert_eq!(Policy::from_rules(vec![]).to_string(), "");
}

#[test]
fn rule_from_str() {
    let r: Rule = "measure func=BPRM_CHECK".parse().expect("valid");
    assert_eq!(r.line, 1);
    let e = "measure\nmeasure".parse::<Rule>().expect_err("two lines");
    assert_eq!(e.column, 8);
    let e = "# comment".parse::<Rule>().expect_err("no rule");
    assert_eq!(e.kind, ErrorKind::NoAction);
}

// ---------------------------------------------------------------------------------------------
// Property tests

mod props {
    use super::super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    fn word() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_.:-]{1,10}"
    }

    fn id_cond() -> impl Strategy<Value = (bool, IdOp, u32)> {
        (any::<bool>(), select(vec![IdOp::Eq, IdOp::Gt, IdOp::Lt]), prop_oneof![Just(0u32), 0..u32::MAX])
    }

    fn fsmagic() -> impl Strategy<Value = Condition> {
        (any::<u64>(), 0..4u8, 0..3usize).prop_map(|(v, style, pad)| {
            let zeros = "0".repeat(pad);
            let text = match style {
                0 => format!("0x{zeros}{v:x}"),
                1 => format!("{zeros}{v:x}"),
                2 => format!("0X{zeros}{v:X}"),
                _ => format!("+0x{v:x}"),
            };
            Condition::FsMagic { value: v, text }
        })
    }

    #[derive(Debug, Clone)]
    struct Ingredients {
        action: Action,
        func: Option<(Func, bool)>,
        mask: Option<(bool, Mask)>,
        fsmagic: Option<Condition>,
        fsname: Option<String>,
        fs_subtype: Option<String>,
        fsuuid: Option<String>,
        uid: Option<(bool, IdOp, u32)>,
        gid: Option<(bool, IdOp, u32)>,
        fowner: Option<(IdOp, u32)>,
        fgroup: Option<(IdOp, u32)>,
        lsm: Vec<Option<String>>,
        pcr: Option<u32>,
        appraise_type: Option<AppraiseType>,
        flag: bool,
        algos: Option<Vec<String>>,
        template: Option<String>,
        list: Option<Vec<String>>,
        directio: bool,
        verity: bool,
        order: Vec<u16>,
    }

    fn ingredients() -> impl Strategy<Value = Ingredients> {
        let algos: Vec<&str> = HASH_ALGO_NAMES.iter().copied().filter(|a| !REMOVED_HASH_ALGOS.contains(a)).collect();
        let templates: Vec<String> =
            BUILTIN_TEMPLATES.iter().flat_map(|(n, f)| [n.to_string(), f.to_string()]).collect();
        let a = (
            select(Action::ALL.to_vec()),
            proptest::option::of((select(Func::ALL.to_vec()), any::<bool>())),
            proptest::option::of((any::<bool>(), select(Mask::ALL.to_vec()))),
            proptest::option::of(fsmagic()),
            proptest::option::of(word()),
            proptest::option::of(word()),
            proptest::option::of("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        );
        let b = (
            proptest::option::of(id_cond()),
            proptest::option::of(id_cond()),
            proptest::option::of(id_cond().prop_map(|(_, o, v)| (o, v))),
            proptest::option::of(id_cond().prop_map(|(_, o, v)| (o, v))),
            proptest::collection::vec(proptest::option::weighted(0.15, word()), 6),
            proptest::option::of(0..=MAX_PCR),
            proptest::option::of(select(AppraiseType::ALL.to_vec())),
        );
        let c = (
            any::<bool>(),
            proptest::option::of(proptest::collection::vec(select(algos).prop_map(str::to_string), 1..4)),
            proptest::option::of(select(templates)),
            proptest::option::of(proptest::collection::vec(word(), 1..4)),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(any::<u16>(), 32),
        );
        (a, b, c).prop_map(|(a, b, c)| Ingredients {
            action: a.0,
            func: a.1,
            mask: a.2,
            fsmagic: a.3,
            fsname: a.4,
            fs_subtype: a.5,
            fsuuid: a.6,
            uid: b.0,
            gid: b.1,
            fowner: b.2,
            fgroup: b.3,
            lsm: b.4,
            pcr: b.5,
            appraise_type: b.6,
            flag: c.0,
            algos: c.1,
            template: c.2,
            list: c.3,
            directio: c.4,
            verity: c.5,
            order: c.6,
        })
    }

    #[derive(PartialEq)]
    enum Group {
        File,
        Modsig,
        Cmdline,
        Key,
        Critical,
        Setxattr,
    }

    /// Builds a rule the kernel accepts from random ingredients, following ima_validate_rule.
    fn build(i: Ingredients) -> Rule {
        let action = i.action;
        let measure_like = matches!(action, Action::Measure | Action::DontMeasure);
        let func = match i.func {
            Some((Func::KexecCmdline | Func::KeyCheck | Func::CriticalData, _)) if !measure_like => None,
            Some((Func::SetxattrCheck, _)) if action != Action::Appraise => None,
            f => f,
        };
        let group = match func.map(|(f, _)| f) {
            Some(Func::ModuleCheck | Func::KexecKernelCheck | Func::KexecInitramfsCheck) => Group::Modsig,
            Some(Func::KexecCmdline) => Group::Cmdline,
            Some(Func::KeyCheck) => Group::Key,
            Some(Func::CriticalData) => Group::Critical,
            Some(Func::SetxattrCheck) => Group::Setxattr,
            _ => Group::File,
        };
        let mut conditions = Vec::new();
        let mut options = Vec::new();
        if let Some((func, legacy)) = func {
            conditions.push(Condition::Func { func, legacy_name: legacy && func.legacy_name().is_some() });
        }
        if group == Group::Setxattr {
            conditions.extend(i.lsm.iter().take(1).flatten().map(|v| Condition::ObjType(v.clone())));
            options.push(Opt::AppraiseAlgos(i.algos.unwrap_or_else(|| vec!["sha256".into()])));
            return Rule { line: 1, action, conditions, options };
        }
        let file_like = matches!(group, Group::File | Group::Modsig | Group::Cmdline);
        let key_like = matches!(group, Group::Key | Group::Critical);
        if matches!(group, Group::File | Group::Modsig) {
            if let Some((inverted, mask)) = i.mask {
                conditions.push(Condition::Mask { inverted, mask });
            }
        }
        if file_like {
            conditions.extend(i.fsmagic);
            conditions.extend(i.fsname.map(Condition::FsName));
            conditions.extend(i.fs_subtype.map(Condition::FsSubtype));
            conditions.extend(i.fsuuid.map(Condition::FsUuid));
            if let Some((op, value)) = i.fowner {
                conditions.push(Condition::Fowner { op, value });
            }
            if let Some((op, value)) = i.fgroup {
                conditions.push(Condition::Fgroup { op, value });
            }
            let lsm = [
                Condition::ObjUser,
                Condition::ObjRole,
                Condition::ObjType,
                Condition::SubjUser,
                Condition::SubjRole,
                Condition::SubjType,
            ];
            for (make, v) in lsm.iter().zip(&i.lsm) {
                if let Some(v) = v {
                    conditions.push(make(v.clone()));
                }
            }
        }
        if let Some((e, op, value)) = i.uid {
            conditions.push(if e && !key_like { Condition::Euid { op, value } } else { Condition::Uid { op, value } });
        }
        if let Some((e, op, value)) = i.gid {
            conditions.push(if e && !key_like { Condition::Egid { op, value } } else { Condition::Gid { op, value } });
        }
        if action == Action::Measure {
            options.extend(i.pcr.map(Opt::Pcr));
            options.extend(i.template.map(Opt::Template));
        }
        match group {
            Group::Key => options.extend(i.list.map(Opt::Keyrings)),
            Group::Critical => options.extend(i.list.map(Opt::Label)),
            _ => {}
        }
        if matches!(group, Group::File | Group::Modsig) && i.directio {
            options.push(Opt::PermitDirectio);
        }
        let verity = group == Group::File && i.verity;
        if action == Action::Appraise && matches!(group, Group::File | Group::Modsig) {
            options.extend(i.algos.map(Opt::AppraiseAlgos));
            let at = match (i.appraise_type, verity, &group) {
                (_, true, _) => Some(AppraiseType::SigV3),
                (Some(AppraiseType::SigV3), false, _) => Some(AppraiseType::ImaSig),
                (Some(AppraiseType::ImaSigModSig), _, Group::File) => Some(AppraiseType::ImaSig),
                (t, _, _) => t,
            };
            if verity {
                options.push(Opt::DigestType(DigestType::Verity));
            }
            if let Some(at) = at {
                options.push(Opt::AppraiseType(at));
                if at == AppraiseType::ImaSigModSig && i.flag {
                    options.push(Opt::AppraiseFlag("check_blacklist".into()));
                }
            }
        } else if verity {
            options.push(Opt::DigestType(DigestType::Verity));
        }

        // Shuffle both lists, then put digest_type back before appraise_type.
        let mut keys = i.order.iter().copied();
        let mut keyed: Vec<(u16, Condition)> = conditions.into_iter().map(|c| (keys.next().unwrap_or(0), c)).collect();
        keyed.sort_by_key(|(k, _)| *k);
        let conditions = keyed.into_iter().map(|(_, c)| c).collect();
        let mut keyed: Vec<(u16, Opt)> = options.into_iter().map(|o| (keys.next().unwrap_or(0), o)).collect();
        keyed.sort_by_key(|(k, _)| *k);
        let mut options: Vec<Opt> = keyed.into_iter().map(|(_, o)| o).collect();
        let d = options.iter().position(|o| matches!(o, Opt::DigestType(_)));
        let a = options.iter().position(|o| matches!(o, Opt::AppraiseType(_)));
        if let (Some(d), Some(a)) = (d, a) {
            if d > a {
                options.swap(d, a);
            }
        }
        Rule { line: 1, action, conditions, options }
    }

    fn rule() -> impl Strategy<Value = Rule> {
        ingredients().prop_map(build)
    }

    /// A rule written with the action anywhere before `template=`, conditions and options
    /// interleaved (each list in order), and random blanks.
    fn render(rule: &Rule, seed: &[u8]) -> String {
        let mut seed = seed.iter().copied().cycle();
        let mut next = move || seed.next().unwrap_or(0);
        let mut tokens: Vec<String> = Vec::new();
        let (mut ci, mut oi) = (0, 0);
        while ci < rule.conditions.len() || oi < rule.options.len() {
            let take_cond = oi >= rule.options.len() || (ci < rule.conditions.len() && next() % 2 == 0);
            if take_cond {
                tokens.push(rule.conditions[ci].to_string());
                ci += 1;
            } else {
                tokens.push(rule.options[oi].to_string());
                oi += 1;
            }
        }
        let limit = tokens.iter().position(|t| t.starts_with("template=")).unwrap_or(tokens.len());
        let at = usize::from(next()) % (limit + 1);
        tokens.insert(at, rule.action.keyword().to_string());
        let blanks = [" ", "\t", "  ", " \t ", "\t\t"];
        let lead = ["", "", " ", "\t", " \t"];
        let mut out = lead[usize::from(next()) % lead.len()].to_string();
        for (k, t) in tokens.iter().enumerate() {
            if k > 0 {
                out.push_str(blanks[usize::from(next()) % blanks.len()]);
            }
            out.push_str(t);
        }
        out.push_str(lead[usize::from(next()) % lead.len()]);
        out
    }

    #[derive(Debug, Clone)]
    enum Item {
        Rule(Rule, Vec<u8>),
        Comment(String),
        Blank(String),
    }

    fn item() -> impl Strategy<Value = Item> {
        prop_oneof![
            3 => (rule(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(r, s)| Item::Rule(r, s)),
            1 => "[ \t]{0,2}#[^\n\u{0}]{0,30}".prop_map(Item::Comment),
            1 => "[ \t]{0,3}".prop_map(Item::Blank),
        ]
    }

    /// The generator reaches every group of `ima_validate_rule` and every option, so the round
    /// trip property covers them.
    #[test]
    fn generator_covers_the_grammar() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let strategy = rule();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3000 {
            let r = strategy.new_tree(&mut runner).map(|t| t.current());
            let r = r.unwrap_or_else(|e| panic!("{e}"));
            seen.insert(r.action.keyword().to_string());
            for c in &r.conditions {
                seen.insert(c.key().to_string());
                if let Condition::Func { func, legacy_name } = c {
                    seen.insert(format!("{}{}", func.name(), if *legacy_name { "/legacy" } else { "" }));
                }
            }
            for o in &r.options {
                seen.insert(match o {
                    Opt::AppraiseType(t) => format!("appraise_type={t}"),
                    other => other.key().to_string(),
                });
            }
        }
        let mut want: Vec<String> = Action::ALL.iter().map(|a| a.keyword().to_string()).collect();
        want.extend(Func::ALL.iter().map(|f| f.name().to_string()));
        want.extend(["FILE_CHECK/legacy", "MMAP_CHECK/legacy"].map(String::from));
        want.extend(
            [
                "mask",
                "fsmagic",
                "fsname",
                "fs_subtype",
                "fsuuid",
                "uid",
                "euid",
                "gid",
                "egid",
                "fowner",
                "fgroup",
                "obj_user",
                "obj_role",
                "obj_type",
                "subj_user",
                "subj_role",
                "subj_type",
                "pcr",
                "template",
                "keyrings",
                "label",
                "permit_directio",
                "digest_type",
                "appraise_flag",
                "appraise_algos",
                "appraise_type=imasig",
                "appraise_type=imasig|modsig",
                "appraise_type=sigv3",
            ]
            .map(String::from),
        );
        let missing: Vec<&String> = want.iter().filter(|w| !seen.contains(*w)).collect();
        assert!(missing.is_empty(), "generator never produced {missing:?}");
    }

    proptest! {
        // No regression files: they would land outside this module's folder.
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn generated_rule_prints_and_parses_back(rule in rule()) {
            let text = rule.to_string();
            let parsed = parse_rule(&text);
            prop_assert!(parsed.is_ok(), "{} -> {:?}", text, parsed);
            let parsed = parsed.unwrap_or_else(|_| unreachable!());
            prop_assert_eq!(&parsed, &rule);
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn generated_policy_round_trips_byte_for_byte(
            items in proptest::collection::vec(item(), 0..12),
            first in rule(),
            at in any::<proptest::sample::Index>(),
            final_newline in any::<bool>(),
        ) {
            let mut items = items;
            let pos = at.index(items.len() + 1);
            items.insert(pos, Item::Rule(first, vec![3, 1, 4, 1, 5]));
            let mut lines = Vec::new();
            let mut expected = Vec::new();
            for (n, item) in items.iter().enumerate() {
                match item {
                    Item::Rule(r, seed) => {
                        lines.push(render(r, seed));
                        expected.push(Rule { line: n + 1, ..r.clone() });
                    }
                    Item::Comment(c) => lines.push(c.clone()),
                    Item::Blank(b) => lines.push(b.clone()),
                }
            }
            let mut text = lines.join("\n");
            if final_newline {
                text.push('\n');
            }
            let parsed = parse(&text);
            prop_assert!(parsed.is_ok(), "{:?} -> {:?}", text, parsed);
            let policy = parsed.unwrap_or_else(|_| unreachable!());
            prop_assert_eq!(policy.to_string(), text);
            prop_assert_eq!(&policy.rules, &expected);
            // A last blank line without a final newline reads as a final newline.
            let merged = !final_newline && matches!(items.last(), Some(Item::Blank(b)) if b.is_empty());
            prop_assert_eq!(policy.lines.len(), items.len() - usize::from(merged));
            // The canonical text parses to the same rules (line numbers aside).
            let canon = parse(&policy.to_canonical_text());
            prop_assert!(canon.is_ok());
            let canon = canon.unwrap_or_else(|_| unreachable!());
            let strip = |rs: &[Rule]| rs.iter().map(|r| Rule { line: 0, ..r.clone() }).collect::<Vec<_>>();
            prop_assert_eq!(strip(&canon.rules), strip(&policy.rules));
        }

        #[test]
        fn arbitrary_text_never_panics_and_round_trips_when_valid(text in "(?s).{0,200}") {
            match parse(&text) {
                Ok(p) => prop_assert_eq!(p.to_string(), text),
                Err(errs) => {
                    prop_assert!(!errs.is_empty());
                    for e in errs {
                        prop_assert!(e.line >= 1 && e.column >= 1);
                    }
                }
            }
        }

        #[test]
        fn token_soup_never_panics_and_errors_point_at_tokens(
            toks in proptest::collection::vec(select(vec![
                "measure", "appraise", "dont_appraise", "audit", "hash", "func=FILE_CHECK", "func=KEY_CHECK",
                "func=SETXATTR_CHECK", "func=MODULE_CHECK", "mask=^MAY_READ", "fsmagic=0x9fa0", "uid=0", "euid=0",
                "gid>1", "fowner=0", "pcr=10", "pcr=99", "template=ima-ng", "appraise_type=imasig",
                "appraise_type=sigv3", "appraise_type=imasig|modsig", "digest_type=verity", "appraise_flag=check_blacklist",
                "appraise_algos=sha256", "keyrings=.ima", "label=x", "permit_directio", "obj_type=x", "#", "\n", " ",
                "\t", "bogus", "func=", "fsuuid=0",
            ]), 0..14),
        ) {
            let text = toks.join(" ");
            match parse(&text) {
                Ok(p) => prop_assert_eq!(p.to_string(), text.clone()),
                Err(errs) => {
                    for e in &errs {
                        if !e.token.is_empty() && e.kind != ErrorKind::LineTooLong {
                            let line = text.split('\n').nth(e.line - 1).unwrap_or("");
                            let rest: String = line.chars().skip(e.column - 1).collect();
                            prop_assert!(rest.starts_with(&e.token), "{:?}: {}", text, e);
                        }
                    }
                }
            }
        }
    }
}
