//! Ports and child processes for waitroom's tests and its benchmark, written once: free ports,
//! waiting for a listener, and daemons (redis-server, a Kafka-protocol broker, ChromeDriver, or
//! waitroom itself) that stop when dropped, or when the process that started them dies.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether something listens on `port` (loopback) within `within`.
pub fn wait_for_port(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A server process on a free port, stopped when dropped. A watchdog shell stands between it and
/// the caller: when the calling process dies without dropping it (a failed test, a killed bench),
/// the shell stops the server at its next check.
pub struct Daemon {
    pub port: u16,
    program: String,
    child: Child,
    log: Option<PathBuf>,
}

impl Daemon {
    /// Starts `program` with `args` (shell words) and `env`, in both of which `{port}` stands for
    /// the port chosen, and waits until it listens. Its standard error goes to `log` when given.
    pub fn spawn(program: &str, args: &str, env: &[(&str, String)], log: Option<PathBuf>) -> Self {
        Self::start(free_port(), program, args, env, log, false)
    }

    /// As [`Daemon::spawn`], on a port the caller chose (for a program whose configuration file
    /// names it, like nginx).
    pub fn spawn_on_port(
        port: u16,
        program: &str,
        args: &str,
        env: &[(&str, String)],
        log: Option<PathBuf>,
    ) -> Self {
        Self::start(port, program, args, env, log, false)
    }

    /// As [`Daemon::spawn`], with an environment of `PATH` and `env` alone, so nothing set in the
    /// caller's environment (a developer's `WAITROOM_*`) reaches it.
    pub fn spawn_isolated(
        program: &str,
        args: &str,
        env: &[(&str, String)],
        log: Option<PathBuf>,
    ) -> Self {
        Self::start(free_port(), program, args, env, log, true)
    }

    fn start(
        port: u16,
        program: &str,
        args: &str,
        env: &[(&str, String)],
        log: Option<PathBuf>,
        isolated: bool,
    ) -> Self {
        let args = args.replace("{port}", &port.to_string());
        let script = format!(
            "{program} {args} & pid=$!; trap 'kill $pid 2>/dev/null' TERM; \
             while kill -0 {parent} 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; \
             kill $pid 2>/dev/null; wait $pid",
            parent = std::process::id()
        );
        let stderr = match &log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("a log file")),
            None => Stdio::null(),
        };
        let mut command = Command::new("sh");
        if isolated {
            command
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default());
        }
        let child = command
            .arg("-c")
            .arg(script)
            .envs(
                env.iter()
                    .map(|(key, value)| (key, value.replace("{port}", &port.to_string()))),
            )
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} ({e})"));
        let mut daemon = Self {
            port,
            program: program.to_owned(),
            child,
            log,
        };
        daemon.wait_until_up();
        daemon
    }

    /// A program installed by `scripts/install-test-deps.sh`, started without environment changes.
    fn installed(program: &str, args: &str) -> Self {
        Self::spawn(program, args, &[], None)
    }

    pub fn redis() -> Self {
        Self::redis_on_port(free_port())
    }

    /// A redis-server on `port` (restarted on the address it had, empty).
    pub fn redis_on_port(port: u16) -> Self {
        Self::spawn_on_port(port, "redis-server", &redis_args(port, ""), &[], None)
    }

    /// A redis-server replicating `primary`.
    pub fn redis_replica_of(primary: std::net::SocketAddr) -> Self {
        let port = free_port();
        let replica_of = format!("--replicaof 127.0.0.1 {}", primary.port());
        Self::spawn_on_port(
            port,
            "redis-server",
            &redis_args(port, &replica_of),
            &[],
            None,
        )
    }

    /// A redis-server that joins a Redis Cluster (see [`RedisCluster`]), its node file in `dir`.
    fn cluster_node(dir: &std::path::Path) -> Self {
        Self::installed(
            "redis-server",
            &format!(
                "--port {{port}} --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
                 --cluster-enabled yes --cluster-node-timeout 2000 \
                 --cluster-config-file {}/nodes-{{port}}.conf",
                dir.display()
            ),
        )
    }

    /// A standalone Kafka-protocol broker (tansu), keeping its data in memory.
    pub fn kafka() -> Self {
        Self::installed(
            "tansu",
            "broker --listener-url tcp://127.0.0.1:{port} --advertised-listener-url tcp://127.0.0.1:{port} \
             --storage-engine memory://tansu/",
        )
    }

    /// ChromeDriver, for the browser tests (it finds Debian's chromium through the capabilities).
    pub fn chromedriver() -> Self {
        Self::installed("chromedriver", "--port={port} --allowed-ips=127.0.0.1")
    }

    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn kafka_brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn address(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Creates a topic on the broker [`Daemon::kafka`] started.
    pub fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), String> {
        let output = Command::new("tansu")
            .args(["topic", "create", topic, "--partitions"])
            .arg(partitions.to_string())
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .map_err(|e| format!("tansu topic create: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    fn wait_until_up(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} stopped before listening ({status}): {}",
                    self.program,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} did not listen on port {} (is it installed? scripts/install-test-deps.sh): {}",
            self.program,
            self.port,
            self.log_text()
        );
    }

    /// What the server wrote to its log so far (empty without a log).
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    /// The server process itself (the watchdog shell's child), once it runs.
    pub fn pid(&self) -> Option<u32> {
        let out = Command::new("pgrep")
            .args(["-P", &self.child.id().to_string(), "-f", &self.program])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, `KILL`...) to the server process.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("the daemon runs").to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// The server's exit status once it stopped, if it does within `within` (the watchdog notices
    /// within a second and exits with it).
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Freezes the server: connections hang as they would to a dead host.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    pub fn thaw(&self) {
        self.signal("CONT");
    }
}

/// A throwaway redis-server's arguments: no persistence, and a directory of its own, emptied, so a
/// snapshot a replica's sync writes is never loaded by another server (nor one left in the working
/// directory by anything else).
fn redis_args(port: u16, extra: &str) -> String {
    let dir = std::env::temp_dir().join(format!("waitroom-redis-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory for redis-server");
    format!(
        "--port {port} --bind 127.0.0.1 --save '' --appendonly no --loglevel warning --dir {} {extra}",
        dir.display()
    )
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let pid = pid.to_string();
            let _ = Command::new("kill").args(["-CONT", &pid]).status();
            let _ = Command::new("kill").arg(&pid).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis Cluster of three primaries (no replicas) on free ports, the 16,384 slots spread evenly by
/// `redis-cli --cluster create`; stopped when dropped.
pub struct RedisCluster {
    pub nodes: Vec<Daemon>,
    dir: PathBuf,
}

impl RedisCluster {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "waitroom-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the node files");
        let nodes: Vec<Daemon> = (0..3).map(|_| Daemon::cluster_node(&dir)).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli (scripts/install-test-deps.sh installs it)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Self { nodes, dir };
        cluster.wait_until_ok();
        cluster
    }

    /// Every node's URL, as waitroom's `redis_url` lists them.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("redis://127.0.0.1:{}", node.port))
            .collect()
    }

    /// Runs `redis-cli` against one node; its output.
    pub fn cli(&self, node: usize, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.nodes[node].port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until every node agrees all slots are served.
    fn wait_until_ok(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if (0..self.nodes.len()).all(|node| {
                self.cli(node, &["cluster", "info"])
                    .contains("cluster_state:ok")
            }) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the Redis Cluster did not come up");
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_reports_how_the_server_ended() {
        let mut daemon = Daemon::spawn_isolated(
            "python3",
            "-c 'import os,socket,sys,time; s=socket.socket(); s.bind((\"127.0.0.1\", {port})); s.listen(); \
             time.sleep(0.5); sys.stderr.write(os.environ.get(\"HOME\", \"no home\")); sys.exit(3)'",
            &[],
            Some(std::env::temp_dir().join(format!("testkit-{}.log", std::process::id()))),
        );
        let status = daemon.wait_exit(Duration::from_secs(5)).expect("it exits");
        assert_eq!(status.code(), Some(3));
        assert_eq!(
            daemon.log_text(),
            "no home",
            "the environment was not isolated"
        );
    }

    #[test]
    fn a_daemon_listens_and_stops_when_dropped() {
        let daemon = Daemon::spawn(
            "python3",
            "-c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\", {port})); s.listen(); time.sleep(60)'",
            &[],
            None,
        );
        let port = daemon.port;
        assert!(wait_for_port(port, Duration::from_secs(1)));
        assert!(daemon.pid().is_some());
        drop(daemon);
        let deadline = Instant::now() + Duration::from_secs(2);
        while TcpStream::connect(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "still listening after the drop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
