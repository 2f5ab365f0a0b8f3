//! Test helpers: a controller that finds files under a directory and "renders" templates by
//! reading them, and a harness that plans, applies and re-plans a module on the local host.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::core::{Controller, Diff, Module, ModuleError, Plan, ResultMap, TaskCtx, Transport};
use crate::transport::LocalTransport;

/// Finds `src` files under `base/<kind>/` then `base/`; renders templates verbatim.
pub struct TestController {
    pub base: PathBuf,
}

impl Controller for TestController {
    fn find_file(&self, kind: &str, name: &str) -> Result<PathBuf, ModuleError> {
        let p = Path::new(name);
        if p.is_absolute() {
            return Ok(p.to_path_buf());
        }
        for cand in [self.base.join(kind).join(name), self.base.join(name)] {
            if cand.exists() {
                // Keep a trailing slash: copy's directory semantics depend on it.
                return Ok(cand);
            }
        }
        Err(ModuleError::failed(format!("could not find {kind}/{name}")))
    }

    fn render_template(&self, path: &Path) -> Result<String, ModuleError> {
        std::fs::read_to_string(path)
            .map_err(|e| ModuleError::failed(format!("{}: {e}", path.display())))
    }
}

/// What applying a plan did.
#[derive(Debug)]
pub struct Applied {
    pub changed: bool,
    pub result: ResultMap,
    pub diff: Vec<Diff>,
}

/// Runs modules against the local host inside a temp dir.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub transport: LocalTransport,
    pub controller: TestController,
}

impl Harness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let controller = TestController {
            base: dir.path().join("controller"),
        };
        std::fs::create_dir_all(&controller.base).expect("controller dir");
        Harness {
            dir,
            transport: LocalTransport::new("localhost"),
            controller,
        }
    }

    /// A path inside the target area of the temp dir (as a string).
    pub fn path(&self, rel: &str) -> String {
        let target = self.dir.path().join("target");
        std::fs::create_dir_all(&target).expect("target dir");
        format!("{}/{rel}", target.display())
    }

    pub fn ctx(&self, check: bool, diff: bool) -> TaskCtx<'_> {
        TaskCtx {
            transport: &self.transport,
            become_: None,
            check,
            diff,
            controller: &self.controller,
        }
    }

    pub async fn plan(
        &self,
        m: &dyn Module,
        args: &Value,
        check: bool,
    ) -> Result<Plan, ModuleError> {
        let map = args.as_object().cloned().expect("args object");
        m.plan(&self.ctx(check, true), &map).await
    }

    /// Plans with diff on and, if it changes, runs every step and calls `finish`.
    pub async fn apply(&self, m: &dyn Module, args: &Value) -> Result<Applied, ModuleError> {
        match self.plan(m, args, false).await? {
            Plan::Unchanged { result } => Ok(Applied {
                changed: false,
                result,
                diff: Vec::new(),
            }),
            Plan::Change {
                diff,
                steps,
                mut result,
            } => {
                let mut outputs = Vec::new();
                for s in steps {
                    let out = self.transport.exec(s.request).await?;
                    let ok = out.success();
                    outputs.push(out);
                    if !ok {
                        break;
                    }
                }
                m.finish(&mut result, &outputs)?;
                Ok(Applied {
                    changed: true,
                    result,
                    diff,
                })
            }
        }
    }

    /// Check mode predicts a change, the run changes, the next plan is unchanged; returns
    /// the applied result. Also checks that the check-mode result equals the real one
    /// (apart from keys only known after running).
    pub async fn converge(&self, m: &dyn Module, args: &Value) -> Applied {
        let predicted = self.plan(m, args, true).await.expect("check plan");
        let Plan::Change {
            result: predicted_result,
            diff: predicted_diff,
            ..
        } = predicted
        else {
            panic!("check mode predicted no change for {args}");
        };
        let applied = self.apply(m, args).await.expect("apply");
        assert!(applied.changed, "apply did not change for {args}");
        assert_eq!(predicted_diff, applied.diff, "check-mode diff differs");
        for (k, v) in predicted_result.iter().filter(|(k, _)| *k != "backup") {
            assert_eq!(
                Some(v),
                applied.result.get(k),
                "check-mode result key {k} differs"
            );
        }
        self.assert_unchanged(m, args).await;
        applied
    }

    pub async fn assert_unchanged(&self, m: &dyn Module, args: &Value) -> ResultMap {
        match self.plan(m, args, false).await.expect("re-plan") {
            Plan::Unchanged { result } => result,
            Plan::Change { diff, steps, .. } => panic!(
                "not idempotent for {args}: diff {diff:?} steps {:?}",
                steps.iter().map(|s| &s.describe).collect::<Vec<_>>()
            ),
        }
    }
}

/// Reads a file as a string (panics in tests when missing).
pub fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The permission bits of a path.
pub fn mode_of(path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .permissions()
        .mode()
        & 0o7777
}

/// Owner uid and gid of a path.
pub fn ids_of(path: &str) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (m.uid(), m.gid())
}

/// Whether the tests run as root (owner changes, tmpfs mounts).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
