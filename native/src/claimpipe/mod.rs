//! The claim pipeline: the Redis and Postgres client work of the claim hot path, off the
//! Python thread.
//!
//! The Python handler submits a claim (`Pipe::submit`) and awaits a future keyed by its ticket.
//! One Redis thread takes every claim submitted since its last round trip, runs them through
//! `claim_coupons.lua` (one EVALSHA per bucket, the claims packed into one argument, XDELs of
//! committed entries riding along; one packed write per node, see `round_trip`) and hands the
//! coupons to the ledger writers (`ledger`). Each writer thread commits whatever gathered in
//! one statement (group commit) and then completes the claims of the batch. Completions go into
//! a queue; the first one into an empty queue writes to an eventfd the event loop watches, and
//! the loop takes them all at once (`Pipe::take`).
//!
//! Nothing here holds the GIL: Python's thread only pays for `submit`, `take` and its futures.
//! The semantics are those of DESIGN.md's durable ledger: the stream entry the script writes is
//! the crash log; a batch that cannot be written stays queued (and in the stream) and is retried
//! with backoff; a committed batch's stream entries are deleted best effort.
//!
//! The parts: `keys` (key names, buckets, Cluster slots), `url` (GATEWAY_REDIS_URL),
//! `redis_io` (connections), `cluster` (routing), `script` (the script's contract), `ledger`
//! (the Postgres writers).

pub mod cluster;
pub mod keys;
pub mod ledger;
pub mod redis_io;
pub mod script;
pub mod url;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use redis::Value;

use crate::codes;
use cluster::{redirect, Router};
use keys::{ledger_key, LEDGER_ACTIVE_KEY};
use ledger::PgTarget;
use redis_io::{describe, Addr, Endpoint};
use script::Call;

pub use ledger::WRITE_COUPONS;

/// How long a pending XDEL waits for a claim round trip to ride along with.
const DELETE_WAIT: Duration = Duration::from_millis(50);
/// Sends of one command in a round trip: the first, then MOVED/ASK/NOSCRIPT repeats.
const ATTEMPTS: usize = 5;
/// TRYAGAIN repeats of a round trip, apart from `ATTEMPTS`: while a slot migrates, a script
/// whose keys are only partly on either node (a new Idempotency-Key's record is on neither) is
/// answered TRYAGAIN on both until the slot's owner changes, which takes as long as the
/// migration of its keys. The waits double from 5 ms to 200 ms: about 2.5 s in all before
/// the claim is answered 503.
const TRYAGAIN_REPEATS: usize = 18;
const TRYAGAIN_FIRST_WAIT: Duration = Duration::from_millis(5);
const TRYAGAIN_LONGEST_WAIT: Duration = Duration::from_millis(200);

/// How the pipeline reaches its servers and what it promises.
#[derive(Debug, Clone)]
pub struct Config {
    pub redis_url: String,
    /// `GATEWAY_REDIS_URL` names any node of a Redis Cluster: calls are routed by slot.
    pub cluster: bool,
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
    /// The member's stock bucket (`keys::bucket_of`); 0 for a campaign of one bucket.
    pub bucket: u32,
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
    /// The bucket's slot name: whose stream holds the entry (`stream_id`).
    pub slot: String,
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
    /// The script refused the claim: `reason` is the API's error code (or `bucket_dry`,
    /// `stale_hot_state`, `campaign_not_found`, which the claim service resolves).
    Refused { ticket: u64, reason: String },
    /// Redis could not be reached or failed, or no code could be made: the claim may be
    /// retried.
    Failed { ticket: u64, message: String },
    /// `low_stock` (1) / `sold_out` (2) was reached just now (in one bucket).
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
    /// Stream entries to delete, by slot name.
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
    /// Starts the threads. A URL that cannot be used is an `InvalidInput` error naming the
    /// problem.
    pub fn start(cfg: Config) -> io::Result<Pipe> {
        let endpoint = Endpoint::new(&cfg.redis_url)?;
        let pg = Arc::new(PgTarget::parse(&cfg.database_url)?);
        let writers = cfg.writers.max(1);
        let cluster = cfg.cluster;
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
        let mut router = Router::new(endpoint, cluster);
        threads.push(
            std::thread::Builder::new()
                .name("claim-redis".into())
                .spawn(move || redis_loop(&s, &mut router))?,
        );
        for i in 0..writers {
            let s = Arc::clone(&shared);
            let pg = Arc::clone(&pg);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("claim-ledger-{i}"))
                    .spawn(move || ledger::writer_loop(&s, &pg))?,
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

fn redis_loop(shared: &Shared, router: &mut Router) {
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
        round_trip(shared, router, jobs, deletes);
    }
}

/// One command of a round trip.
enum Item {
    /// The `ZADD` of the round trip's slot names to the ledger's active set.
    Mark,
    /// A script call (an index into the round trip's calls).
    Call(usize),
    /// The XDEL of one slot's committed stream entries.
    Xdel(String, Vec<String>),
}

/// What a command came to: its reply, or why it has none (the connection broke: it may have
/// run; or it could not be sent: it did not).
type Answer = Result<Value, String>;

/// What each reply read from a node answers.
enum Expect {
    ScriptLoad,
    Asking,
    Item(usize),
}

fn item_key<'a>(item: &'a Item, calls: &'a [Call], buf: &'a mut String) -> &'a [u8] {
    match item {
        Item::Mark => LEDGER_ACTIVE_KEY.as_bytes(),
        Item::Call(i) => calls[*i].route_key().as_bytes(),
        Item::Xdel(slot, _) => {
            *buf = ledger_key(slot);
            buf.as_bytes()
        }
    }
}

/// Sends `items` to the nodes that serve them, one packed write per node, then reads each
/// node's replies; follows MOVED (the slot map is updated), ASK (`ASKING` + the call, once, to
/// that node), NOSCRIPT (`SCRIPT LOAD` rides ahead of the repeat) and TRYAGAIN, each of which
/// means the command did not run. A command on a connection that broke is never sent again:
/// it may have run.
fn exchange(shared: &Shared, router: &mut Router, items: &[Item], calls: &[Call]) -> Vec<Answer> {
    let cfg = &shared.cfg;
    let mut answers: Vec<Option<Answer>> = (0..items.len()).map(|_| None).collect();
    // (item, ASK target)
    let mut pending: Vec<(usize, Option<Addr>)> = (0..items.len()).map(|i| (i, None)).collect();
    let mut load_script: HashSet<Addr> = HashSet::new();
    let mut key_buf = String::new();
    let mut attempt = 0;
    let mut tryagain = 0;
    let mut wait = TRYAGAIN_FIRST_WAIT;
    while attempt < ATTEMPTS && tryagain <= TRYAGAIN_REPEATS {
        if pending.is_empty() {
            break;
        }
        if attempt > 0 || tryagain > 0 {
            if let Err(e) = router.prepare() {
                for (i, _) in pending.drain(..) {
                    answers[i] = Some(Err(e.clone()));
                }
                break;
            }
        }
        // Route, keeping the order of the items per node (the mark goes first).
        let mut by_node: Vec<(Addr, Vec<(usize, bool)>)> = Vec::new();
        for (i, ask) in pending.drain(..) {
            let target = match ask {
                Some(addr) => Some((addr, true)),
                None => router
                    .owner(item_key(&items[i], calls, &mut key_buf))
                    .map(|a| (a, false)),
            };
            let Some((addr, asking)) = target else {
                router.invalidate();
                answers[i] = Some(Err("no Redis node serves the key's slot".into()));
                continue;
            };
            match by_node.iter_mut().find(|(a, _)| *a == addr) {
                Some((_, list)) => list.push((i, asking)),
                None => by_node.push((addr, vec![(i, asking)])),
            }
        }
        let mut sent: Vec<(Addr, Vec<Expect>)> = Vec::with_capacity(by_node.len());
        for (addr, list) in by_node {
            let node = match router.node(&addr) {
                Ok(node) => node,
                Err(e) => {
                    router.broken(&addr);
                    let why = format!("could not connect to Redis at {}:{}: {e}", addr.0, addr.1);
                    for (i, _) in list {
                        answers[i] = Some(Err(why.clone()));
                    }
                    continue;
                }
            };
            let mut packed = Vec::with_capacity(1024);
            let mut expect = Vec::with_capacity(list.len() + 1);
            if load_script.remove(&addr) {
                redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(&cfg.script_source)
                    .write_packed_command(&mut packed);
                expect.push(Expect::ScriptLoad);
            }
            for (i, asking) in list {
                if asking {
                    redis::cmd("ASKING").write_packed_command(&mut packed);
                    expect.push(Expect::Asking);
                }
                match &items[i] {
                    Item::Mark => {
                        let slots = script::slots_of(calls);
                        script::pack_mark(&slots, node.redis_now_ms(), &mut packed);
                    }
                    Item::Call(c) => calls[*c].pack(cfg, &node.run_id, &mut packed),
                    Item::Xdel(slot, ids) => redis::cmd("XDEL")
                        .arg(ledger_key(slot))
                        .arg(ids)
                        .write_packed_command(&mut packed),
                }
                expect.push(Expect::Item(i));
            }
            match node.send(&packed) {
                Ok(()) => sent.push((addr, expect)),
                Err(e) => {
                    // Part of the write may have reached the server: what it held may have run.
                    router.broken(&addr);
                    let why = format!("claim round trip to Redis failed: {e}");
                    for e in expect {
                        if let Expect::Item(i) = e {
                            answers[i] = Some(Err(why.clone()));
                        }
                    }
                }
            }
        }
        let mut backoff = false;
        let mut redirected = false;
        for (addr, expect) in sent {
            let mut replies = Vec::with_capacity(expect.len());
            let mut broke = None;
            if let Some(node) = router.connected(&addr) {
                for _ in &expect {
                    match node.recv() {
                        Ok(value) => replies.push(value),
                        Err(e) => {
                            broke = Some(format!("claim round trip to Redis failed: {e}"));
                            break;
                        }
                    }
                }
            }
            if broke.is_some() {
                router.broken(&addr);
            }
            let mut replies = replies.into_iter();
            let mut asked = false;
            for e in expect {
                let Some(value) = replies.next() else {
                    if let Expect::Item(i) = e {
                        answers[i] = Some(Err(broke.clone().unwrap_or_default()));
                    }
                    continue;
                };
                let i = match e {
                    Expect::ScriptLoad => {
                        if let Value::ServerError(_) = &value {
                            shared.log(format!("SCRIPT LOAD failed: {}", describe(&value)));
                        }
                        continue;
                    }
                    Expect::Asking => {
                        asked = true;
                        continue;
                    }
                    Expect::Item(i) => i,
                };
                let ask_target = asked.then(|| addr.clone());
                asked = false;
                let Value::ServerError(err) = &value else {
                    answers[i] = Some(Ok(value));
                    continue;
                };
                match err.code() {
                    "MOVED" => match redirect(err.details()) {
                        Some((slot, to)) => {
                            router.moved(slot, to);
                            redirected = true;
                            pending.push((i, None));
                        }
                        None => answers[i] = Some(Ok(value)),
                    },
                    "ASK" => match redirect(err.details()) {
                        Some((_, to)) => {
                            redirected = true;
                            pending.push((i, Some(to)));
                        }
                        None => answers[i] = Some(Ok(value)),
                    },
                    "NOSCRIPT" if matches!(items[i], Item::Call(_)) => {
                        load_script.insert(addr.clone());
                        redirected = true;
                        pending.push((i, ask_target));
                    }
                    "TRYAGAIN" => {
                        backoff = true;
                        pending.push((i, ask_target));
                    }
                    "CLUSTERDOWN" => {
                        router.invalidate();
                        answers[i] = Some(Ok(value));
                    }
                    _ => answers[i] = Some(Ok(value)),
                }
            }
        }
        if backoff {
            // TRYAGAIN: a slot half migrated, which lasts until its owner changes.
            std::thread::sleep(wait);
            wait = (wait * 2).min(TRYAGAIN_LONGEST_WAIT);
        }
        if redirected || !backoff {
            attempt += 1;
        } else {
            tryagain += 1;
        }
    }
    for (i, _) in pending {
        answers[i] = Some(Err("Redis redirected the call too many times".into()));
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err("not sent".into())))
        .collect()
}

/// Every job of `jobs` failed for want of Redis (the caller may retry).
fn unavailable<'a>(jobs: impl Iterator<Item = &'a Job>, done: &mut Vec<Outcome>) {
    done.extend(jobs.map(|job| Outcome::Failed {
        ticket: job.ticket,
        message: "Redis is unavailable, retry".into(),
    }));
}

fn round_trip(
    shared: &Shared,
    router: &mut Router,
    jobs: Vec<Job>,
    deletes: HashMap<String, Vec<String>>,
) {
    let cfg = &shared.cfg;
    let mut done = Vec::new();
    if let Err(e) = router.prepare() {
        unavailable(jobs.iter(), &mut done);
        done.push(Outcome::Log { message: e });
        // The deletes wait for a round trip that can reach Redis.
        let mut inbox = lock(&shared.inbox);
        for (slot, ids) in deletes {
            inbox.deletes.entry(slot).or_default().extend(ids);
        }
        drop(inbox);
        shared.complete(done);
        return;
    }
    let calls = script::calls_for(jobs, &mut codes::new_code, &mut done);
    for call in &calls {
        shared.inflight_add(&call.campaign_id, call.jobs.len() as u64);
    }
    // The mark goes ahead of the script calls: on one node, a script that ran (and added a
    // stream entry) always follows its slot's mark, even when the connection breaks halfway.
    // On a Cluster the mark's node may differ from the call's; a failed mark is logged and
    // leaves the slot to `gateway reconcile` should this worker die before committing.
    let mut items = Vec::with_capacity(calls.len() + deletes.len() + 1);
    if !calls.is_empty() {
        items.push(Item::Mark);
    }
    items.extend((0..calls.len()).map(Item::Call));
    items.extend(deletes.into_iter().map(|(slot, ids)| Item::Xdel(slot, ids)));
    shared.counters.round_trips.fetch_add(1, Ordering::Relaxed);
    let jobs_sent: usize = calls.iter().map(|c| c.jobs.len()).sum();
    shared
        .counters
        .jobs
        .fetch_add(jobs_sent as u64, Ordering::Relaxed);
    let answers = exchange(shared, router, &items, &calls);
    let mut rows = Vec::new();
    // Per call, the claims that end here (refused, failed, or answered without a row).
    let mut settled: Vec<(&str, u64)> = Vec::with_capacity(calls.len());
    let mut failures: Vec<String> = Vec::new();
    for (item, answer) in items.iter().zip(answers) {
        let call = match item {
            Item::Mark => {
                match &answer {
                    Ok(Value::ServerError(_)) | Err(_) => {
                        let why = answer.as_ref().map_or_else(String::clone, describe);
                        failures.push(format!("could not mark slots for ledger recovery: {why}"));
                    }
                    Ok(_) => {}
                }
                continue;
            }
            // Best effort: an entry left behind is written again by recovery, idempotently.
            Item::Xdel(..) => continue,
            Item::Call(i) => &calls[*i],
        };
        let results = match answer {
            Ok(Value::Array(results)) if results.len() == call.jobs.len() => results,
            other => {
                unavailable(call.jobs.iter().map(|(job, _)| job), &mut done);
                let why = match other {
                    Ok(value) => format!("claim script failed: {}", describe(&value)),
                    Err(e) => e,
                };
                if !failures.contains(&why) {
                    failures.push(why);
                }
                settled.push((&call.campaign_id, call.jobs.len() as u64));
                continue;
            }
        };
        let rows_before = rows.len();
        let mut fired = 0;
        for ((job, code), result) in call.jobs.iter().zip(&results) {
            fired |=
                script::settle(cfg, call, job, code, result, &mut rows, &mut done).unwrap_or(0);
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
    done.extend(failures.into_iter().map(|message| Outcome::Log { message }));
    shared.complete(done);
}
