//! Every refusal of a bad ceremony script, with its exact message (file, line, column, key).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::script::Script;

/// A small valid script; tests edit one thing in it.
const GOOD: &str = r#"id = "t"
version = "1"
title = "T"
purpose = "Test."

[roles]
administrator = 1
witness = 1
custodians = { threshold = 2, total = 3 }

[[steps]]
id = "preflight"
title = "Preflight"
role = "administrator"
action = "preflight"
instructions = "Check the air gap."

[[steps]]
id = "gen"
title = "Generate"
role = "administrator"
action = "generate-key"
params = { policy = "ec-p256-sign", label = "k" }
instructions = "Generate the key."
sign_off = { witness = 1 }

[[steps]]
id = "rotate"
title = "Rotate"
role = "administrator"
action = "rotate"
quorum = true
instructions = "Rotate the key."
sign_off = { custodian = "threshold" }

[[steps]]
id = "close"
title = "Close"
role = "administrator"
action = "sign-record"
instructions = "Sign the record."
"#;

fn err(text: &str) -> String {
    match Script::parse("t.toml", text.as_bytes()) {
        Ok(_) => panic!("script was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "test bug: {from:?} not in GOOD");
    GOOD.replacen(from, to, 1)
}

#[test]
fn good_script_is_accepted() {
    let s = Script::parse("t.toml", GOOD.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.steps.len(), 4);
    assert_eq!(s.steps[1].line, 18);
    assert_eq!(
        s.roles.custodians.map(|t| t.to_string()),
        Some("2 of 3".into())
    );
}

#[test]
fn unknown_top_level_key() {
    assert_eq!(
        err(&edit("version = \"1\"\n", "version = \"1\"\ncolour = \"red\"\n")),
        "t.toml:3:1: colour: unknown key `colour`; allowed here: id, version, title, purpose, roles, steps"
    );
}

#[test]
fn unknown_key_in_a_step_names_that_step() {
    assert_eq!(
        err(&edit("action = \"rotate\"\n", "action = \"rotate\"\nquorom = true\n")),
        "t.toml:32:1: steps[3].quorom: unknown key `quorom`; allowed here: id, title, role, action, instructions, params, sign_off, quorum, compliance"
    );
}

#[test]
fn missing_key_points_at_the_step() {
    assert_eq!(
        err(&edit("title = \"Close\"\n", "")),
        "t.toml:36:1: steps[4]: missing key `title`"
    );
}

#[test]
fn wrong_type_is_a_syntax_problem_on_its_line() {
    assert_eq!(
        err(&edit("quorum = true", "quorum = \"yes\"")),
        "t.toml:32:10: steps[3].quorum: invalid type: string \"yes\", expected a boolean"
    );
}

#[test]
fn toml_syntax_error() {
    assert_eq!(
        err(&edit("title = \"T\"", "title = \"T")),
        "t.toml:3:11: title: invalid basic string"
    );
}

#[test]
fn unknown_action_reports_the_step_line() {
    assert_eq!(
        err(&edit("action = \"generate-key\"", "action = \"generate-kee\"")),
        "t.toml:22:10: steps[2].action: unknown action \"generate-kee\"; the engine knows: preflight, clock-check, hsm-init, enrol-custodian, generate-and-split-root-kek, distribute-share, verify-shares, generate-key, backup, rotate, destroy, recover, replace-custodian, checkpoint, sign-record, manual"
    );
}

#[test]
fn k_greater_than_n() {
    assert_eq!(
        err(&edit("threshold = 2, total = 3", "threshold = 4, total = 3")),
        "t.toml:9:28: roles.custodians.threshold: threshold 4 is larger than the 3 custodians: the root key could never be rebuilt; use a threshold of at most 3"
    );
}

#[test]
fn k_below_two() {
    assert_eq!(
        err(&edit("threshold = 2, total = 3", "threshold = 1, total = 3")),
        "t.toml:9:28: roles.custodians.threshold: threshold 1 is below 2: a single custodian could rebuild the root key alone; use at least 2"
    );
}

#[test]
fn more_than_sixteen_custodians() {
    assert_eq!(
        err(&edit(
            "threshold = 2, total = 3",
            "threshold = 2, total = 17"
        )),
        "t.toml:9:39: roles.custodians.total: 17 custodians is more than the 16 Keyrite supports"
    );
}

#[test]
fn declared_role_no_step_can_fill() {
    assert_eq!(
        err(&edit("witness = 1\n", "witness = 1\nauditor = 1\n")),
        "t.toml:9:11: roles.auditor: role auditor is declared but no step acts as auditor or needs a auditor's sign-off; remove it from [roles] or give it a step"
    );
}

#[test]
fn step_acting_as_undeclared_role() {
    assert_eq!(
        err(&edit(
            "role = \"administrator\"\naction = \"sign-record\"",
            "role = \"auditor\"\naction = \"sign-record\""
        )),
        "t.toml:39:8: steps[4].role: step \"close\" acts as auditor but [roles] declares no auditor; declare it or pick a declared role"
    );
}

#[test]
fn unknown_role() {
    assert_eq!(
        err(&edit(
            "role = \"administrator\"\naction = \"sign-record\"",
            "role = \"officer\"\naction = \"sign-record\""
        )),
        "t.toml:39:8: steps[4].role: unknown role \"officer\"; roles are: administrator, witness, custodian, auditor"
    );
}

#[test]
fn sign_off_needs_more_people_than_declared() {
    assert_eq!(
        err(&edit("sign_off = { witness = 1 }", "sign_off = { witness = 2 }")),
        "t.toml:25:24: steps[2].sign_off.witness: step \"gen\" needs 2 witness sign-off(s) but [roles] declares 1"
    );
}

#[test]
fn sign_off_bad_value() {
    assert_eq!(
        err(&edit("sign_off = { witness = 1 }", "sign_off = { witness = \"threshold\" }")),
        "t.toml:25:24: steps[2].sign_off.witness: step \"gen\": witness sign-off must be a whole number from 1 to 16, \"all\", not \"threshold\""
    );
}

#[test]
fn quorum_without_custodians() {
    let text = edit("custodians = { threshold = 2, total = 3 }\n", "")
        .replace("quorum = true\n", "")
        .replace("sign_off = { custodian = \"threshold\" }\n", "")
        .replace(
            "action = \"rotate\"\n",
            "action = \"manual\"\nquorum = true\n",
        );
    assert_eq!(
        err(&text),
        "t.toml:31:10: steps[3].quorum: step \"rotate\" needs quorum approval but the script declares no custodians; add [roles.custodians] with threshold and total"
    );
}

#[test]
fn rotate_without_quorum() {
    assert_eq!(
        err(&edit("quorum = true\n", "")),
        "t.toml:27:1: steps[3].quorum: step \"rotate\": action rotate always needs K-of-N quorum approval; set quorum = true"
    );
}

#[test]
fn share_action_without_custodians() {
    let text = edit("custodians = { threshold = 2, total = 3 }\n", "")
        .replace("quorum = true\n", "")
        .replace("sign_off = { custodian = \"threshold\" }\n", "")
        .replace("action = \"rotate\"\n", "action = \"distribute-share\"\n");
    assert_eq!(
        err(&text),
        "t.toml:30:10: steps[3].action: step \"rotate\": action distribute-share works with custodians' shares but the script declares no custodians; add [roles.custodians] with threshold and total"
    );
}

#[test]
fn duplicate_step_ids() {
    assert_eq!(
        err(&edit("id = \"close\"", "id = \"gen\"")),
        "t.toml:37:6: steps[4].id: duplicate step id \"gen\"; step 2 already uses it"
    );
}

#[test]
fn bad_step_id() {
    assert_eq!(
        err(&edit("id = \"close\"", "id = \"Close_Out\"")),
        "t.toml:37:6: steps[4].id: step id \"Close_Out\" may only hold lowercase letters, digits and '-' (not first or last)"
    );
}

#[test]
fn action_parameter_missing() {
    assert_eq!(
        err(&edit("params = { policy = \"ec-p256-sign\", label = \"k\" }", "params = { policy = \"ec-p256-sign\" }")),
        "t.toml:23:10: steps[2].params: step \"gen\": action generate-key needs parameter `label` (a non-empty string of at most 128 bytes) in its params table"
    );
}

#[test]
fn action_parameters_missing_without_a_params_table() {
    assert_eq!(
        err(&edit("params = { policy = \"ec-p256-sign\", label = \"k\" }\n", "")),
        "t.toml:18:1: steps[2].params: step \"gen\": action generate-key needs parameter `policy` (a non-empty string of at most 128 bytes) in its params table\n\
         t.toml:18:1: steps[2].params: step \"gen\": action generate-key needs parameter `label` (a non-empty string of at most 128 bytes) in its params table"
    );
}

#[test]
fn action_parameter_of_the_wrong_kind() {
    assert_eq!(
        err(&edit("label = \"k\"", "label = 7")),
        "t.toml:23:45: steps[2].params.label: step \"gen\": parameter `label` of action generate-key must be a non-empty string of at most 128 bytes, not the integer 7"
    );
}

#[test]
fn action_parameter_unknown() {
    assert_eq!(
        err(&edit("label = \"k\"", "label = \"k\", curve = \"p256\"")),
        "t.toml:23:58: steps[2].params.curve: step \"gen\": action generate-key takes no parameter `curve`; it takes: policy, label"
    );
}

#[test]
fn parameter_for_an_action_without_parameters() {
    assert_eq!(
        err(&edit("action = \"preflight\"\n", "action = \"preflight\"\nparams = { strict = true }\n")),
        "t.toml:16:21: steps[1].params.strict: step \"preflight\": action preflight takes no parameter `strict`; it takes: no parameters"
    );
}

#[test]
fn empty_instructions() {
    assert_eq!(
        err(&edit("instructions = \"Sign the record.\"", "instructions = \"  \\n \"")),
        "t.toml:41:16: steps[4].instructions: step \"close\" has empty instructions; say what the people in the room do and check"
    );
}

#[test]
fn hsm_action_before_preflight() {
    assert_eq!(
        err(&edit("action = \"preflight\"", "action = \"manual\"")),
        "t.toml:22:10: steps[2].action: step \"gen\": action generate-key touches the HSM but no preflight step comes before it; production must check the air gap first\n\
         t.toml:31:10: steps[3].action: step \"rotate\": action rotate touches the HSM but no preflight step comes before it; production must check the air gap first"
    );
}

#[test]
fn must_end_with_sign_record() {
    assert_eq!(
        err(&edit("action = \"sign-record\"", "action = \"checkpoint\"")),
        "t.toml:40:10: steps[4].action: the last step is \"close\"; a ceremony must end with a sign-record step so that its record is closed and signed"
    );
}

#[test]
fn new_shares_must_be_verified_by_every_custodian() {
    let text = edit(
        "action = \"generate-key\"\nparams = { policy = \"ec-p256-sign\", label = \"k\" }",
        "action = \"generate-and-split-root-kek\"\nparams = { label = \"root\" }",
    );
    assert_eq!(
        err(&text),
        "t.toml:22:10: steps[2].action: step \"gen\" makes new shares but no later verify-shares step has every custodian (3) sign off; add one before the record is signed"
    );
}

#[test]
fn bad_compliance_reference() {
    assert_eq!(
        err(&edit("instructions = \"Check the air gap.\"", "instructions = \"Check the air gap.\"\ncompliance = [\"PCI DSS 3.7.6\", \"SOX 404\"]")),
        "t.toml:17:32: steps[1].compliance[2]: compliance reference \"SOX 404\" is not recognised; write it as FRAMEWORK CLAUSE with FRAMEWORK one of: HIPAA, ISO 27001, SOC 2, PCI DSS, BR, NIST, WebTrust (e.g. \"PCI DSS 3.7.6\")"
    );
}

#[test]
fn several_problems_are_all_reported_in_file_order() {
    let text = edit("threshold = 2, total = 3", "threshold = 1, total = 3")
        .replace("action = \"generate-key\"", "action = \"make-key\"");
    assert_eq!(
        err(&text),
        "t.toml:9:28: roles.custodians.threshold: threshold 1 is below 2: a single custodian could rebuild the root key alone; use at least 2\n\
         t.toml:22:10: steps[2].action: unknown action \"make-key\"; the engine knows: preflight, clock-check, hsm-init, enrol-custodian, generate-and-split-root-kek, distribute-share, verify-shares, generate-key, backup, rotate, destroy, recover, replace-custodian, checkpoint, sign-record, manual"
    );
}

#[test]
fn not_utf8() {
    let mut bytes = GOOD.as_bytes().to_vec();
    bytes.insert(3, 0xff);
    match Script::parse("t.toml", &bytes) {
        Ok(_) => panic!("accepted"),
        Err(e) => assert_eq!(
            e.to_string(),
            "t.toml: the ceremony script is not UTF-8 text (byte 3 is not); save it as UTF-8"
        ),
    }
}

#[test]
fn missing_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("none.toml");
    match Script::load(&path) {
        Ok(_) => panic!("accepted"),
        Err(e) => assert_eq!(
            e.to_string(),
            format!(
                "cannot read ceremony script {}: No such file or directory (os error 2)",
                path.display()
            )
        ),
    }
}

#[test]
fn digest_is_over_exact_bytes() {
    let a = Script::parse("t.toml", GOOD.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let with_comment = format!("{GOOD}# reviewed\n");
    let b = Script::parse("t.toml", with_comment.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a.digest, b.digest, "a comment changes the reviewed bytes");
    assert_eq!(
        a.digest,
        keyrite_core::script::ScriptDigest::of(GOOD.as_bytes())
    );
    assert_eq!(a.text(), GOOD);
}

#[test]
fn unknown_key_policy_is_refused_before_any_ceremony() {
    assert_eq!(
        err(&edit(
            "params = { policy = \"ec-p256-sign\", label = \"k\" }",
            "params = { policy = \"signing-p256\", label = \"k\" }"
        )),
        "t.toml:23:21: steps[2].params.policy: step \"gen\": unknown key policy \"signing-p256\"; known policies: aes256-dek, ec-p256-sign, ec-p384-sign, ed25519-sign, rsa3072-sign, rsa4096-sign, record-signing, root-kek-import"
    );
}

#[test]
fn key_label_leading_out_of_the_directory_is_refused_at_its_value() {
    assert_eq!(
        err(&edit("label = \"k\"", "label = \"../../elsewhere\"")),
        "t.toml:23:45: steps[2].params.label: step \"gen\": parameter `label`: key label \
         \"../../elsewhere\" contains the dot segment \"..\"; a name must not lead out of its \
         directory"
    );
}

#[test]
fn every_kind_of_bad_name_is_refused_with_its_reason() {
    let cases = [
        (
            "a/b",
            "key label \"a/b\" contains the path separator '/'; a name must not lead into another \
             directory",
        ),
        (
            "a\\\\b",
            "key label \"a\\\\b\" contains the path separator '\\'; a name must not lead into \
             another directory",
        ),
        (
            "..",
            "key label \"..\" contains the dot segment \"..\"; a name must not lead out of its \
             directory",
        ),
        (
            "a\\u0000b",
            "key label \"a\\0b\" contains the control character U+0000; names are printed on \
             records and must read the same everywhere",
        ),
        (
            "a\\tb",
            "key label \"a\\tb\" contains the control character U+0009; names are printed on \
             records and must read the same everywhere",
        ),
        (
            ".k",
            "key label \".k\" starts with '.'; a name must start with a letter or a digit",
        ),
        (
            "k 1",
            "key label \"k 1\" contains the character ' ' (U+0020); allowed are ASCII letters, \
             digits and - _ . ~ @ +",
        ),
        (
            "k234567890123456789012345678901234",
            "key label \"k234567890123456789012345678901234\" has 34 bytes; at most 32 are \
             allowed (the vendor quirks' label limit)",
        ),
    ];
    for (toml_value, why) in cases {
        assert_eq!(
            err(&edit("label = \"k\"", &format!("label = \"{toml_value}\""))),
            format!("t.toml:23:45: steps[2].params.label: step \"gen\": parameter `label`: {why}"),
            "{toml_value}"
        );
    }
}

#[test]
fn backup_key_and_wrap_key_and_token_label_are_names_too() {
    let script = GOOD.replacen(
        "[[steps]]\nid = \"rotate\"",
        "[[steps]]\nid = \"bk\"\ntitle = \"B\"\nrole = \"administrator\"\naction = \"backup\"\n\
         params = { key = \"k/x\", wrap_key = \"..\" }\ninstructions = \"B.\"\n\n\
         [[steps]]\nid = \"init\"\ntitle = \"I\"\nrole = \"administrator\"\naction = \"hsm-init\"\n\
         params = { token_label = \"tok/1\" }\ninstructions = \"I.\"\n\n\
         [[steps]]\nid = \"rotate\"",
        1,
    );
    assert_eq!(
        err(&script),
        "t.toml:32:18: steps[3].params.key: step \"bk\": parameter `key`: key label or id \
         \"k/x\" contains the path separator '/'; a name must not lead into another directory\n\
         t.toml:32:36: steps[3].params.wrap_key: step \"bk\": parameter `wrap_key`: wrapping key \
         label \"..\" contains the dot segment \"..\"; a name must not lead out of its directory\n\
         t.toml:40:26: steps[4].params.token_label: step \"init\": parameter `token_label`: \
         token label \"tok/1\" contains the path separator '/'; a name must not lead into \
         another directory"
    );
}

#[test]
fn a_step_is_never_signed_off_by_the_one_who_performs_it() {
    assert_eq!(
        err(&edit(
            "role = \"administrator\"\naction = \"generate-key\"",
            "role = \"witness\"\naction = \"generate-key\""
        )),
        "t.toml:25:24: steps[2].sign_off.witness: step \"gen\" acts as witness and needs 1 witness sign-off(s) from someone other than the witness who performs it, but [roles] declares 1 of that role in all; let another role sign it off or declare more"
    );
    // With a second witness, one besides the one acting can sign.
    let two = edit(
        "role = \"administrator\"\naction = \"generate-key\"",
        "role = \"witness\"\naction = \"generate-key\"",
    )
    .replacen("witness = 1\n", "witness = 2\n", 1);
    Script::parse("t.toml", two.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_role_combination_names_two_different_declared_roles() {
    let s = Script::parse(
        "t.toml",
        edit(
            "witness = 1\n",
            "witness = 1\ncombine = [[\"custodian\", \"witness\"]]\n",
        )
        .as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.roles.may_combine(
        keyrite_core::script::Role::Witness,
        keyrite_core::script::Role::Custodian
    ));
    assert!(!s.roles.may_combine(
        keyrite_core::script::Role::Witness,
        keyrite_core::script::Role::Administrator
    ));
    for (combine, problem) in [
        (
            "[[\"witness\", \"auditor\"]]",
            "[roles] declares no auditor",
        ),
        ("[[\"witness\", \"witness\"]]", "witness is named twice"),
        (
            "[[\"witness\", \"officer\"]]",
            "\"officer\" is not a role; roles are administrator, witness, custodian, auditor",
        ),
        ("[[\"witness\"]]", "it names 1 roles, not two"),
    ] {
        assert_eq!(
            err(&edit("witness = 1\n", &format!("witness = 1\ncombine = {combine}\n"))),
            format!("t.toml:9:12: roles.combine[1]: a combination is two different declared roles one person may hold together: {problem}")
        );
    }
}
