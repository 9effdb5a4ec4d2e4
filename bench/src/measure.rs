//! Running a load scenario and accounting for the CPU each side spent on it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::load::{self, drive, Outcome};
use crate::servers::Server;

/// CPU time spent while a scenario ran.
pub struct CpuSpent {
    pub server: Duration,
    pub load: Duration,
    /// The bench's own redis-server, when it started one.
    pub redis: Option<Duration>,
}

/// The redis-server this run started, for its CPU time.
pub static REDIS_PID: OnceLock<u32> = OnceLock::new();

/// User plus system time of a process, from `/proc/<pid>/stat` (Linux only; elsewhere it reads
/// zero, and so do the CPU columns).
pub fn cpu_time(pid: u32) -> Duration {
    stat_cpu_time(&format!("/proc/{pid}/stat"))
}

/// The same for the calling thread.
pub fn thread_cpu_time() -> Duration {
    stat_cpu_time("/proc/thread-self/stat")
}

fn stat_cpu_time(path: &str) -> Duration {
    let ticks = std::fs::read_to_string(path)
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split(' ').collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // Linux reports in USER_HZ, 100 per second on every mainstream architecture.
    Duration::from_millis(ticks * 10)
}

/// The ceiling server and its request, for scenarios measured against it.
pub struct Ceiling {
    pub server: Server,
    pub shape: Arc<dyn load::Shape>,
}

/// Runs a load scenario and accounts for the CPU it took on each side. With a `ceiling`, the
/// scenario runs in one-second slices alternating with the ceiling's, so that the machine's drift
/// (its pace moved by a third within a minute here) weighs on both alike; the ceiling's rate over
/// its slices comes back too.
pub async fn measure(
    server: &Server,
    connections: usize,
    duration: Duration,
    shape: Arc<dyn load::Shape>,
    label: &str,
    ceiling: Option<&Ceiling>,
) -> (Outcome, CpuSpent, Option<f64>) {
    let own = std::process::id();
    let redis = || REDIS_PID.get().map(|pid| cpu_time(*pid));
    let slice = Duration::from_secs(1).min(duration);
    let slices = match ceiling {
        Some(_) => (duration.as_secs_f64() / slice.as_secs_f64()).ceil() as u64,
        None => 1,
    };
    let progress = load::progress_bar(label, slices);
    let (mut outcome, mut baseline) = (Outcome::default(), Outcome::default());
    let mut spent = CpuSpent {
        server: Duration::ZERO,
        load: Duration::ZERO,
        redis: REDIS_PID.get().map(|_| Duration::ZERO),
    };
    for _ in 0..slices {
        if let Some(ceiling) = ceiling {
            let shape = ceiling.shape.clone();
            baseline.absorb(drive(ceiling.server.address, connections, slice, shape, None).await);
        }
        let before = (cpu_time(server.pid), cpu_time(own), redis());
        let length = if ceiling.is_some() { slice } else { duration };
        let part = drive(server.address, connections, length, shape.clone(), None).await;
        let after = (cpu_time(server.pid), cpu_time(own), redis());
        spent.server += after.0.saturating_sub(before.0);
        spent.load += after.1.saturating_sub(before.1);
        if let (Some(total), Some(a), Some(b)) = (spent.redis.as_mut(), after.2, before.2) {
            *total += a.saturating_sub(b);
        }
        outcome.absorb(part);
        progress.inc(1);
        progress.set_message(format!("{:.0} req/s", outcome.per_second()));
    }
    progress.finish_and_clear();
    let ceiling_rate = ceiling.map(|_| baseline.per_second());
    (outcome, spent, ceiling_rate)
}
