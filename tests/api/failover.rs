//! Redis losing acknowledged writes: a failover to a replica that missed them, a flushed event. The
//! replicas restore what they knew before handing out anything again, so no position is ever held
//! by two visitors, nobody who left is admitted, and every admitted visitor is drained.

use std::collections::{BTreeMap, BTreeSet};
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

/// What the crowd was told: every acknowledged join, and who left.
#[derive(Default)]
struct Crowd {
    /// (position, visitor, token) of every join answered 2xx.
    joined: Vec<(u64, String, String)>,
    left: Vec<(u64, String, String)>,
}

/// Eight clients joining over both replicas until `stop`; every seventh visitor leaves at once.
fn rush(
    apps: [Arc<TestApp>; 2],
    crowd: Arc<Mutex<Crowd>>,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..8)
        .map(|client| {
            let (apps, crowd, stop) = (apps.clone(), crowd.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let app = &apps[(client + n) % 2];
                    let answer = app.join("rush").await;
                    if !answer.status.is_success() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let entry = (
                        answer.position(),
                        answer.body["visitor"].as_str().unwrap().to_owned(),
                        answer.token(),
                    );
                    if (client + n).is_multiple_of(7)
                        && app.leave("rush", &entry.2).await.status.is_success()
                    {
                        crowd.lock().left.push(entry.clone());
                    }
                    crowd.lock().joined.push(entry);
                }
            })
        })
        .collect()
}

/// The primary keeps taking joins after its replica was promoted (as in a network partition), then
/// freezes; waitroom is switched to the promoted replica, which never saw the last joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_that_loses_joins_hands_no_position_out_twice() {
    let primary = Daemon::redis();
    let replica = Daemon::spawn(
        "redis-server",
        &format!(
            "--port {{port}} --bind 127.0.0.1 --save '' --appendonly no --loglevel warning --replicaof 127.0.0.1 {}",
            primary.address().port()
        ),
        &[],
        None,
    );
    let synced = eventually(Duration::from_secs(10), || async {
        let info = redis_command(replica.address(), &["INFO", "replication"]).await;
        matches!(info, redis::Value::VerbatimString { ref text, .. } if text.contains("master_link_status:up"))
            || matches!(info, redis::Value::BulkString(ref bytes) if String::from_utf8_lossy(bytes).contains("master_link_status:up"))
    })
    .await;
    assert!(synced.is_some(), "the replica did not sync");

    let proxy = Switch::to(primary.address()).await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("t{}", random_token_id());
    let mut apps = Vec::new();
    for n in 0..2 {
        let mut config = base_config();
        config.redis_url = Some(format!("redis://{}/0", proxy.address).as_str().into());
        config.redis_prefix = prefix.clone();
        config.drain_in_serve = true;
        config.drain_log = LogTarget::File(dir.path().join(format!("drained-{n}.jsonl")));
        apps.push(Arc::new(spawn_config(config).await));
    }
    let apps: [Arc<TestApp>; 2] = [apps[0].clone(), apps[1].clone()];
    apps[0]
        .create_event(
            "rush",
            json!({ "batch_size": 15, "release_interval_ms": 200 }),
        )
        .await;

    let crowd = Arc::new(Mutex::new(Crowd::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = rush(apps.clone(), crowd.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // The replica is promoted while the primary still answers: what the primary acknowledges from
    // now on, the new primary never sees.
    redis_command(replica.address(), &["REPLICAOF", "NO", "ONE"]).await;
    let promoted_at = crowd.lock().joined.len();
    tokio::time::sleep(Duration::from_millis(600)).await;
    primary.signal("STOP");
    let lost_window = crowd.lock().joined.len() - promoted_at;
    proxy.switch(replica.address());
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    primary.signal("CONT");

    let crowd = std::mem::take(&mut *crowd.lock());
    assert!(
        lost_window > 20,
        "the primary took only {lost_window} joins after the promotion"
    );

    // 0 positions held by two visitors.
    let mut holders: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for (position, visitor, _) in &crowd.joined {
        holders
            .entry(*position)
            .or_default()
            .insert(visitor.clone());
    }
    let twice: Vec<_> = holders.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "{} positions held twice: {twice:?}",
        twice.len()
    );

    // Everyone admitted and drained, then checked against what the crowd was told.
    let issued = apps[0].show("rush").await.issued;
    apps[0].advance("rush", issued).await;
    let drained = eventually(Duration::from_secs(20), || async {
        let figures = apps[0].show("rush").await;
        figures.drained_through >= figures.admitted_through && figures.admitted_through >= issued
    })
    .await;
    assert!(drained.is_some(), "{:?}", apps[0].show("rush").await);
    let mut forwarded: BTreeMap<u64, String> = BTreeMap::new();
    for n in 0..2 {
        for message in read_log(&dir.path().join(format!("drained-{n}.jsonl"))) {
            let before = forwarded.insert(message.position, message.visitor.clone());
            assert!(
                before.is_none() || before.as_deref() == Some(message.visitor.as_str()),
                "position {} forwarded as {before:?} and {}",
                message.position,
                message.visitor
            );
        }
    }
    let left: BTreeSet<u64> = crowd.left.iter().map(|(p, _, _)| *p).collect();
    let mut lost = 0;
    for (position, visitor, _) in &crowd.joined {
        if left.contains(position) {
            continue;
        }
        match forwarded.get(position).map(String::as_str) {
            Some(v) if v == visitor => {}
            Some(LOST_VISITOR) => lost += 1,
            other => panic!("position {position} of {visitor} forwarded as {other:?}"),
        }
    }
    for (position, visitor, token) in &crowd.left {
        assert_ne!(
            forwarded.get(position),
            Some(visitor),
            "a leaver was forwarded"
        );
        for app in apps.iter() {
            app.status("rush", token)
                .await
                .assert_problem(410, "left-line");
        }
    }
    assert!(
        lost > 0,
        "no acknowledged join was lost: the failover lost nothing to restore"
    );
    // Operators are told: the readiness details of the replica that restored (whichever checked
    // the store first; the other may have found nothing left to restore).
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
        "{} joins acknowledged, {lost_window} after the promotion; {lost} positions whose joins were lost were forwarded as {LOST_VISITOR}; {} left",
        crowd.joined.len(),
        crowd.left.len()
    );
}
