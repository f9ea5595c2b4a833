//! What deliveries cost the machine, read from outside the services: CPU time of the worker processes
//! and of the whole machine (from `/proc`), PostgreSQL transactions (from the server's own counters),
//! and memory. A [`Reading`] is taken before and after a phase of a benchmark; their difference, divided
//! by the deliveries of the phase, is the cost of one.

use std::time::{Duration, Instant};

use sqlx::PgPool;

/// The unit of `/proc`'s CPU times: `USER_HZ`, 100 on every Linux architecture the kernel exports to
/// user space.
const TICK_US: f64 = 10_000.0;

/// CPU and database counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    at: Instant,
    /// User plus system ticks of the measured processes, all their threads.
    process_ticks: u64,
    /// Ticks every CPU of the machine spent busy (neither idle nor waiting for I/O).
    machine_busy_ticks: u64,
    /// The next transaction id PostgreSQL will assign: its difference counts transactions that wrote.
    next_xid: i64,
    /// Transactions committed in the benchmark's database, read-only ones included.
    commits: i64,
}

/// The cost of a phase per delivery.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub deliveries: usize,
    pub seconds: f64,
    /// CPU of the measured processes (the workers), µs per delivery.
    pub process_us: f64,
    /// CPU of the whole machine (the benchmark, the services, RabbitMQ, PostgreSQL), µs per delivery.
    pub machine_us: f64,
    /// PostgreSQL transactions that wrote (and so flushed the WAL), per delivery.
    pub writes: f64,
    /// Every PostgreSQL transaction committed, read-only ones included, per delivery.
    pub commits: f64,
}

impl Reading {
    /// Reads the CPU counters of `pids` and of the machine, and the database counters through `pool`.
    pub async fn take(pids: &[u32], pool: &PgPool) -> anyhow::Result<Self> {
        let at = Instant::now();
        let (process_ticks, machine_busy_ticks) = (process_ticks(pids)?, machine_busy_ticks()?);
        let (next_xid, commits) = database_counters(pool).await?;
        Ok(Self {
            at,
            process_ticks,
            machine_busy_ticks,
            next_xid,
            commits,
        })
    }

    /// Reads the database counters again once PostgreSQL has published them: a backend reports its
    /// transactions at most once a second, so the counter is read until it moves by no more than the
    /// reading itself.
    pub async fn settled(self, pool: &PgPool) -> anyhow::Result<Self> {
        let mut last = database_counters(pool).await?;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(1_100)).await;
            let now = database_counters(pool).await?;
            if now.1 - last.1 <= 1 {
                break;
            }
            last = now;
        }
        Ok(Self {
            next_xid: last.0,
            commits: last.1,
            ..self
        })
    }

    /// What happened between `self` and `later`, per one of `deliveries`.
    pub fn cost_until(&self, later: &Reading, deliveries: usize) -> Cost {
        let per = |n: f64| n / deliveries.max(1) as f64;
        Cost {
            deliveries,
            seconds: (later.at - self.at).as_secs_f64(),
            process_us: per((later.process_ticks - self.process_ticks) as f64 * TICK_US),
            machine_us: per((later.machine_busy_ticks - self.machine_busy_ticks) as f64 * TICK_US),
            // The reading's own snapshot assigns no transaction id.
            writes: per((later.next_xid - self.next_xid) as f64),
            // The readings' own few transactions are counted too: a handful against thousands.
            commits: per((later.commits - self.commits) as f64),
        }
    }
}

/// The resident set of `pid` now and at its peak, in MiB (`VmRSS`, `VmHWM`).
pub fn memory_mib(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |field: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{pid}/status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .parse::<f64>()?)
    };
    Ok((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
}

/// User plus system ticks of each of `pids`, summed (fields 14 and 15 of `/proc/<pid>/stat`, which
/// count every thread of the process).
fn process_ticks(pids: &[u32]) -> anyhow::Result<u64> {
    let mut ticks = 0;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The command name (field 2) may hold spaces; the fields after it are counted from its `)`.
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // After the name, field 3 is at index 0: utime (14) at 11 and stime (15) at 12.
        for i in [11, 12] {
            ticks += fields.get(i).unwrap_or(&"0").parse::<u64>()?;
        }
    }
    Ok(ticks)
}

/// Ticks every CPU spent busy, from the first line of `/proc/stat` (all but idle and iowait).
fn machine_busy_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let cpu = stat.lines().next().unwrap_or_default();
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal
    Ok(ticks.iter().sum::<u64>() - ticks.get(3).unwrap_or(&0) - ticks.get(4).unwrap_or(&0))
}

/// The next transaction id, and the commits of the database `pool` is connected to.
async fn database_counters(pool: &PgPool) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
                (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())",
    )
    .fetch_one(pool)
    .await?)
}
