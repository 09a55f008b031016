-- ao schema v1 (data-model.md §4). Shipped migrations are never edited.

CREATE TABLE projects (
    id              TEXT PRIMARY KEY,
    path            TEXT NOT NULL,
    repo_origin_url TEXT NOT NULL DEFAULT '',
    display_name    TEXT NOT NULL DEFAULT '',
    config          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
    registered_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    archived_at     TEXT NULL
);

CREATE UNIQUE INDEX idx_projects_live_path ON projects(path) WHERE archived_at IS NULL;

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects(id),
    num               INTEGER NOT NULL,
    kind              TEXT NOT NULL DEFAULT 'worker' CHECK (kind IN ('worker', 'orchestrator')),
    harness           TEXT NOT NULL,
    issue_id          TEXT NOT NULL DEFAULT '',
    display_name      TEXT NOT NULL DEFAULT '',
    branch            TEXT NOT NULL DEFAULT '',
    workspace_path    TEXT NOT NULL DEFAULT '',
    runtime           TEXT NOT NULL DEFAULT 'tmux' CHECK (runtime IN ('tmux', 'zellij')),
    runtime_handle_id TEXT NOT NULL DEFAULT '',
    agent_session_id  TEXT NOT NULL DEFAULT '',
    prompt            TEXT NOT NULL DEFAULT '',
    launch_command    TEXT NOT NULL DEFAULT '',
    activity_state    TEXT NOT NULL DEFAULT 'idle'
                      CHECK (activity_state IN ('active', 'idle', 'waiting_input', 'exited')),
    activity_last_at  TEXT NOT NULL,
    first_signal_at   TEXT NULL,
    is_terminated     INTEGER NOT NULL DEFAULT 0 CHECK (is_terminated IN (0, 1)),
    terminated_at     TEXT NULL,
    terminated_reason TEXT NOT NULL DEFAULT ''
                      CHECK (terminated_reason IN ('', 'killed', 'agent_exited', 'runtime_missing',
                                                   'pr_merged', 'spawn_failed', 'project_removed')),
    exit_code         INTEGER NULL,
    restarts          INTEGER NOT NULL DEFAULT 0,
    last_restart_at   TEXT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (project_id, num)
);

CREATE INDEX idx_sessions_live ON sessions(is_terminated, project_id);

CREATE UNIQUE INDEX idx_sessions_one_live_orchestrator ON sessions(project_id)
    WHERE kind = 'orchestrator' AND is_terminated = 0;

CREATE TABLE pr (
    url                         TEXT PRIMARY KEY,
    session_id                  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    number                      INTEGER NOT NULL,
    pr_state                    TEXT NOT NULL CHECK (pr_state IN ('draft', 'open', 'merged', 'closed')),
    review_decision             TEXT NOT NULL DEFAULT 'none'
                                CHECK (review_decision IN ('none', 'approved', 'changes_requested',
                                                           'review_required')),
    ci_state                    TEXT NOT NULL DEFAULT 'unknown'
                                CHECK (ci_state IN ('unknown', 'pending', 'passing', 'failing')),
    mergeability                TEXT NOT NULL DEFAULT 'unknown'
                                CHECK (mergeability IN ('unknown', 'mergeable', 'conflicting', 'blocked',
                                                        'unstable')),
    mergeability_reasons        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(mergeability_reasons)),
    provider                    TEXT NOT NULL DEFAULT 'github',
    host                        TEXT NOT NULL DEFAULT '',
    repo                        TEXT NOT NULL DEFAULT '',
    head_repo                   TEXT NOT NULL DEFAULT '',
    source_branch               TEXT NOT NULL DEFAULT '',
    target_branch               TEXT NOT NULL DEFAULT '',
    head_sha                    TEXT NOT NULL DEFAULT '',
    base_sha                    TEXT NOT NULL DEFAULT '',
    merge_commit_sha            TEXT NOT NULL DEFAULT '',
    title                       TEXT NOT NULL DEFAULT '',
    author                      TEXT NOT NULL DEFAULT '',
    html_url                    TEXT NOT NULL DEFAULT '',
    additions                   INTEGER NOT NULL DEFAULT 0,
    deletions                   INTEGER NOT NULL DEFAULT 0,
    changed_files               INTEGER NOT NULL DEFAULT 0,
    is_draft                    INTEGER NOT NULL DEFAULT 0 CHECK (is_draft IN (0, 1)),
    is_merged                   INTEGER NOT NULL DEFAULT 0 CHECK (is_merged IN (0, 1)),
    is_closed                   INTEGER NOT NULL DEFAULT 0 CHECK (is_closed IN (0, 1)),
    provider_state              TEXT NOT NULL DEFAULT '',
    provider_mergeable          TEXT NOT NULL DEFAULT '',
    provider_merge_state_status TEXT NOT NULL DEFAULT '',
    created_at_provider         TEXT NULL,
    updated_at_provider         TEXT NULL,
    merged_at_provider          TEXT NULL,
    closed_at_provider          TEXT NULL,
    metadata_hash               TEXT NOT NULL DEFAULT '',
    ci_hash                     TEXT NOT NULL DEFAULT '',
    review_hash                 TEXT NOT NULL DEFAULT '',
    review_partial              INTEGER NOT NULL DEFAULT 0 CHECK (review_partial IN (0, 1)),
    observed_at                 TEXT NULL,
    ci_observed_at              TEXT NULL,
    review_observed_at          TEXT NULL,
    nudge_state                 TEXT NOT NULL DEFAULT '{"seen":{},"attempts":{}}'
                                CHECK (json_valid(nudge_state)),
    last_nudge_at               TEXT NULL,
    last_nudge_kind             TEXT NOT NULL DEFAULT ''
                                CHECK (last_nudge_kind IN ('', 'ci', 'review', 'conflict')),
    last_nudge_key              TEXT NOT NULL DEFAULT '',
    updated_at                  TEXT NOT NULL
);

CREATE INDEX idx_pr_session ON pr(session_id);

CREATE TABLE pr_checks (
    pr_url     TEXT NOT NULL REFERENCES pr(url) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('check_run', 'status_context')),
    status     TEXT NOT NULL
               CHECK (status IN ('unknown', 'queued', 'in_progress', 'passed', 'failed', 'skipped',
                                 'cancelled')),
    conclusion TEXT NOT NULL DEFAULT '',
    url        TEXT NOT NULL DEFAULT '',
    job_id     TEXT NOT NULL DEFAULT '',
    log_tail   TEXT NOT NULL DEFAULT '',
    log_hash   TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (pr_url, name, commit_sha)
);

CREATE INDEX idx_pr_checks_pr_name_created ON pr_checks(pr_url, name, created_at);

CREATE TABLE pr_review_threads (
    pr_url        TEXT NOT NULL REFERENCES pr(url) ON DELETE CASCADE,
    thread_id     TEXT NOT NULL,
    path          TEXT NOT NULL DEFAULT '',
    line          INTEGER NULL,
    resolved      INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
    is_bot        INTEGER NOT NULL DEFAULT 0 CHECK (is_bot IN (0, 1)),
    semantic_hash TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (pr_url, thread_id)
);

CREATE INDEX idx_pr_review_threads_pr_updated ON pr_review_threads(pr_url, updated_at);

CREATE TABLE pr_comment (
    pr_url     TEXT NOT NULL REFERENCES pr(url) ON DELETE CASCADE,
    comment_id TEXT NOT NULL,
    thread_id  TEXT NOT NULL DEFAULT '',
    author     TEXT NOT NULL DEFAULT '',
    is_bot     INTEGER NOT NULL DEFAULT 0 CHECK (is_bot IN (0, 1)),
    file       TEXT NOT NULL DEFAULT '',
    line       INTEGER NULL,
    body       TEXT NOT NULL DEFAULT '',
    url        TEXT NOT NULL DEFAULT '',
    resolved   INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
    created_at TEXT NOT NULL,
    PRIMARY KEY (pr_url, comment_id)
);

CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL REFERENCES projects(id),
    session_id TEXT NULL REFERENCES sessions(id),
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL CHECK (json_valid(payload)),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX idx_change_log_project_seq ON change_log(project_id, seq);
CREATE INDEX idx_change_log_session_seq ON change_log(session_id, seq);
CREATE INDEX idx_change_log_created_at ON change_log(created_at);
