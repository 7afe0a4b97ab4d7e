//! Unit tests of the doctor's checks: versions, first lines, quoting, PATH search.

use super::*;

#[test]
fn versions_are_the_first_three_part_number() {
    assert_eq!(
        version_in("codex-cli 0.169.0\n").as_deref(),
        Some("0.169.0")
    );
    assert_eq!(
        version_in("2.1.197 (Claude Code)").as_deref(),
        Some("2.1.197")
    );
    assert_eq!(version_in("v1.2 build 3.4.5-rc1").as_deref(), Some("3.4.5"));
    assert_eq!(version_in("no version here 1.2"), None);
}

#[test]
fn a_check_prints_one_line_json_compacted_and_secrets_redacted() {
    let redactor = Redactor::with_secrets(["sk-live-abcdefghijklmnop"]);
    assert_eq!(
        first_line(
            "{\n  \"loggedIn\": false,\n  \"authMethod\": \"none\"\n}\n",
            "",
            &redactor
        ),
        r#"{"authMethod":"none","loggedIn":false}"#
    );
    assert_eq!(
        first_line("", "\nNot logged in\nmore\n", &redactor),
        "Not logged in"
    );
    let line = first_line("Logged in with sk-live-abcdefghijklmnop\n", "", &redactor);
    assert!(!line.contains("sk-live"), "{line}");
    assert!(line.contains("[REDACTED]"), "{line}");
}

#[test]
fn words_with_specials_are_quoted_for_display() {
    let argv = vec![
        "-c".to_string(),
        "sandbox_mode=\"workspace-write\"".to_string(),
        "plain/path.toml".to_string(),
        "it's".to_string(),
    ];
    assert_eq!(
        shell_words(&argv),
        r#"-c 'sandbox_mode="workspace-write"' plain/path.toml 'it'\''s'"#
    );
}

#[test]
fn programs_are_found_as_execvp_looks() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("tool");
    std::fs::write(&exe, "#!/bin/sh\n").unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let search = format!("/nonexistent-dir:{}", dir.path().display());
    assert_eq!(find_program("tool", &search), Some(exe.clone()));
    assert_eq!(find_program("plain", &search), None);
    assert_eq!(find_program("missing", &search), None);
    assert_eq!(
        find_program(&exe.display().to_string(), ""),
        Some(exe.clone())
    );
}
