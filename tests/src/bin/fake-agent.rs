//! `fake-agent` — the scripted stand-in for the eight seed agents (`claude`, `codex`,
//! `opencode`, `grok`, `cursor-agent`, `qwen`, `copilot`, `kimi`) used by the e2e tests.
//! Symlink it under one of those names (the persona comes from argv[0]'s file name); see
//! `ao_tests::fake` for the configuration it consumes, its script, env knobs and log format.

fn main() {
    std::process::exit(ao_tests::fake::main_entry());
}
