//! mfa-docgen: rewrites `packaging/man/` and `packaging/completions/` from the programs' clap
//! definitions. Run it after changing an option: `cargo run -p cloudhsm-mfa-docgen`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = cloudhsm_mfa_docgen::packaging_dir();
    let result = cloudhsm_mfa_docgen::render().and_then(|files| {
        let changed = cloudhsm_mfa_docgen::stale(&dir, &files)?;
        cloudhsm_mfa_docgen::write(&dir, &files)?;
        Ok(changed)
    });
    match result {
        Ok(changed) => {
            for path in &changed {
                println!("updated {}", dir.join(path).display());
            }
            println!("mfa-docgen: {} file(s) updated", changed.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "mfa-docgen: error: cannot write under {}: {e}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}
