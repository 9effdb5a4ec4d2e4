//! The Helm chart: linted strictly, rendered with default and non-default values, and the rendered
//! objects checked as data.

use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use serde_norway::Value;

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("helm/waitroom")
}

fn helm(args: &[&str]) -> std::process::Output {
    Command::new("helm")
        .args(args)
        .output()
        .expect("helm must be installed: run scripts/test.sh")
}

/// `helm <verb> release <chart> <extra…>`'s output; the command must succeed.
fn run_on_chart(verb: &str, extra: &[&str]) -> String {
    let chart = chart();
    let mut args = vec![verb, "release", chart.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = helm(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Renders the chart; returns every object.
fn render(extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--namespace", "queue"];
    args.extend_from_slice(extra);
    let text = run_on_chart("template", &args);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

use serde::Deserialize;

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name))
}

fn kinds(objects: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    kinds
}

fn env_names(container: &Value) -> Vec<String> {
    container["env"]
        .as_sequence()
        .map(|env| {
            env.iter()
                .map(|e| e["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_chart_lints_strictly() {
    let output = helm(&["lint", "--strict", chart().to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let values = chart().join("../../tests/fixtures/helm-values.yaml");
    let output = helm(&[
        "lint",
        "--strict",
        chart().to_str().unwrap(),
        "-f",
        values.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn default_values_render_a_hardened_api_and_drain_worker() {
    let objects = render(&[]);
    assert_eq!(
        kinds(&objects),
        [
            "ConfigMap",
            "ConfigMap",
            "Deployment",
            "Deployment",
            "Pod",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "Service",
            "ServiceAccount"
        ]
    );
    let api = find(&objects, "Deployment", "release-waitroom").expect("the API deployment");
    assert_eq!(api["spec"]["replicas"], 2);
    let pod = &api["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["args"][0], "serve");
    assert_eq!(container["image"], "ghcr.io/waitroom/waitroom:0.1.0");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    // A slow start is not killed by liveness: a minute to answer /healthz first.
    let startup = &container["startupProbe"];
    assert_eq!(startup["httpGet"]["path"], "/healthz");
    let patience =
        startup["periodSeconds"].as_u64().unwrap() * startup["failureThreshold"].as_u64().unwrap();
    assert!(patience >= 60, "{startup:?}");
    // No Kubernetes API token in the pods: waitroom never calls it.
    let account = find(&objects, "ServiceAccount", "release-waitroom").expect("its own account");
    assert_eq!(account["automountServiceAccountToken"], false);
    assert_eq!(pod["serviceAccountName"], "release-waitroom");
    assert_eq!(pod["automountServiceAccountToken"], false);
    // Replicas spread over nodes, counted among the API's own pods.
    let spread = &pod["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "api"
    );
    // `helm test`: a pod of the same image probes both ports through the Service.
    let test = find(&objects, "Pod", "release-waitroom-test").expect("the helm test");
    assert_eq!(test["metadata"]["annotations"]["helm.sh/hook"], "test");
    let probe = &test["spec"]["containers"][0];
    assert_eq!(probe["args"][0], "probe");
    assert_eq!(probe["args"][1], "http://release-waitroom:80/readyz");
    assert_eq!(probe["args"][2], "http://release-waitroom:9091/metrics");
    assert_eq!(test["spec"]["automountServiceAccountToken"], false);
    assert_eq!(
        pod["volumes"][0]["secret"]["defaultMode"], 0o440,
        "keys not readable by others"
    );
    // One slow answer does not take the pod out, and it is out before the listener closes.
    let probe = &container["readinessProbe"];
    let (period, failures) = (
        probe["periodSeconds"].as_u64().unwrap(),
        probe["failureThreshold"].as_u64().unwrap(),
    );
    assert!(failures >= 2, "{probe:?}");
    assert!(probe["timeoutSeconds"].as_u64().unwrap() >= 2, "{probe:?}");
    assert!(
        period * failures * 1_000 < 5_000,
        "out within the 5 s shutdown delay: {probe:?}"
    );
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    assert!(container["resources"]["limits"]["memory"].is_string());
    // Shutdown delay (5 s) + timeout (20 s) + margin.
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert!(env_names(container).contains(&"WAITROOM_ADMIN_TOKEN".to_owned()));
    assert_eq!(
        pod["volumes"][0]["secret"]["secretName"],
        "release-waitroom-secrets"
    );

    let config = find(&objects, "ConfigMap", "release-waitroom").expect("the config");
    assert_eq!(
        config["data"]["WAITROOM_REDIS_URL"],
        "redis://redis-master:6379/0"
    );
    assert_eq!(config["data"]["WAITROOM_DRAIN_IN_SERVE"], "false");
    assert_eq!(config["data"]["WAITROOM_LISTEN"], "0.0.0.0:8080");

    let drain = find(&objects, "Deployment", "release-waitroom-drain").expect("the drain worker");
    let worker = &drain["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(worker["args"][0], "drain");
    assert_eq!(worker["readinessProbe"]["httpGet"]["port"], "status");
    assert_eq!(worker["securityContext"]["readOnlyRootFilesystem"], true);

    let secret = find(&objects, "Secret", "release-waitroom-secrets").expect("generated secrets");
    let key = secret["data"]["default.key"].as_str().unwrap();
    let file = base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap();
    let secret_bytes = base64::engine::general_purpose::STANDARD
        .decode(String::from_utf8(file).unwrap())
        .unwrap();
    assert_eq!(secret_bytes.len(), 32, "a generated key waitroom accepts");
    let dashboard =
        find(&objects, "ConfigMap", "release-waitroom-dashboard").expect("the dashboard");
    let json: serde_json::Value =
        serde_json::from_str(dashboard["data"]["waitroom.json"].as_str().unwrap()).unwrap();
    assert!(json["panels"].as_array().unwrap().len() >= 8);
}

#[test]
fn non_default_values_render_every_optional_object() {
    let values = chart().join("../../tests/fixtures/helm-values.yaml");
    let objects = render(&["-f", values.to_str().unwrap()]);
    for kind in [
        "HorizontalPodAutoscaler",
        "Ingress",
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
    ] {
        assert!(kinds(&objects).iter().any(|k| k == kind), "no {kind}");
    }
    // The internal port only from the peers named; http from anywhere; an existing account used.
    let policy = find(&objects, "NetworkPolicy", "release-waitroom").unwrap();
    let rules = policy["spec"]["ingress"].as_sequence().unwrap();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules[0].get("from").is_none(), "http from anywhere");
    assert_eq!(rules[1]["ports"][0]["port"], "internal");
    assert_eq!(
        rules[1]["from"][0]["namespaceSelector"]["matchLabels"]["name"],
        "monitoring"
    );
    assert!(find(&objects, "ServiceAccount", "release-waitroom").is_none());
    let pod =
        &find(&objects, "Deployment", "release-waitroom").unwrap()["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "waitroom-runner");
    assert!(pod.get("topologySpreadConstraints").is_none());
    assert!(find(&objects, "Deployment", "release-waitroom-drain").is_none());
    assert!(
        find(&objects, "Secret", "release-waitroom-secrets").is_none(),
        "an existing Secret is used"
    );

    let api = find(&objects, "Deployment", "release-waitroom").unwrap();
    assert!(
        api["spec"].get("replicas").is_none(),
        "the autoscaler owns the replica count"
    );
    let container = &api["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "registry.example.com/waitroom:1.2.3");
    let redis = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "WAITROOM_REDIS_URL")
        .expect("the Redis URL from its Secret");
    assert_eq!(
        redis["valueFrom"]["secretKeyRef"]["name"],
        "redis-credentials"
    );
    assert!(env_names(container).contains(&"WAITROOM_CONFIG".to_owned()));
    assert_eq!(
        api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        45
    );

    let config = find(&objects, "ConfigMap", "release-waitroom").unwrap();
    assert!(config["data"].get("WAITROOM_REDIS_URL").is_none());
    assert_eq!(
        config["data"]["WAITROOM_KAFKA_BROKERS"],
        "kafka-1:9092,kafka-2:9092"
    );
    assert_eq!(config["data"]["WAITROOM_DRAIN_IN_SERVE"], "true");
    assert_eq!(config["data"]["WAITROOM_ACTIVE_KEY"], "2026-11");
    assert_eq!(
        config["data"]["WAITROOM_TRUSTED_PROXIES"],
        "10.0.0.0/8,fd00::/8"
    );
    assert!(config["data"]["waitroom.toml"]
        .as_str()
        .unwrap()
        .contains("[events.summer-tour]"));

    let hpa = find(&objects, "HorizontalPodAutoscaler", "release-waitroom").unwrap();
    assert_eq!(
        (
            hpa["spec"]["minReplicas"].as_u64(),
            hpa["spec"]["maxReplicas"].as_u64()
        ),
        (Some(3), Some(12))
    );
    let ingress = find(&objects, "Ingress", "release-waitroom").unwrap();
    assert_eq!(
        ingress["spec"]["rules"][0]["host"],
        "queue.tickets.example.com"
    );
    assert_eq!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"],
        "off"
    );

    let rules = find(&objects, "PrometheusRule", "release-waitroom").unwrap();
    let alerts: Vec<&str> = rules["spec"]["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    for alert in [
        "WaitroomQueueGrowingFast",
        "WaitroomReleaseStalled",
        "WaitroomHighLatency",
        "WaitroomDrainLag",
        "WaitroomRedisErrors",
    ] {
        assert!(alerts.contains(&alert), "no alert {alert}");
    }
    let lag = rules["spec"]["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == "WaitroomDrainLag")
        .unwrap();
    assert_eq!(lag["expr"], "max by (event) (waitroom_drain_lag) > 500");

    // The admin API and metrics live on the internal port, which the Ingress never routes to.
    assert_eq!(config["data"]["WAITROOM_INTERNAL_LISTEN"], "0.0.0.0:9091");
    let monitor = find(&objects, "ServiceMonitor", "release-waitroom").unwrap();
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "internal");
    for path in ingress["spec"]["rules"][0]["http"]["paths"]
        .as_sequence()
        .unwrap()
    {
        assert_eq!(path["backend"]["service"]["port"]["name"], "http");
    }
    let service = find(&objects, "Service", "release-waitroom").unwrap();
    let ports: Vec<&str> = service["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["http", "internal"]);
}

/// Keys stay put: a generated Secret survives an uninstall, GitOps renders (generate: false) refuse
/// to make keys of their own, and Ed25519 pass keys and the service token reach the pods.
#[test]
fn key_material_is_stable_and_pass_keys_are_wired() {
    let objects = render(&[]);
    let secret = find(&objects, "Secret", "release-waitroom-secrets").unwrap();
    assert_eq!(
        secret["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );

    let chart = chart();
    let refused = helm(&[
        "template",
        "release",
        chart.to_str().unwrap(),
        "--set",
        "secrets.generate=false",
    ]);
    assert!(
        !refused.status.success(),
        "a GitOps render made keys of its own"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("secrets.existingSecret"));
    let gitops = render(&[
        "--set",
        "secrets.generate=false",
        "--set",
        "secrets.existingSecret=waitroom-keys",
    ]);
    assert!(find(&gitops, "Secret", "release-waitroom-secrets").is_none());

    let pem = waitroom::keys::generate_ed25519_pem();
    let dir = tempfile::tempdir().unwrap();
    let pem_file = dir.path().join("passes.pem");
    std::fs::write(&pem_file, &pem).unwrap();
    let wired = render(&[
        "--set-file",
        &format!("secrets.passKeys.passes-1={}", pem_file.display()),
        "--set",
        "secrets.passKey=passes-1",
        "--set",
        "secrets.serviceToken=service-token-0123456789",
    ]);
    let secret = find(&wired, "Secret", "release-waitroom-secrets").unwrap();
    let stored = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["passes-1.pem"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(stored).unwrap(), pem);
    assert!(secret["data"]["service-token"].is_string());
    let config = find(&wired, "ConfigMap", "release-waitroom").unwrap();
    assert_eq!(config["data"]["WAITROOM_PASS_KEY"], "passes-1");
    let api = find(&wired, "Deployment", "release-waitroom").unwrap();
    let container = &api["spec"]["template"]["spec"]["containers"][0];
    assert!(env_names(container).contains(&"WAITROOM_SERVICE_TOKEN".to_owned()));
}

#[test]
fn cluster_mode_names_the_nodes() {
    let objects = render(&[
        "--set",
        "redis.cluster=true",
        "--set",
        "redis.url=redis://redis-cluster-0:6379\\,redis://redis-cluster-1:6379",
        "--set",
        "config.resyncSweepS=60",
    ]);
    let config = find(&objects, "ConfigMap", "release-waitroom").unwrap();
    assert_eq!(config["data"]["WAITROOM_REDIS_CLUSTER"], "true");
    assert_eq!(
        config["data"]["WAITROOM_REDIS_URL"],
        "redis://redis-cluster-0:6379,redis://redis-cluster-1:6379"
    );
    assert_eq!(config["data"]["WAITROOM_RESYNC_SWEEP_S"], "60");
}

#[test]
fn the_schema_refuses_bad_values() {
    let chart = chart();
    for bad in [
        "replicaCount=0",
        "redis.url=http://x",
        "redis.url=redis://a:6379\\,http://b:6379",
        "config.resyncSweepS=0",
        "config.logFormat=xml",
        "config.pointerPollMs=5000",
        "secrets.serviceToken=short",
        "secrets.passKeys.p=not-a-pem",
    ] {
        let output = helm(&["template", "release", chart.to_str().unwrap(), "--set", bad]);
        assert!(!output.status.success(), "{bad} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("schema"), "{bad}: {stderr}");
    }
}

/// Behind an Ingress with no trusted proxies every visitor would be the controller's one address:
/// the install notes say so, and say what to set; with `config.trustedProxies` they do not.
#[test]
fn the_install_notes_warn_of_an_ingress_without_trusted_proxies() {
    let notes = |extra: &[&str]| {
        let mut args = vec![
            "--dry-run=client",
            "--set",
            "ingress.enabled=true",
            "--set",
            "redis.url=redis://redis:6379/0",
        ];
        args.extend_from_slice(extra);
        run_on_chart("install", &args)
    };
    let untrusted = notes(&[]);
    assert!(
        untrusted.contains("config.trustedProxies is empty")
            && untrusted.contains("--set config.trustedProxies="),
        "{untrusted}"
    );
    let trusted = notes(&["--set", "config.trustedProxies=10.0.0.0/8"]);
    assert!(!trusted.contains("trustedProxies is empty"), "{trusted}");
}

/// The chart's README lists every value with its default and comment, as values.yaml says now.
#[test]
fn the_chart_readme_is_generated_from_the_current_values() {
    let output = Command::new("python3")
        .arg(chart().join("../../scripts/chart-readme.py"))
        .arg("--check")
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let readme = std::fs::read_to_string(chart().join("README.md")).unwrap();
    for value in [
        "`networkPolicy.internalFrom`",
        "`serviceAccount.create`",
        "`startupProbe.failureThreshold`",
    ] {
        assert!(readme.contains(value), "{value} missing");
    }
}

/// The chart's alert rules with the default thresholds, as a plain rules file in `dir`.
pub(crate) fn alert_rules_in(dir: &std::path::Path) -> PathBuf {
    let objects = render(&["--set", "metrics.prometheusRule.enabled=true"]);
    let rule = objects
        .iter()
        .find(|o| o["kind"].as_str() == Some("PrometheusRule"))
        .expect("the PrometheusRule");
    let path = dir.join("rules.yml");
    std::fs::write(&path, serde_norway::to_string(&rule["spec"]).unwrap()).unwrap();
    path
}

/// promtool checks the rules and runs their unit tests (tests/fixtures/alerts-test.yml): every
/// alert fires when it should, and the release alert stays quiet in a pre-queue, a paused event
/// and one released by hand.
#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = tempfile::tempdir().unwrap();
    let rules = alert_rules_in(dir.path());
    let unit_tests = dir.path().join("alerts-test.yml");
    std::fs::copy(
        chart().join("../../tests/fixtures/alerts-test.yml"),
        &unit_tests,
    )
    .unwrap();
    for args in [
        vec!["check", "rules", rules.to_str().unwrap()],
        vec!["test", "rules", unit_tests.to_str().unwrap()],
    ] {
        let output = Command::new("promtool")
            .args(&args)
            .output()
            .expect("promtool, installed by scripts/install-test-deps.sh");
        assert!(
            output.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
