//! The Dockerfile's build stage, proven without a container engine (none runs here, and base images
//! cannot be pulled): its COPY and RUN steps replayed in an empty directory, in order, with only the
//! files they copy. This is what caught a dependency stage whose manifest named a binary it did not
//! create. Its commands run as written (a release build), on the workspace's target directory;
//! scripts/test.sh runs it on its own after the suite, as it compiles for minutes the first time
//! and would slow the suite's timed tests.

use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "compiles a copy of the crate: scripts/test.sh runs it after the suite"]
fn the_dockerfile_build_stage_builds_from_what_it_copies() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(repo.join("Dockerfile")).unwrap();
    // Instructions with their continuation lines joined, comments dropped.
    let mut instructions: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines().map(str::trim) {
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let build: Vec<&String> = instructions
        .iter()
        .skip_while(|i| !i.starts_with("FROM "))
        .skip(1)
        .take_while(|i| !i.starts_with("FROM "))
        .collect();
    let work = tempfile::tempdir().unwrap();
    let target = repo.join("target");
    let mut ran = 0;
    for instruction in build {
        let (verb, rest) = instruction.split_once(' ').unwrap();
        match verb {
            // A build argument's default; the replay builds without one (the revision is unknown).
            "WORKDIR" | "ARG" => {}
            "COPY" => {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let (sources, destination) = parts.split_at(parts.len() - 1);
                for source in sources {
                    let to = if destination[0].ends_with('/') {
                        work.path().join(destination[0]).join(source)
                    } else {
                        work.path().join(destination[0])
                    };
                    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                    let copied = Command::new("cp")
                        .arg("-r")
                        .arg(repo.join(source))
                        .arg(&to)
                        .status()
                        .unwrap();
                    assert!(copied.success(), "COPY {source}");
                }
            }
            "RUN" => {
                let script = rest;
                let output = Command::new("sh")
                    .arg("-c")
                    .arg(script)
                    .current_dir(work.path())
                    .env("CARGO_TARGET_DIR", &target)
                    .output()
                    .unwrap();
                assert!(
                    output.status.success(),
                    "RUN {script}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                ran += 1;
            }
            other => panic!("the build stage has a {other} step this check does not know"),
        }
    }
    assert_eq!(ran, 2, "the dependency stage and the build");
    // What the runtime stage copies out of it.
    let version = Command::new(target.join("release/waitroom"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    let said = String::from_utf8_lossy(&version.stdout);
    assert!(said.starts_with("waitroom "), "{said}");
    // The revision: `unknown` without .git, or the checkout's when cargo reuses the build script's
    // output from the shared target directory.
    assert!(
        said.trim_end().ends_with(')') && said.contains(" ("),
        "{said}"
    );
}

/// The release workflow (it cannot run here): a version tag builds the binary and the image from
/// the Dockerfile, passes the revision to both, and labels the image with its source, revision and
/// version (OCI), under the repository the chart's default image names.
#[test]
fn the_release_workflow_builds_and_labels_what_the_chart_pulls() {
    use serde_norway::Value;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join(".github/workflows/release.yml")).unwrap();
    let workflow: Value = serde_norway::from_str(&text).expect("valid YAML");
    assert_eq!(workflow["on"]["push"]["tags"][0], "v*.*.*");
    let steps = |job: &str| {
        workflow["jobs"][job]["steps"]
            .as_sequence()
            .unwrap()
            .clone()
    };
    let binary = steps("binary");
    assert!(binary.iter().any(|step| {
        step["env"]["BUILD_REVISION"] == "${{ github.sha }}"
            && step["run"]
                .as_str()
                .is_some_and(|run| run.contains("waitroom --version"))
    }));
    let image = steps("image");
    let meta = image
        .iter()
        .find(|step| step["id"] == "meta")
        .expect("the labels' step");
    assert!(meta["uses"]
        .as_str()
        .unwrap()
        .starts_with("docker/metadata-action@"));
    assert_eq!(
        meta["with"]["images"],
        "ghcr.io/${{ github.repository_owner }}/waitroom"
    );
    let build = image
        .iter()
        .find(|step| {
            step["uses"]
                .as_str()
                .is_some_and(|uses| uses.starts_with("docker/build-push-action@"))
        })
        .expect("the image build");
    assert_eq!(build["with"]["labels"], "${{ steps.meta.outputs.labels }}");
    assert_eq!(
        build["with"]["build-args"],
        "BUILD_REVISION=${{ github.sha }}"
    );
    // The Dockerfile takes that argument, and the chart pulls from where the workflow pushes.
    let dockerfile = std::fs::read_to_string(repo.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("ARG BUILD_REVISION"));
    let values = std::fs::read_to_string(repo.join("helm/waitroom/values.yaml")).unwrap();
    assert!(values.contains("repository: ghcr.io/waitroom/waitroom"));
}
