//! Notifications (`[notify]` in `.orch/config.toml`, issue 12): a question asked and a
//! task given up reach a webhook (a recording HTTP server on 127.0.0.1 started by the
//! test) and a command, each exactly once with `orch up` and supervisors all following
//! the run; failures to notify are recorded and the run goes on; a bad `[notify]` is
//! refused naming the key.

use crate::common::{Env, ORCH, Out, add_task, wait_for_end, wait_until};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the hook received.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    content_type: String,
    body: Value,
}

/// A webhook on 127.0.0.1 that records every request and answers `status`. It stops
/// when dropped, after 5 minutes, or after 100 requests, whichever comes first.
struct Hook {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hook {
    fn start(status: u16) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(300);
            let mut served = 0;
            while !stopped.load(Ordering::Relaxed) && Instant::now() < until && served < 100 {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        if let Some(request) = serve(stream, status) {
                            seen.lock().unwrap().push(request);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Hook {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The URL to configure; its path stands for a Slack webhook's secret.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/services/secret-path", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one HTTP/1.1 request (a body by `Content-Length` or chunked) and answers
/// `status`.
fn serve(stream: TcpStream, status: u16) -> Option<Request> {
    stream.set_nonblocking(false).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut chunked, mut content_type) = (0usize, false, String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
            "content-type" => content_type = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    let mut stream = stream;
    let answer =
        format!("HTTP/1.1 {status} Status\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(answer.as_bytes());
    Some(Request {
        method,
        path,
        content_type,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

/// A URL on 127.0.0.1 where nothing listens (the port was just free).
fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/services/secret-path")
}

/// Writes the repository's `.orch/config.toml`: profile `once` (the shell adapter, one
/// attempt, so a failure is given up at once) and this `[notify]` section.
fn configure(repo: &Path, notify: &str) {
    std::fs::create_dir_all(repo.join(".orch")).unwrap();
    let text =
        format!("[workers.once]\nadapter = \"shell\"\nmax_attempts = 1\n\n[notify]\n{notify}\n");
    std::fs::write(repo.join(".orch/config.toml"), text).unwrap();
}

/// A shell body that asks `question` and waits for the answer.
fn asking(question: &str) -> String {
    format!(
        "inbox update --status blocked --summary '{question}'\ninbox wait-reply --timeout-seconds 120 > /dev/null\necho answered\n"
    )
}

/// A plan of run `r`: each task `(id, worker, body)`.
fn plan(env: &Env, tasks: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let mut text = String::from("[run]\nid = \"r\"\n");
    for (id, worker, body) in tasks {
        text.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\nworker = \"{worker}\"\nbody = \"\"\"\n{body}\"\"\"\n"
        ));
    }
    let path = env.path().join("plan.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `orch up --plan PLAN` started in `repo`, in the background.
fn start_up(env: &Env, repo: &Path, plan: &Path) -> std::process::Child {
    env.command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "--json", "up", "--plan"])
        .arg(plan)
        .current_dir(repo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) for a background `orch up` to end; its exit code.
fn end_of(mut up: std::process::Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = up.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = up.kill();
            let out = up.wait_with_output().unwrap();
            panic!(
                "orch up did not end: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn answer(env: &Env, task: &str) {
    env.orch(&["answer", "--run", "r", "--task", task, "--body", "SQLite"])
        .data();
}

#[test]
fn questions_and_a_give_up_each_post_once_while_up_and_supervisors_follow_the_run() {
    let env = Env::new();
    let repo = env.repo();
    let hook = Hook::start(200);
    configure(
        &repo,
        &format!(
            "events = [\"question\", \"given_up\"]\nwebhook = \"{}\"",
            hook.url()
        ),
    );
    let (q1, q2) = (
        asking("Postgres or SQLite for q1?"),
        asking("Tabs or spaces?"),
    );
    let tasks = [
        ("q1", "shell", &*q1),
        ("q2", "shell", &*q2),
        ("bad", "once", "exit 1\n"),
    ];
    let up = start_up(&env, &repo, &plan(&env, &tasks));
    // `orch up` and three supervisors follow the run at once.
    wait_until("three notifications", 90, || hook.requests().len() >= 3);
    answer(&env, "q1");
    answer(&env, "q2");
    assert_eq!(end_of(up), 1, "the run ends failed (task bad was given up)");
    assert_eq!(env.task_row("r", "q1")["status"], "done");
    let requests = hook.requests();
    let mut sent: Vec<(String, String)> = requests
        .iter()
        .map(|r| {
            let event = r.body["event_type"].as_str().unwrap_or("").to_string();
            (event, r.body["task_id"].as_str().unwrap_or("").to_string())
        })
        .collect();
    sent.sort();
    let expected = [
        ("task_blocked", "q1"),
        ("task_blocked", "q2"),
        ("task_given_up", "bad"),
    ]
    .map(|(e, t)| (e.to_string(), t.to_string()));
    assert_eq!(sent, expected, "each event exactly once: {requests:#?}");
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/services/secret-path");
        assert_eq!(request.content_type, "application/json");
    }
    let body = |task: &str| {
        let found = requests.iter().find(|r| r.body["task_id"] == task);
        found.unwrap().body.clone()
    };
    let question = body("q1");
    let text = question["text"].as_str().unwrap();
    assert!(
        text.starts_with("orch: task q1 of run r asks: Postgres or SQLite for q1?"),
        "{text}"
    );
    assert!(text.contains("orch answer --run r --task q1"), "{text}");
    assert_eq!(question["event"], "question");
    assert_eq!(
        question["question"]["summary"],
        "Postgres or SQLite for q1?"
    );
    let given_up = body("bad");
    assert_eq!(given_up["event"], "given_up");
    let text = given_up["text"].as_str().unwrap();
    assert!(
        text.starts_with("orch: task bad of run r was given up after attempt 1"),
        "{text}"
    );
}

#[test]
fn a_command_gets_each_event_as_json_on_stdin_from_the_supervisors() {
    let env = Env::new();
    let repo = env.repo();
    let out = env.path().join("notified");
    std::fs::create_dir_all(&out).unwrap();
    let script = env.path().join("notify.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat > \"$1/$ORCH_NOTIFY_EVENT-$$.json\"\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    configure(
        &repo,
        &format!(
            "events = [\"question\", \"given_up\"]\ncommand = [\"{}\", \"{}\"]",
            script.display(),
            out.display()
        ),
    );
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "q", "shell", &asking("Postgres or SQLite?"));
    add_task(&env, "r", "bad", "once", "exit 1");
    // No `orch up`: the two supervisors are the only followers.
    env.launch(&repo, "r", "q", "analysis");
    env.launch(&repo, "r", "bad", "analysis");
    let files = || -> Vec<Value> {
        let mut found: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
            .filter(|text| text.ends_with('\n'))
            .map(|text| serde_json::from_str(&text).unwrap())
            .collect();
        found.sort_by_key(|v: &Value| v["event_id"].as_i64());
        found
    };
    wait_until("the question and the give-up", 60, || files().len() >= 2);
    answer(&env, "q");
    assert_eq!(
        wait_for_end(&env, "r", "q")["supervision"]["outcome"],
        "succeeded"
    );
    let notified = files();
    let kinds: Vec<_> = notified.iter().map(|v| v["event"].clone()).collect();
    let mut kinds: Vec<&str> = kinds.iter().map(|k| k.as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["given_up", "question"], "{notified:#?}");
    let question = notified.iter().find(|v| v["event"] == "question").unwrap();
    assert_eq!(question["event_type"], "task_blocked");
    assert_eq!(question["task_id"], "q");
    assert_eq!(question["question"]["summary"], "Postgres or SQLite?");
    let given_up = notified.iter().find(|v| v["event"] == "given_up").unwrap();
    assert_eq!(given_up["event_type"], "task_given_up");
    assert_eq!(given_up["task_id"], "bad");
}

/// Runs one question task under `orch up` with this `[notify]`; the question is
/// answered after both notifications failed. Returns the `notify_failed` summaries
/// once the run is done.
fn failures(env: &Env, notify: &str) -> Vec<String> {
    let repo = env.repo();
    configure(&repo, &format!("events = [\"question\"]\n{notify}"));
    let question = asking("Which port?");
    let up = start_up(env, &repo, &plan(env, &[("q", "shell", &question)]));
    wait_until("the plan applied", 30, || {
        env.orch(&["run", "show", "--run", "r"]).code == 0
    });
    let mut summaries = Vec::new();
    let mut cursor = 0;
    for _ in 0..2 {
        let after = cursor.to_string();
        let args = [
            "wait",
            "--run",
            "r",
            "--for",
            "notify_failed",
            "--after-event",
            &after,
            "--timeout-seconds",
            "60",
        ];
        let out: Out = env.orch(&args);
        let event = &out.data()["event"];
        cursor = event["event_id"].as_i64().unwrap();
        assert_eq!(event["task_id"], "q");
        assert_eq!(event["payload"]["event_type"], "task_blocked");
        summaries.push(event["summary"].as_str().unwrap().to_string());
    }
    answer(env, "q");
    assert_eq!(end_of(up), 0, "the run goes on to done");
    assert_eq!(env.task_row("r", "q")["status"], "done");
    summaries.sort();
    summaries
}

#[test]
fn a_failing_command_and_a_webhook_answering_500_are_recorded_and_the_run_finishes() {
    let env = Env::new();
    let hook = Hook::start(500);
    let notify = format!(
        "command = [\"sh\", \"-c\", \"echo refused >&2; exit 3\"]\nwebhook = \"{}\"",
        hook.url()
    );
    let summaries = failures(&env, &notify);
    let host = format!("http://127.0.0.1:{}", hook.port);
    assert!(
        summaries[0].ends_with("failed: command \"sh\" exited with code 3: refused"),
        "{summaries:?}"
    );
    assert!(
        summaries[1].ends_with(&format!("failed: webhook to {host}: HTTP 500")),
        "{summaries:?}"
    );
    // Sent once, not retried; the webhook's secret path is in no summary.
    assert_eq!(hook.requests().len(), 1);
    assert!(summaries.iter().all(|s| !s.contains("secret-path")));
}

#[test]
fn a_missing_command_and_a_refused_connection_are_recorded_and_the_run_finishes() {
    let env = Env::new();
    let url = refused_url();
    let notify = format!("command = [\"no-such-notifier\"]\nwebhook = \"{url}\"");
    let summaries = failures(&env, &notify);
    assert!(
        summaries[0].contains("failed: command \"no-such-notifier\" cannot start"),
        "{summaries:?}"
    );
    let host = url.trim_end_matches("/services/secret-path");
    assert!(
        summaries[1].contains(&format!("failed: webhook to {host}: ")),
        "{summaries:?}"
    );
    assert!(summaries.iter().all(|s| !s.contains("secret-path")));
}

#[test]
fn a_bad_notify_section_is_refused_naming_the_key_before_anything_runs() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "shell", "echo hi");
    let db = env.db.to_str().unwrap();
    let up = || {
        env.raw(
            ORCH,
            &["--db", db, "--json", "up", "--run", "r"],
            &repo,
            &[],
        )
    };
    configure(&repo, "command = [\"true\"]\nchannel = \"#dev\"");
    let message = up().error(30, "invalid_input");
    assert!(message.contains("config.toml"), "{message}");
    assert!(message.contains("unknown field `channel`"), "{message}");
    configure(&repo, "events = [\"asked\"]\ncommand = [\"true\"]");
    let message = up().error(30, "invalid_input");
    assert!(
        message.contains(
            "[notify] events: unknown event \"asked\"; known: question, given_up, run_finished"
        ),
        "{message}"
    );
    configure(&repo, "webhook = \"ftp://example.invalid/x\"");
    let message = up().error(30, "invalid_input");
    assert!(message.contains("[notify] webhook: must be"), "{message}");
    // `dispatch --launch` reads the same file and refuses too; nothing was dispatched.
    let out = env.dispatch_launch(&repo, "r", "t", "analysis", &[]);
    assert!(out.error(30, "invalid_input").contains("[notify] webhook"));
    assert_eq!(env.task_row("r", "t")["status"], "ready");
}
