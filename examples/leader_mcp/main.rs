//! The scripted leader through `orch mcp` (issue 12; docs/BENCHMARKS.md, "Scripted
//! leader"): `cargo run --example leader_mcp -- [PATH/TO/orch] [--show]` (default
//! `target/debug/orch`). Prints each tool call with the bytes of its result (`--show`:
//! the result too), a table of calls and bytes per tool, and the run's check; exits 1
//! if the run did not finish as the scenario expects.

mod leader;

use std::path::PathBuf;

fn main() {
    let mut orch = PathBuf::from("target/debug/orch");
    let mut show = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--show" => show = true,
            path => orch = PathBuf::from(path),
        }
    }
    let orch = std::path::absolute(&orch).unwrap_or(orch);
    let dir = tempfile::tempdir().expect("a temp dir");
    if let Err(e) = leader::setup(dir.path()) {
        fail(&e);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let command = || std::process::Command::new(&orch);
    let driven = runtime.block_on(leader::drive(&command, dir.path()));
    let (calls, failure) = match driven {
        Ok(calls) => (calls, None),
        Err((e, calls)) => (calls, Some(e)),
    };
    print!("{}", leader::transcript(&calls, show));
    if let Some(e) = failure {
        fail(&e);
    }
    println!("\n{}", leader::table(&calls));
    match leader::verify(&orch, &dir.path().join("coord.db")) {
        Ok(checked) => print!("{checked}"),
        Err(e) => fail(&e),
    }
    let total: usize = calls.iter().map(leader::Call::bytes).sum();
    println!(
        "leader read {total} bytes of tool results in {} calls",
        calls.len()
    );
    match runtime.block_on(tools_list_bytes(&orch, &dir.path().join("coord.db"))) {
        Ok(bytes) => {
            println!("(not counted: the tool list, read once per connection, {bytes} bytes)")
        }
        Err(e) => fail(&e),
    }
}

/// The size of `tools/list`'s tools as JSON: what a client reads once when it connects.
async fn tools_list_bytes(orch: &std::path::Path, db: &std::path::Path) -> Result<usize, String> {
    use rmcp::ServiceExt;
    let mut command = tokio::process::Command::new(orch);
    command
        .arg("--db")
        .arg(db)
        .arg("mcp")
        .stderr(std::process::Stdio::null());
    let (transport, _) = rmcp::transport::TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("start orch mcp: {e}"))?;
    let client = ().serve(transport).await.map_err(|e| e.to_string())?;
    let tools = client.list_all_tools().await.map_err(|e| e.to_string())?;
    client.cancel().await.map_err(|e| e.to_string())?;
    serde_json::to_string(&tools)
        .map(|json| json.len())
        .map_err(|e| e.to_string())
}

fn fail(message: &str) -> ! {
    eprintln!("FAIL: {message}");
    std::process::exit(1);
}
