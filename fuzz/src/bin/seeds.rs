//! Writes every fuzz target's seeds into `<dir>/<target>/` for AFL++ (`fuzz/run` calls it).

use std::path::PathBuf;

use anyhow::{Context, Result};

fn main() -> Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: stillepost-fuzz-seeds <dir>: writes <dir>/<target>/<seed> for every fuzz target")?
        .into();
    for target in stillepost_fuzz::TARGETS {
        let out = dir.join(target);
        std::fs::create_dir_all(&out).with_context(|| format!("cannot make {}", out.display()))?;
        for (name, bytes) in stillepost_fuzz::seeds(target) {
            let file = out.join(name);
            std::fs::write(&file, bytes)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
    }
    Ok(())
}
