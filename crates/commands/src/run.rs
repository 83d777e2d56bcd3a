//! `dhib run`: build one image and run its entrypoint in the sandbox.

use dhib_core::diag::Diag;
use dhib_exec::sandbox::Mode;
use dhib_exec::Event;

use crate::{Failure, Loaded, Workspace};

/// Builds the one image `target` names and runs its entrypoint with `args`;
/// returns the program's exit status. `before_run` is called once the
/// image is built, before the program takes the terminal.
pub fn run(
    ws: &Workspace,
    loaded: &Loaded,
    target: &str,
    opts: dhib_exec::run::RunOptions,
    jobs: usize,
    on_event: &(dyn Fn(&Event) + Sync),
    before_run: &dyn Fn(),
) -> Result<i32, Failure> {
    let req = dhib_exec::Request { store: ws.store_dir.clone(), jobs, keep_going: false, sandbox: Mode::Bwrap };
    let (store, manifest) = dhib_exec::run::build_one_image(&loaded.analysis, &loaded.analyzed, target, &req, on_event)
        .map_err(|d| Failure::in_query(d, &loaded.analysis, target))?;
    before_run();
    dhib_exec::run::run_image(&store, &manifest, &opts).map_err(|e| Diag::plain("E0508", format!("cannot run `{target}`: {e}")).into())
}
