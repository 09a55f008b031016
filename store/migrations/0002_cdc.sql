-- ao CDC triggers v1 (data-model.md §5). Every trigger inserts exactly one change_log row in
-- the transaction of the write that fired it. Shipped migrations are never edited.

CREATE TRIGGER sessions_cdc_insert AFTER INSERT ON sessions
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        NEW.project_id,
        NEW.id,
        'session_created',
        json_object(
            'id', NEW.id,
            'kind', NEW.kind,
            'harness', NEW.harness,
            'activity', NEW.activity_state,
            'isTerminated', json(CASE WHEN NEW.is_terminated THEN 'true' ELSE 'false' END)
        ),
        NEW.created_at
    );
END;

CREATE TRIGGER sessions_cdc_update AFTER UPDATE ON sessions
WHEN OLD.activity_state IS NOT NEW.activity_state
  OR OLD.is_terminated IS NOT NEW.is_terminated
  OR OLD.branch IS NOT NEW.branch
  OR OLD.runtime_handle_id IS NOT NEW.runtime_handle_id
  OR (OLD.first_signal_at IS NULL AND NEW.first_signal_at IS NOT NULL)
  OR OLD.restarts IS NOT NEW.restarts
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        NEW.project_id,
        NEW.id,
        'session_updated',
        json_object(
            'id', NEW.id,
            'activity', NEW.activity_state,
            'isTerminated', json(CASE WHEN NEW.is_terminated THEN 'true' ELSE 'false' END),
            'terminatedReason', NULLIF(NEW.terminated_reason, ''),
            'exitCode', NEW.exit_code,
            'branch', NEW.branch,
            'hasSignal', json(CASE WHEN NEW.first_signal_at IS NOT NULL THEN 'true' ELSE 'false' END)
        ),
        NEW.updated_at
    );
END;

CREATE TRIGGER sessions_cdc_rename AFTER UPDATE ON sessions
WHEN OLD.display_name IS NOT NEW.display_name
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        NEW.project_id,
        NEW.id,
        'session_renamed',
        json_object('id', NEW.id, 'displayName', NEW.display_name),
        NEW.updated_at
    );
END;

CREATE TRIGGER pr_cdc_insert AFTER INSERT ON pr
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        (SELECT project_id FROM sessions WHERE id = NEW.session_id),
        NEW.session_id,
        'pr_created',
        json_object(
            'url', NEW.url,
            'session', NEW.session_id,
            'number', NEW.number,
            'state', NEW.pr_state,
            'ci', NEW.ci_state,
            'review', NEW.review_decision,
            'mergeability', NEW.mergeability
        ),
        NEW.updated_at
    );
END;

CREATE TRIGGER pr_cdc_update AFTER UPDATE ON pr
WHEN OLD.pr_state IS NOT NEW.pr_state
  OR OLD.ci_state IS NOT NEW.ci_state
  OR OLD.review_decision IS NOT NEW.review_decision
  OR OLD.mergeability IS NOT NEW.mergeability
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        (SELECT project_id FROM sessions WHERE id = NEW.session_id),
        NEW.session_id,
        'pr_updated',
        json_object(
            'url', NEW.url,
            'session', NEW.session_id,
            'number', NEW.number,
            'state', NEW.pr_state,
            'ci', NEW.ci_state,
            'review', NEW.review_decision,
            'mergeability', NEW.mergeability
        ),
        NEW.updated_at
    );
END;

CREATE TRIGGER pr_session_cdc_update AFTER UPDATE ON pr
WHEN OLD.session_id IS NOT NEW.session_id
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        (SELECT project_id FROM sessions WHERE id = NEW.session_id),
        NEW.session_id,
        'pr_session_changed',
        json_object('url', NEW.url, 'fromSession', OLD.session_id, 'toSession', NEW.session_id),
        NEW.updated_at
    );
END;

CREATE TRIGGER pr_nudge_cdc_update AFTER UPDATE ON pr
WHEN OLD.last_nudge_at IS NOT NEW.last_nudge_at AND NEW.last_nudge_at IS NOT NULL
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        (SELECT project_id FROM sessions WHERE id = NEW.session_id),
        NEW.session_id,
        'nudge_delivered',
        json_object(
            'url', NEW.url,
            'session', NEW.session_id,
            'kind', NEW.last_nudge_kind,
            'key', NEW.last_nudge_key
        ),
        NEW.last_nudge_at
    );
END;

CREATE TRIGGER pr_checks_cdc_insert AFTER INSERT ON pr_checks
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        (SELECT s.project_id FROM pr AS p JOIN sessions AS s ON s.id = p.session_id
          WHERE p.url = NEW.pr_url),
        (SELECT session_id FROM pr WHERE url = NEW.pr_url),
        'pr_check_recorded',
        json_object(
            'pr', NEW.pr_url,
            'name', NEW.name,
            'commit', NEW.commit_sha,
            'status', NEW.status
        ),
        NEW.created_at
    );
END;

CREATE TRIGGER pr_checks_cdc_update AFTER UPDATE ON pr_checks
WHEN OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        (SELECT s.project_id FROM pr AS p JOIN sessions AS s ON s.id = p.session_id
          WHERE p.url = NEW.pr_url),
        (SELECT session_id FROM pr WHERE url = NEW.pr_url),
        'pr_check_recorded',
        json_object(
            'pr', NEW.pr_url,
            'name', NEW.name,
            'commit', NEW.commit_sha,
            'status', NEW.status
        ),
        NEW.updated_at
    );
END;

CREATE TRIGGER pr_review_threads_cdc_insert AFTER INSERT ON pr_review_threads
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        (SELECT s.project_id FROM pr AS p JOIN sessions AS s ON s.id = p.session_id
          WHERE p.url = NEW.pr_url),
        (SELECT session_id FROM pr WHERE url = NEW.pr_url),
        'pr_review_thread_added',
        json_object(
            'pr', NEW.pr_url,
            'thread', NEW.thread_id,
            'path', NEW.path,
            'line', NEW.line,
            'resolved', json(CASE WHEN NEW.resolved THEN 'true' ELSE 'false' END),
            'isBot', json(CASE WHEN NEW.is_bot THEN 'true' ELSE 'false' END)
        ),
        NEW.updated_at
    );
END;

CREATE TRIGGER pr_review_threads_cdc_update AFTER UPDATE ON pr_review_threads
WHEN OLD.resolved IS NOT NEW.resolved
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        (SELECT s.project_id FROM pr AS p JOIN sessions AS s ON s.id = p.session_id
          WHERE p.url = NEW.pr_url),
        (SELECT session_id FROM pr WHERE url = NEW.pr_url),
        'pr_review_thread_resolved',
        json_object(
            'pr', NEW.pr_url,
            'thread', NEW.thread_id,
            'path', NEW.path,
            'line', NEW.line,
            'resolved', json(CASE WHEN NEW.resolved THEN 'true' ELSE 'false' END)
        ),
        NEW.updated_at
    );
END;

CREATE TRIGGER projects_cdc_insert AFTER INSERT ON projects
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        NEW.id,
        NULL,
        'project_created',
        json_object('id', NEW.id, 'name', NEW.display_name, 'path', NEW.path),
        NEW.registered_at
    );
END;

CREATE TRIGGER projects_cdc_archive AFTER UPDATE ON projects
WHEN OLD.archived_at IS NULL AND NEW.archived_at IS NOT NULL
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (NEW.id, NULL, 'project_archived', json_object('id', NEW.id), NEW.updated_at);
END;

CREATE TRIGGER projects_cdc_update AFTER UPDATE ON projects
WHEN OLD.display_name IS NOT NEW.display_name
  OR OLD.path IS NOT NEW.path
  OR OLD.repo_origin_url IS NOT NEW.repo_origin_url
  OR OLD.config IS NOT NEW.config
  OR (OLD.archived_at IS NOT NULL AND NEW.archived_at IS NULL)
BEGIN
    INSERT INTO change_log (project_id, session_id, event_type, payload, created_at)
    VALUES (
        NEW.id,
        NULL,
        'project_updated',
        json_object(
            'id', NEW.id,
            'name', NEW.display_name,
            'path', NEW.path,
            'repo', NULLIF(NEW.repo_origin_url, ''),
            'archived', json('false')
        ),
        NEW.updated_at
    );
END;
