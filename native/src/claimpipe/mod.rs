//! The claim pipeline: the Redis and Postgres client work of the claim hot path, off the
//! Python thread.
//!
//! The Python handler submits a claim (`Pipe::submit`) and awaits a future keyed by its ticket.
//! One Redis thread takes every claim submitted since its last round trip, runs them through
//! `claim_coupons.lua` (one EVALSHA per campaign, the claims packed into one argument, XDELs of
//! committed entries riding along) and hands the coupons to the ledger writers. Each writer
//! thread commits whatever gathered in one statement (group commit) and then completes the
//! claims of the batch. Completions go into a queue; the first one into an empty queue writes to
//! an eventfd the event loop watches, and the loop takes them all at once (`Pipe::take`).
//!
//! Nothing here holds the GIL: Python's thread only pays for `submit`, `take` and its futures.
//! The semantics are those of DESIGN.md's durable ledger: the stream entry the script writes is
//! the crash log; a batch that cannot be written stays queued (and in the stream) and is retried
//! with backoff; a committed batch's stream entries are deleted best effort.

pub mod resp;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::os::fd::RawFd;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use resp::Reply;

use crate::codes;

/// Most claims of one campaign in one script call (keeps each call's Redis time short).
const CHUNK: usize = 256;
/// How long a pending XDEL waits for a claim round trip to ride along with.
const DELETE_WAIT: Duration = Duration::from_millis(50);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One statement per batch: the coupons, and a claim/grant event for each coupon that is new,
/// with the actor of the request (the API key's name; empty: none, as for the member's pages).
/// (`gateway/store/ledger.py`'s recovery runs the same statement on what the stream kept.)
pub const WRITE_COUPONS: &str = "
WITH batch AS (
    SELECT DISTINCT ON (code) *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                $7::text[], $8::text[], $9::text[], $10::text[])
        AS b(code, campaign_id, member_id, claimed_ms, from_ms, until_ms, channel, source, idem,
             actor)
), inserted AS (
    INSERT INTO coupons (code, campaign_id, member_id, state, valid_from, valid_until, claimed_at,
                         channel, transferable, source)
    SELECT b.code, b.campaign_id, b.member_id, 'active',
           to_timestamp(b.from_ms / 1000.0), to_timestamp(b.until_ms / 1000.0),
           to_timestamp(b.claimed_ms / 1000.0), b.channel, c.transferable, b.source
    FROM batch b JOIN campaigns c ON c.id = b.campaign_id
    ON CONFLICT (code) DO NOTHING
    RETURNING code, campaign_id, member_id, claimed_at, source, channel
)
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, idempotency_key, detail)
SELECT i.source, i.claimed_at, i.campaign_id, i.code, i.member_id, NULLIF(b.actor, ''),
       NULLIF(b.idem, ''), jsonb_build_object('channel', i.channel)
FROM inserted i JOIN batch b USING (code)
";

/// How the pipeline reaches its servers and what it promises.
#[derive(Debug, Clone)]
pub struct Config {
    pub redis_url: String,
    pub database_url: String,
    pub script_sha: String,
    pub script_source: String,
    pub idem_ttl_s: i64,
    /// `ledger` durability: a claim completes once its coupon is committed in Postgres.
    pub wait_for_ledger: bool,
    pub writers: usize,
    pub batch_max: usize,
    /// An eventfd (or pipe) the pipeline writes to when completions are waiting.
    pub wake_fd: RawFd,
}

/// One claim or grant, as submitted.
#[derive(Debug, Clone)]
pub struct Job {
    pub ticket: u64,
    pub campaign_id: String,
    pub grant: bool,
    pub member_id: String,
    pub channel: String,
    /// The Idempotency-Key, or empty.
    pub idem: String,
    /// Hash of the request body, or empty when there is no key.
    pub idem_hash: String,
    pub now_ms: i64,
    /// Who asked (the API key's name, recorded as the events' actor), or empty.
    pub actor: String,
}

/// A coupon on its way to Postgres (and to the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub code: String,
    pub campaign_id: String,
    pub member_id: String,
    pub claimed_ms: i64,
    pub from_ms: i64,
    pub until_ms: i64,
    pub channel: String,
    pub source: String,
    pub idem: String,
    /// The events' actor, or empty (kept in the stream entry too, for recovery).
    pub actor: String,
    pub stream_id: Option<String>,
    /// The claim waiting for this row's commit, if any.
    pub ticket: Option<u64>,
}

/// What the pipeline tells the event loop.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // most outcomes are coupons: a Box would cost each claim an allocation
pub enum Outcome {
    /// The claim's coupon (new, or the first answer of a replayed Idempotency-Key).
    Coupon { ticket: u64, row: Row },
    /// The script refused the claim: `reason` is the API's error code.
    Refused { ticket: u64, reason: String },
    /// Redis could not be reached or failed: the claim may be retried.
    Failed { ticket: u64, message: String },
    /// `low_stock` (1) / `sold_out` (2) was reached just now.
    Alert { campaign_id: String, fired: i64 },
    /// A line for the gateway's log (`warning` level).
    Log { message: String },
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct Counters {
    pub round_trips: AtomicU64,
    pub jobs: AtomicU64,
    pub ledger_batches: AtomicU64,
    pub ledger_rows: AtomicU64,
    pub ledger_failures: AtomicU64,
}

#[derive(Default)]
struct Inbox {
    jobs: Vec<Job>,
    deletes: HashMap<String, Vec<String>>,
    stop: bool,
}

#[derive(Default)]
struct Ledger {
    rows: VecDeque<Row>,
    stop: bool,
}

struct Shared {
    cfg: Config,
    inbox: Mutex<Inbox>,
    inbox_cv: Condvar,
    ledger: Mutex<Ledger>,
    ledger_cv: Condvar,
    done: Mutex<Vec<Outcome>>,
    healthy: AtomicBool,
    counters: Counters,
    /// Per campaign, the claims between "sent to Redis" and "committed to Postgres" (or
    /// refused): what a rebuild of the campaign's counters from the ledger would miss. A claim
    /// is counted before its round trip starts, so a snapshot taken after a Redis crash
    /// includes every coupon that crash may have taken out of Redis but not out of this queue.
    inflight: Mutex<HashMap<String, u64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking thread cannot leave these queues half-updated: keep going with them.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn complete(&self, outcomes: Vec<Outcome>) {
        if outcomes.is_empty() {
            return;
        }
        let was_empty = {
            let mut done = lock(&self.done);
            let was_empty = done.is_empty();
            done.extend(outcomes);
            was_empty
        };
        if was_empty {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to a descriptor the owner keeps open until
            // the pipe has stopped. An eventfd that is full (EAGAIN) is already signalled.
            unsafe {
                libc::write(
                    self.cfg.wake_fd,
                    std::ptr::from_ref(&one).cast::<libc::c_void>(),
                    8,
                );
            }
        }
    }

    fn log(&self, message: String) {
        self.complete(vec![Outcome::Log { message }]);
    }

    fn inflight_add(&self, campaign_id: &str, n: u64) {
        if n > 0 {
            *lock(&self.inflight)
                .entry(campaign_id.to_string())
                .or_default() += n;
        }
    }

    fn inflight_done<'a>(&self, settled: impl Iterator<Item = (&'a str, u64)>) {
        let mut inflight = lock(&self.inflight);
        for (campaign_id, n) in settled {
            if let Some(count) = inflight.get_mut(campaign_id) {
                *count = count.saturating_sub(n);
                if *count == 0 {
                    inflight.remove(campaign_id);
                }
            }
        }
    }
}

/// The running pipeline: its threads stop when `stop` is called (or it is dropped).
pub struct Pipe {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Pipe {
    pub fn start(cfg: Config) -> io::Result<Pipe> {
        let redis = RedisAddr::parse(&cfg.redis_url)?;
        let pg = postgres::Config::from_str(&cfg.database_url)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let writers = cfg.writers.max(1);
        let shared = Arc::new(Shared {
            cfg,
            inbox: Mutex::default(),
            inbox_cv: Condvar::new(),
            ledger: Mutex::default(),
            ledger_cv: Condvar::new(),
            done: Mutex::default(),
            healthy: AtomicBool::new(true),
            counters: Counters::default(),
            inflight: Mutex::default(),
        });
        let mut threads = Vec::with_capacity(writers + 1);
        let s = Arc::clone(&shared);
        threads.push(
            std::thread::Builder::new()
                .name("claim-redis".into())
                .spawn(move || redis_loop(&s, &redis))?,
        );
        for i in 0..writers {
            let s = Arc::clone(&shared);
            let pg = pg.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("claim-ledger-{i}"))
                    .spawn(move || writer_loop(&s, &pg))?,
            );
        }
        Ok(Pipe {
            shared,
            threads: Mutex::new(threads),
        })
    }

    /// Queues a claim; it is sent with the next round trip (see `kick`).
    pub fn submit(&self, job: Job) {
        lock(&self.shared.inbox).jobs.push(job);
    }

    /// Starts a round trip for what was submitted, if the Redis thread is idle.
    pub fn kick(&self) {
        self.shared.inbox_cv.notify_one();
    }

    /// Every completion so far.
    pub fn take(&self) -> Vec<Outcome> {
        std::mem::take(&mut *lock(&self.shared.done))
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// The campaigns with claims sent to Redis and not yet committed to Postgres (nor
    /// refused), sorted.
    pub fn inflight(&self) -> Vec<String> {
        let mut campaigns: Vec<String> = lock(&self.shared.inflight).keys().cloned().collect();
        campaigns.sort_unstable();
        campaigns
    }

    /// Stops the threads. Rows not yet written stay in the Redis stream, for recovery.
    pub fn stop(&self) {
        lock(&self.shared.inbox).stop = true;
        self.shared.inbox_cv.notify_all();
        lock(&self.shared.ledger).stop = true;
        self.shared.ledger_cv.notify_all();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.stop();
    }
}

// -- Redis ---------------------------------------------------------------------------------

/// Where Redis is: `redis://[[user]:password@]host[:port][/db]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAddr {
    pub host: String,
    pub port: u16,
    pub db: u32,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl RedisAddr {
    pub fn parse(url: &str) -> io::Result<RedisAddr> {
        let invalid = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("GATEWAY_REDIS_URL {what}: {url:?}"),
            )
        };
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| invalid("must start with redis://"))?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((auth, host)) => (Some(auth), host),
            None => (None, rest),
        };
        let (hostport, db) = match hostpart.split_once('/') {
            Some((hp, db)) if !db.is_empty() => (
                hp,
                db.parse::<u32>()
                    .map_err(|_| invalid("has a database that is not a number"))?,
            ),
            Some((hp, _)) => (hp, 0),
            None => (hostpart, 0),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| invalid("has a port that is not a number"))?,
            ),
            None => (hostport, 6379),
        };
        let host = if host.is_empty() { "127.0.0.1" } else { host };
        let (user, password) = match auth {
            None => (None, None),
            Some(auth) => match auth.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_string()), Some(p.to_string())),
                None => (Some(auth.to_string()), None),
            },
        };
        Ok(RedisAddr {
            host: host.trim_matches(['[', ']']).to_string(),
            port,
            db,
            user,
            password,
        })
    }
}

struct RedisConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The server's run_id, read at connect: a restarted server breaks the connection, so it is
    /// current for as long as the connection lives. The script compares it with the one the
    /// campaign's hot state was built for.
    run_id: String,
    /// Redis's clock minus ours (ms), read at connect: the active set's scores are Redis time,
    /// the clock recovery compares them with.
    clock_offset_ms: i64,
}

impl RedisConn {
    fn connect(addr: &RedisAddr) -> io::Result<RedisConn> {
        use std::net::ToSocketAddrs;
        let target = (addr.host.as_str(), addr.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "Redis host not found"))?;
        let stream = TcpStream::connect_timeout(&target, IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut conn = RedisConn {
            reader: BufReader::with_capacity(64 * 1024, stream.try_clone()?),
            writer: stream,
            run_id: String::new(),
            clock_offset_ms: 0,
        };
        if let Some(password) = &addr.password {
            let mut args = vec!["AUTH".to_string()];
            args.extend(addr.user.clone());
            args.push(password.clone());
            conn.call(&args)?;
        }
        if addr.db != 0 {
            conn.call(&["SELECT".to_string(), addr.db.to_string()])?;
        }
        let info = conn.call(&["INFO".to_string(), "server".to_string()])?;
        conn.run_id = info
            .as_string()
            .and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("run_id:"))
                    .map(|id| id.trim().to_string())
            })
            .unwrap_or_default();
        let before = now_ms();
        let time = conn.call(&["TIME".to_string()])?;
        let after = now_ms();
        if let Reply::Array(parts) = &time {
            let seconds = number_at(parts, 0).unwrap_or(0);
            let micros = number_at(parts, 1).unwrap_or(0);
            conn.clock_offset_ms = seconds * 1000 + micros / 1000 - (before + after) / 2;
        }
        Ok(conn)
    }

    /// Now, on Redis's clock (ms).
    fn redis_now_ms(&self) -> i64 {
        now_ms() + self.clock_offset_ms
    }

    /// One command, one reply; an error reply is an error.
    fn call(&mut self, args: &[String]) -> io::Result<Reply> {
        let mut out = Vec::new();
        resp::encode(&mut out, args.iter());
        self.writer.write_all(&out)?;
        match resp::read(&mut self.reader)? {
            Reply::Error(e) => Err(io::Error::other(format!("Redis: {e}"))),
            reply => Ok(reply),
        }
    }

    fn pipeline(&mut self, packed: &[u8], count: usize) -> io::Result<Vec<Reply>> {
        self.writer.write_all(packed)?;
        (0..count).map(|_| resp::read(&mut self.reader)).collect()
    }
}

/// The claims of one script call.
struct Call {
    campaign_id: String,
    source: &'static str,
    jobs: Vec<(Job, String)>,
    packed: Vec<u8>,
}

// The key names, as `gateway/store/redis.py` defines them. All keys of a campaign share the
// hash tag `{c:<id>}`, so the script touches one Cluster slot.

fn meta_key(campaign_id: &str) -> String {
    format!("{{c:{campaign_id}}}:meta")
}

fn members_key(campaign_id: &str) -> String {
    format!("{{c:{campaign_id}}}:members")
}

fn ledger_key(campaign_id: &str) -> String {
    format!("{{c:{campaign_id}}}:ledger")
}

fn idem_key(campaign_id: &str, key: &str) -> String {
    format!("{{c:{campaign_id}}}:idem:{key}")
}

/// Sorted set: campaign id -> when a round trip last touched its stream (ms, Redis clock).
/// Ledger recovery visits only these campaigns (`gateway/store/ledger.py`).
const LEDGER_ACTIVE_KEY: &str = "gateway:ledger:active";

fn call_for(
    cfg: &Config,
    run_id: &str,
    campaign_id: &str,
    grant: bool,
    now: i64,
    jobs: Vec<Job>,
) -> Call {
    let mut keys = vec![
        meta_key(campaign_id),
        members_key(campaign_id),
        ledger_key(campaign_id),
    ];
    let mut records = String::with_capacity(jobs.len() * 48);
    let mut with_codes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let code = codes::new_code().unwrap_or_default();
        let mut index = 0;
        if !job.idem.is_empty() {
            keys.push(idem_key(campaign_id, &job.idem));
            index = keys.len();
        }
        if !records.is_empty() {
            records.push('\x1e');
        }
        let hash = if job.idem_hash.is_empty() {
            "-"
        } else {
            &job.idem_hash
        };
        // The actor is the last field and may be empty. A key's name is printable text, so
        // it never holds the separators; one that did would only lose them.
        let actor: std::borrow::Cow<'_, str> = if job.actor.contains(['\x1e', '\x1f']) {
            job.actor.replace(['\x1e', '\x1f'], "").into()
        } else {
            job.actor.as_str().into()
        };
        for (i, field) in [
            job.member_id.as_str(),
            code.as_str(),
            job.channel.as_str(),
            itoa::Buffer::new().format(index),
            hash,
            &actor,
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                records.push('\x1f');
            }
            records.push_str(field);
        }
        with_codes.push((job, code));
    }
    let source = if grant { "grant" } else { "claim" };
    let mut args: Vec<String> = Vec::with_capacity(keys.len() + 8);
    args.push("EVALSHA".into());
    args.push(cfg.script_sha.clone());
    args.push(keys.len().to_string());
    args.extend(keys);
    args.push(now.to_string());
    args.push(source.into());
    args.push(cfg.idem_ttl_s.to_string());
    args.push(with_codes.len().to_string());
    args.push(records);
    args.push(run_id.to_string());
    let mut packed = Vec::new();
    resp::encode(&mut packed, args.iter());
    Call {
        campaign_id: campaign_id.to_string(),
        source,
        jobs: with_codes,
        packed,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One `ZADD` that marks the calls' campaigns as having stream entries, for recovery. It goes
/// before the script calls in the same write: a script that ran (and added a stream entry)
/// always follows its campaign's mark, even when the connection breaks halfway.
fn mark_active(out: &mut Vec<u8>, calls: &[Call], now_ms: i64) {
    let score = now_ms.to_string();
    let mut args: Vec<&str> = vec!["ZADD", LEDGER_ACTIVE_KEY];
    let mut seen = HashSet::new();
    for call in calls {
        if seen.insert(call.campaign_id.as_str()) {
            args.push(&score);
            args.push(&call.campaign_id);
        }
    }
    resp::encode(out, args.iter());
}

/// Groups claims by campaign, source and clock reading, in arrival order.
fn calls_for(cfg: &Config, run_id: &str, jobs: Vec<Job>) -> Vec<Call> {
    let mut order: Vec<(String, bool, i64)> = Vec::new();
    let mut groups: HashMap<(String, bool, i64), Vec<Job>> = HashMap::new();
    for job in jobs {
        let key = (job.campaign_id.clone(), job.grant, job.now_ms);
        let group = groups.entry(key.clone()).or_default();
        if group.is_empty() {
            order.push(key);
        }
        group.push(job);
    }
    let mut calls = Vec::new();
    for key in order {
        let mut group = groups.remove(&key).unwrap_or_default();
        while !group.is_empty() {
            let rest = group.split_off(group.len().min(CHUNK));
            calls.push(call_for(cfg, run_id, &key.0, key.1, key.2, group));
            group = rest;
        }
    }
    calls
}

fn field(items: &[Reply], i: usize) -> Option<String> {
    items.get(i).and_then(Reply::as_string)
}

fn number_at(items: &[Reply], i: usize) -> Option<i64> {
    items.get(i).and_then(Reply::as_i64)
}

/// Reads one script result: the row to write (if any) and what to tell the caller now.
fn settle(
    cfg: &Config,
    call: &Call,
    job: &Job,
    code: &str,
    result: &Reply,
    rows: &mut Vec<Row>,
    done: &mut Vec<Outcome>,
) -> Option<i64> {
    let Reply::Array(items) = result else {
        done.push(Outcome::Failed {
            ticket: job.ticket,
            message: "the claim script answered something unexpected".into(),
        });
        return None;
    };
    let status = number_at(items, 0);
    let parsed = match status {
        Some(0) => {
            let reason = field(items, 1).unwrap_or_else(|| "unavailable".into());
            done.push(Outcome::Refused {
                ticket: job.ticket,
                reason,
            });
            return None;
        }
        Some(1) => (|| {
            Some((
                Row {
                    code: code.to_string(),
                    campaign_id: call.campaign_id.clone(),
                    member_id: job.member_id.clone(),
                    claimed_ms: number_at(items, 2)?,
                    from_ms: number_at(items, 3)?,
                    until_ms: number_at(items, 4)?,
                    channel: job.channel.clone(),
                    source: call.source.to_string(),
                    idem: job.idem.clone(),
                    actor: job.actor.clone(),
                    stream_id: Some(field(items, 5)?),
                    ticket: None,
                },
                number_at(items, 7).unwrap_or(0),
            ))
        })(),
        Some(2) => (|| {
            Some((
                Row {
                    code: field(items, 1)?,
                    campaign_id: call.campaign_id.clone(),
                    member_id: field(items, 5)?,
                    claimed_ms: number_at(items, 2)?,
                    from_ms: number_at(items, 3)?,
                    until_ms: number_at(items, 4)?,
                    channel: field(items, 6)?,
                    source: field(items, 7)?,
                    idem: job.idem.clone(),
                    actor: job.actor.clone(),
                    stream_id: None,
                    ticket: None,
                },
                0,
            ))
        })(),
        _ => None,
    };
    let Some((mut row, fired)) = parsed else {
        done.push(Outcome::Failed {
            ticket: job.ticket,
            message: "the claim script answered something unexpected".into(),
        });
        return None;
    };
    let new = status == Some(1);
    if cfg.wait_for_ledger {
        row.ticket = Some(job.ticket);
        rows.push(row);
    } else {
        done.push(Outcome::Coupon {
            ticket: job.ticket,
            row: row.clone(),
        });
        if new {
            rows.push(row);
        }
    }
    Some(fired)
}

fn redis_loop(shared: &Shared, addr: &RedisAddr) {
    let cfg = &shared.cfg;
    let mut conn: Option<RedisConn> = None;
    loop {
        let (jobs, deletes) = {
            let mut inbox = lock(&shared.inbox);
            loop {
                if inbox.stop {
                    return;
                }
                if !inbox.jobs.is_empty() {
                    break;
                }
                let (guard, waited) = shared
                    .inbox_cv
                    .wait_timeout(inbox, DELETE_WAIT)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                inbox = guard;
                if waited.timed_out() && !inbox.deletes.is_empty() {
                    break;
                }
            }
            (
                std::mem::take(&mut inbox.jobs),
                std::mem::take(&mut inbox.deletes),
            )
        };
        let connected = match conn.take() {
            Some(c) => Ok(c),
            None => RedisConn::connect(addr),
        };
        let mut c = match connected {
            Ok(c) => c,
            Err(e) => {
                let log = format!("could not connect to Redis: {e}");
                shared.complete(unavailable(jobs.iter(), log));
                continue;
            }
        };
        let calls = calls_for(cfg, &c.run_id, jobs);
        for call in &calls {
            shared.inflight_add(&call.campaign_id, call.jobs.len() as u64);
        }
        let mut packed = Vec::new();
        let marks = usize::from(!calls.is_empty());
        if marks == 1 {
            mark_active(&mut packed, &calls, c.redis_now_ms());
        }
        for call in &calls {
            packed.extend_from_slice(&call.packed);
        }
        for (campaign_id, ids) in &deletes {
            let key = ledger_key(campaign_id);
            let args = ["XDEL", key.as_str()]
                .into_iter()
                .chain(ids.iter().map(String::as_str));
            let args: Vec<&str> = args.collect();
            resp::encode(&mut packed, args.iter());
        }
        let count = marks + calls.len() + deletes.len();
        shared.counters.round_trips.fetch_add(1, Ordering::Relaxed);
        let jobs_sent: usize = calls.iter().map(|c| c.jobs.len()).sum();
        shared
            .counters
            .jobs
            .fetch_add(jobs_sent as u64, Ordering::Relaxed);
        let replies = c.pipeline(&packed, count);
        if replies.is_ok() {
            conn = Some(c);
        }
        let replies = match replies {
            // The mark's reply (a count) tells nothing; a failed mark leaves the campaign to
            // `gateway reconcile` should its worker die before committing (logged below).
            Ok(mut replies) => {
                if marks == 1 {
                    if let Reply::Error(e) = replies.remove(0) {
                        shared.log(format!("could not mark campaigns for ledger recovery: {e}"));
                    }
                }
                replies
            }
            Err(e) => {
                shared.inflight_done(
                    calls
                        .iter()
                        .map(|c| (c.campaign_id.as_str(), c.jobs.len() as u64)),
                );
                let jobs = calls.iter().flat_map(|c| c.jobs.iter().map(|(job, _)| job));
                let log = format!("claim round trip to Redis failed: {e}");
                shared.complete(unavailable(jobs, log));
                continue;
            }
        };
        let mut rows = Vec::new();
        let mut done = Vec::new();
        // Per call, the claims that end here (refused, failed, or answered without a row).
        let mut settled: Vec<(&str, u64)> = Vec::with_capacity(calls.len());
        for (call, reply) in calls.iter().zip(replies) {
            let rows_before = rows.len();
            let reply = match reply {
                Reply::Error(e) if e.starts_with("NOSCRIPT") => {
                    reload_and_run(cfg, conn.as_mut(), call)
                }
                other => other,
            };
            let results = match reply {
                Reply::Array(results) if results.len() == call.jobs.len() => results,
                other => {
                    let jobs = call.jobs.iter().map(|(job, _)| job);
                    done.extend(unavailable(jobs, format!("claim script failed: {other:?}")));
                    settled.push((&call.campaign_id, call.jobs.len() as u64));
                    continue;
                }
            };
            let mut fired = 0;
            for ((job, code), result) in call.jobs.iter().zip(&results) {
                fired |= settle(cfg, call, job, code, result, &mut rows, &mut done).unwrap_or(0);
            }
            settled.push((
                &call.campaign_id,
                (call.jobs.len() - (rows.len() - rows_before)) as u64,
            ));
            if fired != 0 {
                done.push(Outcome::Alert {
                    campaign_id: call.campaign_id.clone(),
                    fired,
                });
            }
        }
        shared.inflight_done(settled.into_iter());
        if !rows.is_empty() {
            lock(&shared.ledger).rows.extend(rows);
            // One writer takes the lot; waking the others would only split the group commit.
            shared.ledger_cv.notify_one();
        }
        shared.complete(done);
    }
}

/// Every job of `jobs` failed for want of Redis (the caller may retry), and why, for the log.
fn unavailable<'a>(jobs: impl Iterator<Item = &'a Job>, log: String) -> Vec<Outcome> {
    let mut done: Vec<Outcome> = jobs
        .map(|job| Outcome::Failed {
            ticket: job.ticket,
            message: "Redis is unavailable, retry".into(),
        })
        .collect();
    done.push(Outcome::Log { message: log });
    done
}

fn reload_and_run(cfg: &Config, conn: Option<&mut RedisConn>, call: &Call) -> Reply {
    let Some(conn) = conn else {
        return Reply::Error("no connection".into());
    };
    let loaded = conn.call(&[
        "SCRIPT".to_string(),
        "LOAD".to_string(),
        cfg.script_source.clone(),
    ]);
    if let Err(e) = loaded {
        return Reply::Error(e.to_string());
    }
    match conn.pipeline(&call.packed, 1) {
        Ok(mut replies) => replies.pop().unwrap_or(Reply::Nil),
        Err(e) => Reply::Error(e.to_string()),
    }
}

// -- Postgres ------------------------------------------------------------------------------

struct Writer {
    client: postgres::Client,
    statement: postgres::Statement,
}

fn connect_pg(config: &postgres::Config) -> Result<Writer, postgres::Error> {
    let mut config = config.clone();
    config.connect_timeout(IO_TIMEOUT);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(10));
    config.application_name("gateway-ledger");
    // A statement stuck on a dying server must not stall the writer for long.
    config.options("-c statement_timeout=5000");
    let mut client = config.connect(postgres::NoTls)?;
    let statement = client.prepare(WRITE_COUPONS)?;
    Ok(Writer { client, statement })
}

fn write_rows(writer: &mut Writer, rows: &[Row]) -> Result<u64, postgres::Error> {
    let col = |f: fn(&Row) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let num = |f: fn(&Row) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let codes = col(|r| &r.code);
    let campaigns = col(|r| &r.campaign_id);
    let members = col(|r| &r.member_id);
    let claimed = num(|r| r.claimed_ms);
    let from = num(|r| r.from_ms);
    let until = num(|r| r.until_ms);
    let channels = col(|r| &r.channel);
    let sources = col(|r| &r.source);
    let idems = col(|r| &r.idem);
    let actors = col(|r| &r.actor);
    writer.client.execute(
        &writer.statement,
        &[
            &codes, &campaigns, &members, &claimed, &from, &until, &channels, &sources, &idems,
            &actors,
        ],
    )
}

fn writer_loop(shared: &Shared, config: &postgres::Config) {
    let mut writer: Option<Writer> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        let batch: Vec<Row> = {
            let mut ledger = lock(&shared.ledger);
            while ledger.rows.is_empty() && !ledger.stop {
                ledger = shared
                    .ledger_cv
                    .wait(ledger)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if ledger.stop {
                return;
            }
            let n = ledger.rows.len().min(shared.cfg.batch_max.max(1));
            ledger.rows.drain(..n).collect()
        };
        let result = match writer.take().map_or_else(|| connect_pg(config), Ok) {
            Ok(mut w) => match write_rows(&mut w, &batch) {
                Ok(_) => {
                    writer = Some(w);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // Postgres is away: keep the rows (their stream entries stay too) and retry.
            shared
                .counters
                .ledger_failures
                .fetch_add(1, Ordering::Relaxed);
            if shared.healthy.swap(false, Ordering::Relaxed) {
                shared.log(format!("ledger write failed, will retry: {e}"));
            }
            {
                let mut ledger = lock(&shared.ledger);
                for row in batch.into_iter().rev() {
                    ledger.rows.push_front(row);
                }
            }
            shared.ledger_cv.notify_one();
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
        }
        backoff = Duration::from_millis(50);
        if !shared.healthy.swap(true, Ordering::Relaxed) {
            shared.log("ledger writes resumed".into());
        }
        shared
            .counters
            .ledger_batches
            .fetch_add(1, Ordering::Relaxed);
        shared
            .counters
            .ledger_rows
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut committed: HashMap<&str, u64> = HashMap::new();
        for row in &batch {
            *committed.entry(row.campaign_id.as_str()).or_default() += 1;
        }
        shared.inflight_done(committed.into_iter());
        let mut done = Vec::new();
        {
            let mut inbox = lock(&shared.inbox);
            for row in &batch {
                if let Some(id) = &row.stream_id {
                    inbox
                        .deletes
                        .entry(row.campaign_id.clone())
                        .or_default()
                        .push(id.clone());
                }
            }
        }
        for row in batch {
            if let Some(ticket) = row.ticket {
                done.push(Outcome::Coupon { ticket, row });
            }
        }
        shared.complete(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_urls() {
        let a = RedisAddr::parse("redis://127.0.0.1:56379/1").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.db), ("127.0.0.1", 56379, 1));
        let b = RedisAddr::parse("redis://:secret@cache.internal/3").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.db, b.password.as_deref()),
            ("cache.internal", 6379, 3, Some("secret"))
        );
        let c = RedisAddr::parse("redis://user:pw@h:1").unwrap();
        assert_eq!(c.user.as_deref(), Some("user"));
        assert!(RedisAddr::parse("http://x").is_err());
        assert!(RedisAddr::parse("redis://h:notaport").is_err());
        assert!(RedisAddr::parse("redis://h:1/x").is_err());
    }

    fn job(ticket: u64, campaign: &str, now: i64, idem: &str) -> Job {
        Job {
            ticket,
            campaign_id: campaign.into(),
            grant: false,
            member_id: format!("m{ticket}"),
            channel: "online".into(),
            idem: idem.into(),
            idem_hash: if idem.is_empty() { "" } else { "h" }.into(),
            now_ms: now,
            actor: format!("clerk {ticket}"),
        }
    }

    fn cfg() -> Config {
        Config {
            redis_url: String::new(),
            database_url: String::new(),
            script_sha: "sha".into(),
            script_source: String::new(),
            idem_ttl_s: 60,
            wait_for_ledger: true,
            writers: 1,
            batch_max: 10,
            wake_fd: -1,
        }
    }

    #[test]
    fn groups_claims_by_campaign_and_clock_in_order() {
        let jobs = vec![
            job(1, "a", 5, ""),
            job(2, "b", 5, "k"),
            job(3, "a", 5, ""),
            job(4, "a", 6, ""),
        ];
        let calls = calls_for(&cfg(), "rid", jobs);
        let tickets: Vec<Vec<u64>> = calls
            .iter()
            .map(|c| c.jobs.iter().map(|(j, _)| j.ticket).collect())
            .collect();
        assert_eq!(tickets, vec![vec![1, 3], vec![2], vec![4]]);
        let text = String::from_utf8(calls[1].packed.clone()).unwrap();
        assert!(text.contains("{c:b}:idem:k"), "{text}");
        assert!(text.contains("m2\x1f"), "{text}");
        assert!(text.contains("\x1f4\x1fh\x1fclerk 2"), "{text}");
        assert!(text.ends_with("$3\r\nrid\r\n"), "{text}");
    }

    #[test]
    fn marks_each_campaign_of_a_round_trip_once_in_one_zadd() {
        let jobs = vec![job(1, "a", 5, ""), job(2, "b", 5, ""), job(3, "a", 6, "")];
        let calls = calls_for(&cfg(), "rid", jobs);
        let mut out = Vec::new();
        mark_active(&mut out, &calls, 42);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "*6\r\n$4\r\nZADD\r\n$21\r\ngateway:ledger:active\r\n\
             $2\r\n42\r\n$1\r\na\r\n$2\r\n42\r\n$1\r\nb\r\n"
        );
    }

    #[test]
    fn splits_big_groups() {
        let jobs = (0..600).map(|i| job(i, "a", 1, "")).collect();
        let sizes: Vec<usize> = calls_for(&cfg(), "rid", jobs)
            .iter()
            .map(|c| c.jobs.len())
            .collect();
        assert_eq!(sizes, vec![256, 256, 88]);
    }

    #[test]
    fn settles_every_kind_of_result() {
        let config = cfg();
        let call = calls_for(&config, "rid", vec![job(7, "a", 1, "k")]).remove(0);
        let (j, code) = &call.jobs[0];
        let mut rows = Vec::new();
        let mut done = Vec::new();
        let new = Reply::Array(vec![
            Reply::Int(1),
            Reply::Bulk(code.clone().into_bytes()),
            Reply::Int(1),
            Reply::Bulk(b"1".to_vec()),
            Reply::Bulk(b"99".to_vec()),
            Reply::Bulk(b"1-0".to_vec()),
            Reply::Int(4),
            Reply::Int(2),
        ]);
        assert_eq!(
            settle(&config, &call, j, code, &new, &mut rows, &mut done),
            Some(2)
        );
        assert_eq!(rows[0].ticket, Some(7));
        assert_eq!(rows[0].stream_id.as_deref(), Some("1-0"));
        assert_eq!(rows[0].until_ms, 99);
        assert_eq!(rows[0].actor, "clerk 7");
        let refused = Reply::Array(vec![Reply::Int(0), Reply::Bulk(b"sold_out".to_vec())]);
        settle(&config, &call, j, code, &refused, &mut rows, &mut done);
        assert_eq!(
            done,
            vec![Outcome::Refused {
                ticket: 7,
                reason: "sold_out".into()
            }]
        );
        let garbage = Reply::Array(vec![Reply::Int(1)]);
        settle(&config, &call, j, code, &garbage, &mut rows, &mut done);
        assert!(matches!(done[1], Outcome::Failed { ticket: 7, .. }));
        assert_eq!(rows.len(), 1);
    }
}
