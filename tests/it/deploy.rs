//! `deploy/validate.sh` (run by CI on the real manifests): the shipped manifests pass it, and
//! its production lint refuses a workload that is not hardened (a container without a
//! securityContext, an image on a floating tag, several replicas without a PodDisruptionBudget).
//! Needs python3 with venv (the script installs its validator into `target/` on first use).

use crate::common::*;
use std::path::Path;
use std::process::{Command, Output};

fn validate(files: &[&Path]) -> (Output, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    require_program("python3");
    let output = Command::new("bash")
        .arg(root.join("deploy").join("validate.sh"))
        .args(files)
        .env("JARGATE", env!("CARGO_BIN_EXE_jargate"))
        .output()
        .expect("run deploy/validate.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

const UNHARDENED: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: { name: unhardened }
spec:
  replicas: 2
  selector: { matchLabels: { app: unhardened } }
  template:
    metadata: { labels: { app: unhardened } }
    spec:
      containers:
        - name: naked
          image: example.org/app:latest
        - name: half
          image: example.org/app:7-alpine
          securityContext: { runAsNonRoot: true }
"#;

// One test: validate.sh creates its venv on first use, so two runs must not race.
#[test]
fn validate_sh_passes_the_manifests_and_refuses_an_unhardened_workload() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join("kubernetes");
    let sidecar = root.join("sidecar.yaml");
    let replicas = root.join("multi-replica-redis.yaml");
    let (output, text) = validate(&[&sidecar, &replicas]);
    assert!(output.status.success(), "the shipped manifests:\n{text}");
    assert!(text.contains("production lint passed"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("unhardened.yaml");
    std::fs::write(&bad, UNHARDENED).expect("write manifest");
    let (output, text) = validate(&[&bad]);
    assert!(
        !output.status.success(),
        "an unhardened workload passed:\n{text}"
    );
    for expected in [
        "container naked: no securityContext",
        "container naked: image 'example.org/app:latest' is not pinned",
        "container half: image 'example.org/app:7-alpine' is not pinned",
        "container half: readOnlyRootFilesystem is not true",
        "container half: allowPrivilegeEscalation is not false",
        "container half: capabilities.drop does not contain ALL",
        "container half: no RuntimeDefault or Localhost seccompProfile",
        "Deployment/unhardened: 2 replicas and no PodDisruptionBudget",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
