//! `fake-github` — serves `ao_tests::fake_github::FakeGithub` as a standalone process, for
//! manual runs and tests that drive `ao` from outside this crate.
//!
//! Usage: `fake-github [--port N] [--token T] [--ignore-stdin]`
//!
//! Prints, one per line on stdout, then serves until SIGINT/SIGTERM or (unless
//! `--ignore-stdin`) end of stdin:
//!
//! ```text
//! FAKE_GITHUB_API_URL=http://127.0.0.1:<port>/api/v3
//! FAKE_GITHUB_GRAPHQL_URL=http://127.0.0.1:<port>/api/graphql
//! FAKE_GITHUB_HOST=127.0.0.1:<port>
//! FAKE_GITHUB_TOKEN=ghp_…
//! FAKE_GITHUB_CONTROL_URL=http://127.0.0.1:<port>/_control
//! ```
//!
//! The state is driven through the `/_control/...` routes (see the module docs).

use std::io::{Read, Write};

use ao_tests::fake_github::FakeGithub;

fn usage() -> ! {
    eprintln!("usage: fake-github [--port N] [--token T] [--ignore-stdin]");
    std::process::exit(2);
}

fn main() {
    let mut port = 0u16;
    let mut token = None;
    let mut watch_stdin = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage());
            }
            "--token" => token = Some(args.next().unwrap_or_else(|| usage())),
            "--ignore-stdin" => watch_stdin = false,
            _ => usage(),
        }
    }
    let gh = match FakeGithub::try_start(port) {
        Ok(gh) => gh,
        Err(e) => {
            eprintln!("fake-github: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    if let Some(t) = token {
        gh.set_token(&t);
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "FAKE_GITHUB_API_URL={}", gh.api_url());
        let _ = writeln!(out, "FAKE_GITHUB_GRAPHQL_URL={}", gh.graphql_url());
        let _ = writeln!(out, "FAKE_GITHUB_HOST={}", gh.host());
        let _ = writeln!(out, "FAKE_GITHUB_TOKEN={}", gh.token());
        let _ = writeln!(out, "FAKE_GITHUB_CONTROL_URL={}/_control", gh.origin());
        let _ = out.flush();
    }
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    if watch_stdin {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin().lock();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.send("stdin closed");
        });
    }
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        let _ = tx.send("signal");
    });
    let why = rx.recv().unwrap_or("shutdown");
    eprintln!("fake-github: stopping ({why})");
    drop(gh);
}
