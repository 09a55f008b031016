//! Property tests of worktree path confinement (adapters.md §4.1): whatever project id,
//! session id or prefix reaches the workspace (they are validated upstream, but this is the
//! last line of defence before `git worktree add` and `rm -rf`), a path is either refused as
//! unsafe or lies strictly inside the managed root, two levels down.

use std::path::{Component, Path, PathBuf};

use proptest::prelude::*;

use super::{WorkspaceError, WorktreeRoot};

fn segment_like() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "demo", "demo-1", ".", "..", "/", "\\", "~", "\0", " ", "é", "a", "-", ".git", "%2e", "*",
        "$HOME",
    ]);
    prop_oneof![
        3 => prop::collection::vec(piece, 0..5).prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

fn inside(root: &Path, path: &Path, depth: usize) -> bool {
    path.strip_prefix(root).is_ok_and(|rel| {
        rel.components().count() == depth
            && rel.components().all(|c| matches!(c, Component::Normal(_)))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn worktree_paths_are_refused_or_strictly_inside_the_root(
        project in segment_like(),
        session in segment_like(),
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = WorktreeRoot::open(tmp.path()).expect("the root opens");
        let check = |r: Result<PathBuf, WorkspaceError>, depth: usize| -> Result<(), TestCaseError> {
            match r {
                Ok(path) => prop_assert!(inside(root.path(), &path, depth), "{path:?}"),
                Err(e) => prop_assert!(matches!(e, WorkspaceError::UnsafePath { .. }), "{e:?}"),
            }
            Ok(())
        };
        check(root.worker_path(&project, &session), 2)?;
        check(root.orchestrator_path(&project, &session), 3)?;
    }
}
