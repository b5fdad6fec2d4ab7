//! `cargo xtask`: the README's two commands on a machine that has only Rust.
//!
//! * `cargo xtask demo [ARGS]`   set up what the build needs, then `cargo run --release -- demo`
//! * `cargo xtask test [ARGS]`   set up what the suite needs, then `cargo test [ARGS]`
//! * `cargo xtask setup [build|test|ci]`   only the set-up (default: test)
//!
//! Set-up: every program of [`deps::TOOLS`] for the stage is probed; the missing ones are
//! installed with `apt-get` when running as root on Debian, otherwise the command stops at once
//! and prints the exact command to run (also with `XTASK_NO_INSTALL=1`). Then the Python venv
//! (`target/xtask-python`, [`deps::PYTHON_PACKAGES`]) and the npm packages of the test directories ([`deps::NPM_DIRS`]);
//! for `ci`, also those of [`deps::CI_NPM_DIRS`] (helm).
//!
//! The xtask convention (a workspace member run through a Cargo alias) keeps this in Rust,
//! standard library only, so it builds before anything is installed.

mod deps;

use deps::{Stage, Tool};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{exit, Command, Stdio};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let task = args.next().and_then(|a| a.into_string().ok());
    let rest: Vec<OsString> = args.collect();
    let result = match task.as_deref() {
        Some("demo") => setup(Stage::Build).and_then(|_| {
            cargo(
                &["run", "--release", "--bin", "jargate", "--", "demo"],
                &rest,
                None,
            )
        }),
        Some("test") => setup(Stage::Test).and_then(|python| cargo(&["test"], &rest, python)),
        Some("setup") => {
            let stage = match rest.first().map(|a| a.to_string_lossy()) {
                None => Some(Stage::Test),
                Some(name) => Stage::parse(&name),
            };
            match stage {
                Some(stage) => setup(stage).map(|_| ()),
                None => Err("setup: the stage is build, test or ci".into()),
            }
        }
        _ => Err("usage: cargo xtask demo|test|setup [build|test|ci]".into()),
    };
    if let Err(message) = result {
        eprintln!("xtask: {message}");
        exit(1);
    }
}

/// The workspace root (xtask lives in `<root>/xtask`).
/// The workspace root: from the manifest directory `cargo run` passes at run time (a build
/// copied from another checkout would otherwise work on that checkout), else the one compiled in.
fn root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .parent()
        .map_or_else(|| manifest.clone(), Path::to_path_buf)
}

/// Makes the machine ready for `stage`; returns the venv's `bin` directory from the test stage on.
fn setup(stage: Stage) -> Result<Option<PathBuf>, String> {
    let missing: Vec<&Tool> = deps::needed(stage).filter(|t| !present(t)).collect();
    if !missing.is_empty() {
        install(stage, &missing)?;
    }
    if stage < Stage::Test {
        return Ok(None);
    }
    let python = python_venv()?;
    npm_ci(deps::NPM_DIRS)?;
    if stage >= Stage::Ci {
        npm_ci(deps::CI_NPM_DIRS)?;
    }
    Ok(Some(python))
}

fn present(tool: &Tool) -> bool {
    let (program, args) = match tool.probe.split_first() {
        Some(split) => split,
        None => return true,
    };
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs `missing` with apt-get when allowed, or stops with the command to run.
fn install(stage: Stage, missing: &[&Tool]) -> Result<(), String> {
    let mut packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    packages.dedup();
    let list = missing
        .iter()
        .map(|t| format!("  {:<14} {}", t.package, t.why))
        .collect::<Vec<_>>()
        .join("\n");
    let apt = Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let allowed = std::env::var_os("XTASK_NO_INSTALL").is_none_or(|v| v.is_empty());
    if !(apt && is_root() && allowed) {
        let command = format!(
            "sudo apt-get update && sudo apt-get install -y --no-install-recommends {}",
            packages.join(" ")
        );
        let how = if apt {
            format!("run this, then the same cargo xtask command again:\n  {command}")
        } else {
            "install these (Debian package names) with the system's package manager, then run \
             the same cargo xtask command again"
                .to_string()
        };
        return Err(format!(
            "missing for the {stage:?} stage (Debian packages):\n{list}\n{how}"
        ));
    }
    eprintln!("xtask: installing {} (apt-get)\n{list}", packages.join(" "));
    run(Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    let still: Vec<String> = missing
        .iter()
        .filter(|t| !present(t))
        .map(|t| {
            format!(
                "  {:<14} {} (probe: {})",
                t.package,
                t.why,
                t.probe.join(" ")
            )
        })
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        // Typically Node: Debian 12's nodejs (18) is older than the e2e tests need.
        Err(format!(
            "installed but still not usable:\n{}\ninstall a newer version by other means \
             (e.g. Node 20 from nodejs.org or NodeSource), then run the command again",
            still.join("\n")
        ))
    }
}

/// Root, from `/proc/self/status` (no libc crate: this builds before anything is installed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            Some(line.split_whitespace().nth(1)? == "0")
        })
        .unwrap_or(false)
}

/// The test venv with [`deps::PYTHON_PACKAGES`], rebuilt when the list changes.
fn python_venv() -> Result<PathBuf, String> {
    let venv = root().join("target").join("xtask-python");
    let bin = venv.join("bin");
    let stamp = venv.join("xtask-requirements.txt");
    let wanted = deps::PYTHON_PACKAGES.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) && bin.join("python3").exists() {
        return Ok(bin);
    }
    eprintln!(
        "xtask: Python venv {} with {}",
        venv.display(),
        deps::PYTHON_PACKAGES.join(" ")
    );
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    if !deps::PYTHON_PACKAGES.is_empty() {
        run(Command::new(bin.join("python3"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(deps::PYTHON_PACKAGES))?;
    }
    std::fs::write(&stamp, wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(bin)
}

/// `npm ci` in each of `dirs` ([`deps::NPM_DIRS`], [`deps::CI_NPM_DIRS`]) whose node_modules is
/// missing or older than its lock file.
fn npm_ci(dirs: &[&str]) -> Result<(), String> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    for dir in dirs {
        let dir = root().join(dir);
        let lock = modified(&dir.join("package-lock.json"));
        let installed = modified(&dir.join("node_modules").join(".package-lock.json"));
        if matches!((installed, lock), (Some(i), Some(l)) if i >= l) {
            continue;
        }
        eprintln!("xtask: npm ci in {}", dir.display());
        run(Command::new("npm")
            .arg("ci")
            .arg("--prefix")
            .arg(&dir)
            .args(["--no-audit", "--no-fund", "--loglevel=error"]))?;
    }
    Ok(())
}

/// `cargo FIXED... EXTRA...` in the workspace root, the venv first on `PATH` when given.
fn cargo(fixed: &[&str], extra: &[OsString], python: Option<PathBuf>) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root()).args(fixed).args(extra);
    if let Some(bin) = python {
        let mut paths = vec![bin];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(paths).map_err(|e| format!("PATH: {e}"))?;
        command.env("PATH", path);
    }
    run(&mut command)
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{shown} failed: {status}")),
        Err(e) => Err(format!("{shown}: {e}")),
    }
}
