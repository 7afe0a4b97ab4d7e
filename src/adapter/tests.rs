//! Unit tests of adapter files, placeholders and the built-ins' argv.

use super::*;

#[test]
fn built_ins_parse() {
    for (name, text) in BUILT_INS {
        Adapter::from_toml(text, name).unwrap();
    }
    let all = registry(None).unwrap();
    for name in ["claude", "codex", "cursor", "gemini", "opencode", "shell"] {
        assert!(all.contains_key(name), "{name}");
    }
}

#[test]
fn placeholders_fill_one_argument_each_and_optional_groups_drop() {
    let items: Vec<ArgItem> = toml::from_str::<toml::Table>(
        r#"c = ["x", "-C", "{workdir}", ["-m", "{model}"], "{args}", "--", "{prompt}"]"#,
    )
    .unwrap()["c"]
        .clone()
        .try_into()
        .unwrap();
    let values = Placeholders {
        prompt: "do it; rm -rf / $(x) 'q'".into(),
        workdir: "/w d".into(),
        args: vec!["--a".into(), "b".into()],
        ..Placeholders::default()
    };
    let argv = build_argv(&items, &values).unwrap();
    assert_eq!(
        argv,
        vec![
            "x",
            "-C",
            "/w d",
            "--a",
            "b",
            "--",
            "do it; rm -rf / $(x) 'q'"
        ]
    );
    let with_model = Placeholders {
        model: Some("m1".into()),
        ..values
    };
    assert!(
        build_argv(&items, &with_model)
            .unwrap()
            .contains(&"m1".to_string())
    );
}

#[test]
fn durations_longer_than_a_year_are_refused() {
    let adapter = |grace: &str| {
        Adapter::from_toml(
            &format!(
                "name = \"x\"\ncommand = [\"x\"]\noutput = \"text\"\nterm_grace = \"{grace}\"\n"
            ),
            "x.toml",
        )
    };
    assert_eq!(
        adapter("365days").unwrap().term_grace(),
        Duration::from_secs(365 * 86_400)
    );
    let err = adapter("500000000000years").unwrap_err();
    assert!(
        err.to_string().contains("longer than a year"),
        "{}",
        err.to_string()
    );
}

#[test]
fn patterns_are_bounded_in_size_and_number() {
    let adapter = |patterns: &str| {
        Adapter::from_toml(
            &format!(
                "name = \"x\"\ncommand = [\"x\"]\noutput = \"text\"\nrate_limit_patterns = [{patterns}]\n"
            ),
            "x.toml",
        )
    };
    let err = adapter(r#""(?i)\\w{100}""#).unwrap_err();
    assert!(
        err.to_string().contains("size limit"),
        "{}",
        err.to_string()
    );
    let many = vec![r#""a""#; MAX_PATTERNS + 1].join(", ");
    let err = adapter(&many).unwrap_err();
    assert!(err.to_string().contains("more than"), "{}", err.to_string());
    let ok = adapter(&vec![r#""(?i)usage limit""#; MAX_PATTERNS].join(", ")).unwrap();
    assert_eq!(ok.rate_limit_regexes().len(), MAX_PATTERNS);
}

#[test]
fn unknown_placeholder_is_an_error() {
    let err = build_argv(&[ArgItem::Word("{nope}".into())], &Placeholders::default()).unwrap_err();
    assert!(err.to_string().contains("{nope}"));
}

/// Each built-in's unattended argv, as `agent-clis.md` records it for the CLI versions
/// measured there.
mod built_in_argv {
    use crate::adapter::*;

    use crate::model::ExecutionMode;

    /// The argv of a code-mode worker at the default permission level.
    fn argv(name: &str, model: Option<&str>) -> Vec<String> {
        argv_at(name, model, PermissionChoice::Default, ExecutionMode::Code)
    }

    fn argv_at(
        name: &str,
        model: Option<&str>,
        choice: PermissionChoice,
        mode: ExecutionMode,
    ) -> Vec<String> {
        let all = registry(None).unwrap();
        let mut values = Placeholders {
            prompt: "PROMPT".into(),
            prompt_file: "/p.md".into(),
            workdir: "/wt".into(),
            model: model.map(str::to_string),
            session_id: Some("SID".into()),
            body: "echo hi".into(),
            args: Vec::new(),
            state_dir: "/repo/.orch".into(),
            permissions: Vec::new(),
        };
        values.permissions = all[name].permission(choice, mode, &values).unwrap().0;
        build_argv(&all[name].command, &values).unwrap()
    }

    fn resume(name: &str) -> Vec<String> {
        let all = registry(None).unwrap();
        let mut values = Placeholders {
            prompt: "continue".into(),
            workdir: "/wt".into(),
            session_id: Some("SID".into()),
            state_dir: "/repo/.orch".into(),
            ..Placeholders::default()
        };
        values.permissions = all[name]
            .permission(PermissionChoice::Default, ExecutionMode::Code, &values)
            .unwrap()
            .0;
        build_argv(&all[name].resume, &values).unwrap()
    }

    /// Codex's flags in code mode, in `exec` and in `exec resume` alike: a workspace
    /// sandbox that may write orch's state, finite connection retries, no login shell.
    const CODEX_CODE_MODE: [&str; 9] = [
        "-c",
        "sandbox_mode=\"workspace-write\"",
        "-c",
        "sandbox_workspace_write.writable_roots=[\"/repo/.orch\"]",
        "--skip-git-repo-check",
        "--disable",
        "unbounded_connection_retries",
        "-c",
        "allow_login_shell=false",
    ];

    #[test]
    fn codex_exec_json_workspace_write_without_full_auto() {
        assert_eq!(
            argv("codex", Some("gpt-5")),
            ["codex", "exec", "--json", "--color", "never", "-C", "/wt",]
                .iter()
                .chain(&CODEX_CODE_MODE)
                .chain(&["-m", "gpt-5", "--", "PROMPT"])
                .copied()
                .collect::<Vec<&str>>()
        );
        assert!(!argv("codex", None).contains(&"--full-auto".to_string()));
        assert!(!argv("codex", None).contains(&"-m".to_string()));
        // `resume` has no -C, --sandbox or --add-dir: cwd and -c instead; it keeps
        // the finite connection retries.
        assert_eq!(
            resume("codex"),
            ["codex", "exec", "resume", "--json",]
                .iter()
                .chain(&CODEX_CODE_MODE)
                .chain(&["--", "SID", "continue"])
                .copied()
                .collect::<Vec<&str>>()
        );
        let full = argv_at("codex", None, PermissionChoice::Full, ExecutionMode::Code);
        assert!(full.contains(&"--dangerously-bypass-approvals-and-sandbox".to_string()));
        assert!(!full.iter().any(|a| a.contains("sandbox_mode")));
        let read_only = argv_at(
            "codex",
            None,
            PermissionChoice::ReadOnly,
            ExecutionMode::Analysis,
        );
        assert!(read_only.contains(&"sandbox_mode=\"read-only\"".to_string()));
    }

    #[test]
    fn claude_print_stream_json_needs_verbose() {
        assert_eq!(
            argv("claude", None),
            [
                "claude",
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
                "--settings",
                r#"{"permissions":{"allow":["Bash(git add:*)","Bash(git commit:*)","Bash(git rm:*)","Bash(git mv:*)","Bash(inbox:*)"]}}"#,
                "--",
                "PROMPT",
            ]
        );
        assert_eq!(resume("claude")[..4], ["claude", "-p", "--resume", "SID"]);
        assert!(resume("claude").contains(&"acceptEdits".to_string()));
        let analysis = argv_at(
            "claude",
            None,
            PermissionChoice::Default,
            ExecutionMode::Analysis,
        );
        assert!(analysis.contains(&r#"{"permissions":{"allow":["Bash(inbox:*)"]}}"#.to_string()));
        assert!(!analysis.contains(&"acceptEdits".to_string()));
        let all = registry(None).unwrap();
        assert_eq!(all["claude"].permissions["full"].env["IS_SANDBOX"], "1");
        // A level the adapter lacks, asked for by name, is an error naming it.
        let err = all["cursor"]
            .permission(
                PermissionChoice::ReadOnly,
                ExecutionMode::Code,
                &Placeholders::default(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{}", err.to_string());
    }

    #[test]
    fn cursor_trusts_and_forces_the_workspace() {
        assert_eq!(
            argv("cursor", Some("gpt-5")),
            [
                "cursor-agent",
                "-p",
                "--output-format",
                "stream-json",
                "--force",
                "--trust",
                "--workspace",
                "/wt",
                "--model",
                "gpt-5",
                "PROMPT",
            ]
        );
    }

    #[test]
    fn gemini_and_opencode_and_shell() {
        assert_eq!(
            argv("gemini", None),
            [
                "gemini",
                "-p",
                "PROMPT",
                "-o",
                "stream-json",
                "--approval-mode",
                "yolo",
                "--skip-trust"
            ]
        );
        assert_eq!(
            argv("opencode", None),
            [
                "opencode", "run", "--format", "json", "--dir", "/wt", "--auto", "PROMPT"
            ]
        );
        assert_eq!(argv("shell", None), ["sh", "-c", "echo hi"]);
    }

    #[test]
    fn output_formats_match_the_clis() {
        let all = registry(None).unwrap();
        assert_eq!(all["codex"].output, OutputFormat::CodexJsonl);
        assert_eq!(all["claude"].output, OutputFormat::ClaudeStreamJson);
        assert_eq!(all["cursor"].output, OutputFormat::CursorStreamJson);
        assert_eq!(all["gemini"].output, OutputFormat::GeminiStreamJson);
        assert_eq!(all["opencode"].output, OutputFormat::OpencodeJson);
        assert_eq!(all["shell"].output, OutputFormat::Text);
        assert_eq!(all["codex"].env["RUST_LOG"], "off");
        assert_eq!(all["gemini"].env["GEMINI_CLI_TRUST_WORKSPACE"], "true");
    }
}
