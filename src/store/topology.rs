//! Where the Redis store's data lives: one server (primary, perhaps failed over by Sentinel or a
//! managed service) or a Redis Cluster. The store talks to either through [`Conn`]; every command
//! and script touches one event's keys, all in one hash slot, so a cluster routes it like a single
//! server would answer it. Pub/sub stays classic: a cluster carries every `PUBLISH` to all its
//! nodes, so subscribing on any one node hears every event.

use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use redis::{Cmd, RedisFuture, Value};

use super::StoreError;

/// How long a command may take before the caller is told Redis is unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1_500);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);

/// The Redis a store uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One server.
    Single(String),
    /// A Redis Cluster, known by some of its nodes (any one is enough to find the rest).
    Cluster(Vec<String>),
}

impl Topology {
    /// The URLs to subscribe at, in the order to try them.
    fn urls(&self) -> &[String] {
        match self {
            Topology::Single(url) => std::slice::from_ref(url),
            Topology::Cluster(urls) => urls,
        }
    }
}

/// A connection to either topology, reconnecting by itself.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    pub async fn open(topology: &Topology) -> Result<Self, StoreError> {
        Ok(match topology {
            Topology::Single(url) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                let client = redis::Client::open(url.as_str())?;
                Conn::Single(ConnectionManager::new_with_config(client, config).await?)
            }
            Topology::Cluster(urls) => {
                let client = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .retries(2)
                    .build()?;
                Conn::Cluster(client.get_async_connection().await?)
            }
        })
    }

    /// `INFO` of every primary: one server's, or each cluster primary's.
    pub async fn info_of_primaries(&self, sections: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut info = redis::cmd("INFO");
        for section in sections {
            info.arg(*section);
        }
        Ok(match self {
            Conn::Single(conn) => vec![info.query_async(&mut conn.clone()).await?],
            Conn::Cluster(conn) => {
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let answers = conn.clone().route_command(info, routing).await?;
                let by_node: std::collections::BTreeMap<String, String> =
                    redis::from_redis_value(answers)
                        .map_err(|e| StoreError::Corrupt(format!("INFO of the primaries: {e}")))?;
                by_node.into_values().collect()
            }
        })
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// A pub/sub connection subscribed to `channel`: at the first of the topology's nodes that answers.
pub fn subscribe(
    topology: &Topology,
    channel: String,
) -> BoxFuture<'static, Result<redis::aio::PubSub, StoreError>> {
    let urls = topology.urls().to_vec();
    Box::pin(async move {
        let mut failed = StoreError::Unavailable("no Redis node to subscribe at".into());
        for url in urls {
            let subscribed = async {
                let mut pubsub = redis::Client::open(url.as_str())?
                    .get_async_pubsub()
                    .await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            match tokio::time::timeout(CONNECT_TIMEOUT, subscribed).await {
                Ok(Ok(pubsub)) => return Ok(pubsub),
                Ok(Err(e)) => failed = e.into(),
                Err(_) => failed = StoreError::Unavailable("subscribing timed out".into()),
            }
        }
        Err(failed)
    })
}
