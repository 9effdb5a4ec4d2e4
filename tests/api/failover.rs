//! Redis losing acknowledged writes, under a join rush through two replicas: a failover to a replica
//! that missed them, a restart without persistence, and losses in place (keys deleted, the counter
//! wound back, with or without the line to match). The replicas notice, stop drawing until every one
//! restored what it knew, and only then hand out positions again: no position is ever held by two
//! visitors, nobody who left is admitted, and every admitted visitor is drained under their own id.
//! Each test causes ten incidents in one rush and checks every visitor.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use waitroom::config::LogTarget;
use waitroom::domain::random_token_id;
use waitroom::store::LOST_VISITOR;
use waitroom_testkit::Daemon;

use crate::drain::read_log;
use crate::helpers::{base_config, eventually, spawn_config, TestApp};

/// A TCP proxy the test points waitroom at, and switches to another Redis as a failover would
/// (Sentinel telling clients, a managed Redis moving its endpoint): connections open at the switch
/// are cut, new ones go to the new target.
struct Switch {
    address: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Switch {
    async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (to, connections) = (target.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = *to.lock();
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().push(relay.abort_handle());
            }
        });
        Self {
            address,
            target,
            open,
        }
    }

    fn switch(&self, target: SocketAddr) {
        *self.target.lock() = target;
        for connection in self.open.lock().drain(..) {
            connection.abort();
        }
    }
}

async fn redis_command(address: SocketAddr, args: &[&str]) -> redis::Value {
    let client = redis::Client::open(format!("redis://{address}/0")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    command.query_async(&mut conn).await.unwrap()
}

/// One acknowledged join.
#[derive(Clone, Debug)]
struct Held {
    event: String,
    position: u64,
    visitor: String,
    token: String,
}

/// What the crowd was told: every acknowledged join, and who left.
#[derive(Default)]
struct Crowd {
    joined: Vec<Held>,
    left: Vec<Held>,
    /// Those whose leave got an error answer (a failover under way): Redis may have taken it all
    /// the same (run, replicated, its answer lost), so they are either forwarded or gone.
    leave_unanswered: Vec<Held>,
}

/// Eight clients joining `events` in turn over both replicas until `stop`; every seventh visitor
/// leaves at once, if far enough from the pointer that no release can admit them first (30 ahead:
/// 400 ms of releases).
fn rush(
    apps: [Arc<TestApp>; 2],
    events: &[&'static str],
    crowd: Arc<Mutex<Crowd>>,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..8)
        .map(|client| {
            let (apps, crowd, stop) = (apps.clone(), crowd.clone(), stop.clone());
            let events = events.to_vec();
            tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let app = &apps[(client + n) % 2];
                    let event = events[(client + n / 2) % events.len()];
                    // A pace a loaded machine keeps up with: the rest of the suite runs meanwhile.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let answer = app.join(event).await;
                    if !answer.status.is_success() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let held = Held {
                        event: event.to_owned(),
                        position: answer.position(),
                        visitor: answer.body["visitor"].as_str().unwrap().to_owned(),
                        token: answer.token(),
                    };
                    if (client + n).is_multiple_of(7) && answer.body["ahead"].as_u64() >= Some(30) {
                        if app.leave(event, &held.token).await.status.is_success() {
                            crowd.lock().left.push(held.clone());
                        } else {
                            crowd.lock().leave_unanswered.push(held.clone());
                        }
                    }
                    crowd.lock().joined.push(held);
                }
            })
        })
        .collect()
}

/// Two replicas on the Redis at `redis`, each draining what it admits to a log file in `dir`, with
/// `events` created (a release every 200 ms).
async fn replicas(
    redis: SocketAddr,
    prefix: &str,
    dir: &std::path::Path,
    events: &[&str],
) -> [Arc<TestApp>; 2] {
    let mut apps = Vec::new();
    for n in 0..2 {
        let mut config = base_config();
        config.redis_url = Some(format!("redis://{redis}/0").as_str().into());
        config.redis_prefix = prefix.to_owned();
        config.drain_in_serve = true;
        config.drain_log = LogTarget::File(dir.join(format!("drained-{n}.jsonl")));
        apps.push(Arc::new(spawn_config(config).await));
    }
    for event in events {
        apps[0]
            .create_event(
                event,
                json!({ "batch_size": 15, "release_interval_ms": 200 }),
            )
            .await;
    }
    [apps[0].clone(), apps[1].clone()]
}

/// Two replicas on the Redis at `redis` (see [`replicas`]) and the crowd joining `events` through
/// them, under a key prefix of its own.
struct Rush {
    prefix: String,
    apps: [Arc<TestApp>; 2],
    dir: tempfile::TempDir,
    crowd: Arc<Mutex<Crowd>>,
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Rush {
    async fn start(redis: SocketAddr, events: &[&'static str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("t{}", random_token_id());
        let apps = replicas(redis, &prefix, dir.path(), events).await;
        let crowd = Arc::new(Mutex::new(Crowd::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = rush(apps.clone(), events, crowd.clone(), stop.clone());
        Self {
            prefix,
            apps,
            dir,
            crowd,
            stop,
            clients,
        }
    }

    /// How many joins were acknowledged so far.
    fn acknowledged(&self) -> usize {
        self.crowd.lock().joined.len()
    }

    /// Stops the crowd: what it was told.
    async fn stop(&mut self) -> Crowd {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients.drain(..) {
            client.await.unwrap();
        }
        std::mem::take(&mut *self.crowd.lock())
    }
}

/// Checks what the crowd was told against Redis and the drain once the rush is over: no position
/// of any event held by two visitors; after admitting everyone, every visitor who stayed forwarded
/// under their own id (or as lost, when Redis lost their join), no leaver forwarded, leavers refused.
/// Returns how many were forwarded as lost.
async fn everyone_kept_their_own_place(
    apps: &[Arc<TestApp>; 2],
    dir: &std::path::Path,
    events: &[&str],
    crowd: &Crowd,
) -> usize {
    let mut holders: BTreeMap<(&str, u64), BTreeSet<&str>> = BTreeMap::new();
    for held in &crowd.joined {
        holders
            .entry((held.event.as_str(), held.position))
            .or_default()
            .insert(held.visitor.as_str());
    }
    let twice: Vec<_> = holders.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "{} positions held twice: {twice:?}",
        twice.len()
    );
    for event in events {
        let issued = apps[0].show(event).await.issued;
        apps[0].advance(event, issued).await;
        let drained = eventually(Duration::from_secs(30), || async {
            let figures = apps[0].show(event).await;
            figures.drained_through >= figures.admitted_through
                && figures.admitted_through >= issued
        })
        .await;
        assert!(
            drained.is_some(),
            "{event}: {:?}",
            apps[0].show(event).await
        );
    }
    let mut forwarded: HashMap<(String, u64), String> = HashMap::new();
    for n in 0..2 {
        for message in read_log(&dir.join(format!("drained-{n}.jsonl"))) {
            let key = (message.event.to_string(), message.position);
            let before = forwarded.insert(key, message.visitor.clone());
            assert!(
                before.is_none() || before.as_deref() == Some(message.visitor.as_str()),
                "{}: position {} forwarded as {before:?} and {}",
                message.event,
                message.position,
                message.visitor
            );
        }
    }
    let left: BTreeSet<(&str, u64)> = crowd
        .left
        .iter()
        .map(|held| (held.event.as_str(), held.position))
        .collect();
    let unanswered: BTreeSet<(&str, u64)> = crowd
        .leave_unanswered
        .iter()
        .map(|held| (held.event.as_str(), held.position))
        .collect();
    let mut lost = 0;
    for held in &crowd.joined {
        if left.contains(&(held.event.as_str(), held.position)) {
            continue;
        }
        let key = (held.event.clone(), held.position);
        match forwarded.get(&key).map(String::as_str) {
            Some(v) if v == held.visitor => {}
            Some(LOST_VISITOR) => lost += 1,
            // A leave whose answer was lost in the failover, taken all the same: gone for good.
            None if unanswered.contains(&(held.event.as_str(), held.position)) => {
                for app in apps.iter() {
                    app.status(&held.event, &held.token)
                        .await
                        .assert_problem(410, "left-line");
                }
            }
            other => panic!("{held:?} forwarded as {other:?}"),
        }
    }
    for held in &crowd.left {
        let key = (held.event.clone(), held.position);
        assert_ne!(
            forwarded.get(&key),
            Some(&held.visitor),
            "a leaver was forwarded"
        );
        for app in apps.iter() {
            app.status(&held.event, &held.token)
                .await
                .assert_problem(410, "left-line");
        }
    }
    lost
}

/// A Redis primary and a replica of it, in sync.
async fn replica_of(primary: SocketAddr) -> Daemon {
    let replica = Daemon::redis_replica_of(primary);
    let synced = eventually(Duration::from_secs(10), || async {
        let info = redis_command(replica.address(), &["INFO", "replication"]).await;
        matches!(info, redis::Value::VerbatimString { ref text, .. } if text.contains("master_link_status:up"))
            || matches!(info, redis::Value::BulkString(ref bytes) if String::from_utf8_lossy(bytes).contains("master_link_status:up"))
    })
    .await;
    assert!(synced.is_some(), "the replica did not sync");
    replica
}

/// Ten failovers in one rush: each time the primary keeps taking joins after its replica was
/// promoted (as in a network partition), then freezes; waitroom is switched to the promoted
/// replica, which never saw the last joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_that_loses_joins_hands_no_position_out_twice() {
    let mut primary = Daemon::redis();
    let proxy = Switch::to(primary.address()).await;
    let events = ["rush"];
    let mut rush = Rush::start(proxy.address, &events).await;
    let mut abandoned = Vec::new();
    let mut lost_windows = Vec::new();
    for _ in 0..INCIDENTS {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let replica = replica_of(primary.address()).await;
        // Promoted while the primary still answers: what the primary acknowledges from now on, the
        // new primary never sees.
        redis_command(replica.address(), &["REPLICAOF", "NO", "ONE"]).await;
        let promoted_at = rush.acknowledged();
        tokio::time::sleep(Duration::from_millis(400)).await;
        primary.signal("STOP");
        lost_windows.push(rush.acknowledged() - promoted_at);
        proxy.switch(replica.address());
        abandoned.push(std::mem::replace(&mut primary, replica));
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let crowd = rush.stop().await;
    for old in &abandoned {
        old.signal("CONT");
    }
    let apps = &rush.apps;
    assert!(
        lost_windows.iter().all(|&window| window > 5),
        "joins acknowledged by the old primaries: {lost_windows:?}"
    );
    let lost = everyone_kept_their_own_place(apps, rush.dir.path(), &events, &crowd).await;
    assert!(
        lost > 0,
        "no acknowledged join was lost: the failovers lost nothing to restore"
    );
    // Operators are told: the readiness details of a replica that restored.
    let mut readiness = Vec::new();
    for app in apps.iter() {
        readiness.push(app.send(app.client.get(app.url("/readyz"))).await.body);
    }
    assert!(
        readiness
            .iter()
            .any(|ready| ready["checks"]["store_data_lost"]["event"] == "rush"),
        "{readiness:?}"
    );
    println!(
        "{} joins acknowledged over {INCIDENTS} failovers, {lost_windows:?} by the old primaries; {lost} positions whose joins were lost were forwarded as {LOST_VISITOR}; {} left",
        crowd.joined.len(),
        crowd.left.len()
    );
}

/// Incidents per test.
const INCIDENTS: usize = 10;

/// How Redis loses writes without changing instance.
#[derive(Clone, Copy, Debug)]
enum InPlace {
    /// The counter and the line deleted.
    KeysDeleted,
    /// The counter wound back 25; the line keeps its entries (longer than the counter).
    CounterRewound,
    /// The counter wound back 25 and the line cut to match.
    LineRewound,
}

/// Ten losses in place in one rush, alternating between two events, 500 ms apart.
async fn losses_in_place(loss: InPlace) {
    let redis = Daemon::redis();
    let events = ["in-place-a", "in-place-b"];
    let mut rush = Rush::start(redis.address(), &events).await;
    let prefix = rush.prefix.clone();
    let mut rewound = Vec::new();
    for incident in 0..INCIDENTS {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let event = events[incident % events.len()];
        let (issued, line) = (
            format!("{prefix}:{{{event}}}:issued"),
            format!("{prefix}:{{{event}}}:line"),
        );
        let at = redis_command(redis.address(), &["GET", &issued]).await;
        let at: u64 = redis::from_redis_value(at).unwrap_or(0);
        rewound.push(at);
        let back = at.saturating_sub(25).to_string();
        match loss {
            InPlace::KeysDeleted => {
                redis_command(redis.address(), &["DEL", &issued, &line]).await;
            }
            InPlace::CounterRewound => {
                redis_command(redis.address(), &["SET", &issued, &back]).await;
            }
            InPlace::LineRewound => {
                let client = redis::Client::open(redis.redis_url()).unwrap();
                let mut conn = client.get_multiplexed_async_connection().await.unwrap();
                let _: () = redis::pipe()
                    .atomic()
                    .set(&issued, &back)
                    .ltrim(&line, 0, at as isize - 26)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let crowd = rush.stop().await;
    assert!(
        rewound.iter().all(|&at| at > 25),
        "the rush had not reached 25 joins at an incident: {rewound:?}"
    );
    let lost = everyone_kept_their_own_place(&rush.apps, rush.dir.path(), &events, &crowd).await;
    println!(
        "{loss:?}: {} joins acknowledged over {INCIDENTS} incidents at {rewound:?}; {lost} forwarded as {LOST_VISITOR}; {} left",
        crowd.joined.len(),
        crowd.left.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_deleted_in_place_hand_no_position_out_twice() {
    losses_in_place(InPlace::KeysDeleted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_counter_wound_back_hands_no_position_out_twice_nor_shifts_the_drain() {
    losses_in_place(InPlace::CounterRewound).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_counter_and_line_wound_back_together_hand_no_position_out_twice() {
    losses_in_place(InPlace::LineRewound).await;
}

/// Ten restarts without persistence in one rush: Redis crashes and comes back empty on the same
/// address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarts_without_persistence_hand_no_position_out_twice() {
    let mut redis = Daemon::redis();
    let port = redis.address().port();
    let events = ["restart-a", "restart-b"];
    let mut rush = Rush::start(redis.address(), &events).await;
    for _ in 0..INCIDENTS {
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Killed (a crash), and gone from its port before the new one binds it: a server still
        // shutting down would take the new one's port, and then leave nothing listening.
        redis.signal("KILL");
        let address = redis.address();
        let gone = eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(address).await.is_err()
        })
        .await;
        assert!(gone.is_some(), "the killed redis-server still listens");
        drop(redis);
        redis = Daemon::redis_on_port(port);
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let crowd = rush.stop().await;
    let apps = &rush.apps;
    let back = eventually(Duration::from_secs(30), || async {
        let mut answered = true;
        for app in apps.iter() {
            for event in events {
                answered &= app.api.event(event).await.is_ok();
            }
        }
        answered
    })
    .await;
    if back.is_none() {
        // What each replica says, to tell why.
        for app in apps.iter() {
            for event in events {
                eprintln!("{event}: {:?}", app.api.event(event).await.err());
            }
            eprintln!(
                "{}",
                app.send(app.client.get(app.url("/readyz"))).await.body
            );
        }
    }
    assert!(back.is_some(), "the replicas never found Redis again");
    let lost = everyone_kept_their_own_place(apps, rush.dir.path(), &events, &crowd).await;
    assert!(lost > 0, "the restarts lost nothing to restore");
    println!(
        "{} joins acknowledged over {INCIDENTS} restarts; {lost} forwarded as {LOST_VISITOR}; {} left",
        crowd.joined.len(),
        crowd.left.len()
    );
}
