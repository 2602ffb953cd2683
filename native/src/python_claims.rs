//! The binding of the claim pipeline (`claimpipe`): `gateway._native.ClaimPipe`, its typed
//! completions, and the key names and buckets Python shares with it.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::claimpipe::keys;
use crate::claimpipe::{Config, Job, Outcome, Pipe};

/// `Completion.kind`: the claim's coupon (new, or the first answer of its Idempotency-Key).
pub const COMPLETION_COUPON: u8 = 1;
/// `Completion.kind`: the script refused the claim (`reason`).
pub const COMPLETION_REFUSED: u8 = 0;
/// `Completion.kind`: Redis failed, or no code could be made (`message`): retry.
pub const COMPLETION_FAILED: u8 = 2;
/// `Completion.kind`: `campaign_id` reached low stock (`fired` bit 1) / sold out (bit 2).
pub const COMPLETION_ALERT: u8 = 3;
/// `Completion.kind`: a line for the gateway's log (`message`).
pub const COMPLETION_LOG: u8 = 4;

/// One thing the pipeline finished: `kind` says which (the `COMPLETION_*` constants) and
/// which attributes mean something; the others are empty (`""`, `0`).
#[pyclass(frozen, module = "gateway._native")]
pub struct Completion {
    outcome: Outcome,
}

#[pymethods]
impl Completion {
    /// The claim's ticket (0 for alerts and log lines).
    #[getter]
    fn ticket(&self) -> u64 {
        match &self.outcome {
            Outcome::Coupon { ticket, .. }
            | Outcome::Refused { ticket, .. }
            | Outcome::Failed { ticket, .. } => *ticket,
            Outcome::Alert { .. } | Outcome::Log { .. } => 0,
        }
    }

    #[getter]
    fn kind(&self) -> u8 {
        match &self.outcome {
            Outcome::Coupon { .. } => COMPLETION_COUPON,
            Outcome::Refused { .. } => COMPLETION_REFUSED,
            Outcome::Failed { .. } => COMPLETION_FAILED,
            Outcome::Alert { .. } => COMPLETION_ALERT,
            Outcome::Log { .. } => COMPLETION_LOG,
        }
    }

    #[getter]
    fn code(&self) -> &str {
        match &self.outcome {
            Outcome::Coupon { row, .. } => &row.code,
            _ => "",
        }
    }

    #[getter]
    fn member_id(&self) -> &str {
        match &self.outcome {
            Outcome::Coupon { row, .. } => &row.member_id,
            _ => "",
        }
    }

    #[getter]
    fn channel(&self) -> &str {
        match &self.outcome {
            Outcome::Coupon { row, .. } => &row.channel,
            _ => "",
        }
    }

    #[getter]
    fn claimed_ms(&self) -> i64 {
        match &self.outcome {
            Outcome::Coupon { row, .. } => row.claimed_ms,
            _ => 0,
        }
    }

    #[getter]
    fn valid_from_ms(&self) -> i64 {
        match &self.outcome {
            Outcome::Coupon { row, .. } => row.from_ms,
            _ => 0,
        }
    }

    #[getter]
    fn valid_until_ms(&self) -> i64 {
        match &self.outcome {
            Outcome::Coupon { row, .. } => row.until_ms,
            _ => 0,
        }
    }

    /// A refusal's reason: the API's error code, or `bucket_dry`, `stale_hot_state`,
    /// `campaign_not_found` (which the claim service resolves).
    #[getter]
    fn reason(&self) -> &str {
        match &self.outcome {
            Outcome::Refused { reason, .. } => reason,
            _ => "",
        }
    }

    /// A failure's message (for the caller) or a log line.
    #[getter]
    fn message(&self) -> &str {
        match &self.outcome {
            Outcome::Failed { message, .. } | Outcome::Log { message } => message,
            _ => "",
        }
    }

    /// An alert's campaign.
    #[getter]
    fn campaign_id(&self) -> &str {
        match &self.outcome {
            Outcome::Alert { campaign_id, .. } => campaign_id,
            Outcome::Coupon { row, .. } => &row.campaign_id,
            _ => "",
        }
    }

    /// An alert's bits: 1 low_stock, 2 sold_out.
    #[getter]
    fn fired(&self) -> i64 {
        match &self.outcome {
            Outcome::Alert { fired, .. } => *fired,
            _ => 0,
        }
    }

    fn __repr__(&self) -> String {
        format!("Completion({:?})", self.outcome)
    }
}

/// The Redis and Postgres client work of the claim path, on threads of its own.
///
/// `submit` queues a claim under a ticket, `kick` starts a round trip, and `take` returns what
/// finished since the last call (`Completion`s); the pipeline writes to `wake_fd` when there is
/// something to take.
#[pyclass(frozen, module = "gateway._native")]
pub struct ClaimPipe {
    pipe: Pipe,
}

#[pymethods]
impl ClaimPipe {
    #[new]
    #[pyo3(signature = (*, redis_url, database_url, script_sha, script_source, idempotency_ttl_s,
                        wait_for_ledger, writers, batch_max, wake_fd, cluster=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        redis_url: String,
        database_url: String,
        script_sha: String,
        script_source: String,
        idempotency_ttl_s: i64,
        wait_for_ledger: bool,
        writers: usize,
        batch_max: usize,
        wake_fd: i32,
        cluster: bool,
    ) -> PyResult<Self> {
        if wake_fd < 0 {
            return Err(PyValueError::new_err("wake_fd: must be an open descriptor"));
        }
        let pipe = Pipe::start(Config {
            redis_url,
            cluster,
            database_url,
            script_sha,
            script_source,
            idem_ttl_s: idempotency_ttl_s,
            wait_for_ledger,
            writers,
            batch_max,
            wake_fd,
        })
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => PyValueError::new_err(e.to_string()),
            _ => PyOSError::new_err(e.to_string()),
        })?;
        Ok(ClaimPipe { pipe })
    }

    /// Queues a claim (`grant=False`) or grant; `idem` and `idem_hash` are empty without an
    /// Idempotency-Key; `actor` (the API key's name, which the claim/grant event records) is
    /// empty when nobody is named; `bucket` is the member's stock bucket (`bucket_of`).
    #[pyo3(signature = (ticket, campaign_id, grant, member_id, channel, idem, idem_hash, now_ms,
                        actor, bucket=0))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        ticket: u64,
        campaign_id: String,
        grant: bool,
        member_id: String,
        channel: String,
        idem: String,
        idem_hash: String,
        now_ms: i64,
        actor: String,
        bucket: u32,
    ) {
        self.pipe.submit(Job {
            ticket,
            campaign_id,
            bucket,
            grant,
            member_id,
            channel,
            idem,
            idem_hash,
            now_ms,
            actor,
        });
    }

    /// Sends what was submitted with the next round trip.
    fn kick(&self) {
        self.pipe.kick();
    }

    /// Every completion since the last call.
    fn take<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let outcomes = self.pipe.take();
        let list = PyList::empty_bound(py);
        for outcome in outcomes {
            list.append(Bound::new(py, Completion { outcome })?)?;
        }
        Ok(list)
    }

    /// `(round_trips, jobs, ledger_batches, ledger_rows, ledger_failures)` so far.
    fn counters(&self) -> (u64, u64, u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let c = self.pipe.counters();
        (
            c.round_trips.load(Relaxed),
            c.jobs.load(Relaxed),
            c.ledger_batches.load(Relaxed),
            c.ledger_rows.load(Relaxed),
            c.ledger_failures.load(Relaxed),
        )
    }

    /// The campaigns with claims sent to Redis and not yet committed to Postgres (nor refused):
    /// a rebuild of their counters from the ledger must wait until they are not (see
    /// `gateway/store/fence.py`).
    fn inflight(&self) -> Vec<String> {
        self.pipe.inflight()
    }

    /// Stops the threads; coupons not yet written stay in the Redis stream for recovery.
    fn stop(&self, py: Python<'_>) {
        py.allow_threads(|| self.pipe.stop());
    }
}

/// A member's stock bucket in a campaign of `buckets` (FNV-1a 64 of the id, modulo).
#[pyfunction]
fn bucket_of(member_id: &str, buckets: u32) -> u32 {
    keys::bucket_of(member_id, buckets)
}

/// Bucket `bucket`'s slot name: the campaign id for bucket 0, else `<campaign_id>:<bucket>`.
#[pyfunction]
fn bucket_id(campaign_id: &str, bucket: u32) -> String {
    keys::bucket_id(campaign_id, bucket)
}

#[pyfunction]
fn meta_key(slot: &str) -> String {
    keys::meta_key(slot)
}

#[pyfunction]
fn members_key(slot: &str) -> String {
    keys::members_key(slot)
}

#[pyfunction]
fn ledger_key(slot: &str) -> String {
    keys::ledger_key(slot)
}

#[pyfunction]
fn refusals_key(slot: &str) -> String {
    keys::refusals_key(slot)
}

#[pyfunction]
fn idem_key(slot: &str, key: &str) -> String {
    keys::idem_key(slot, key)
}

/// The Redis Cluster slot of a key (its hash tag's CRC16, as `CLUSTER KEYSLOT`).
#[pyfunction]
fn key_slot(key: &str) -> u16 {
    keys::key_slot(key.as_bytes())
}

/// Completions as the pipeline hands them to Python (`typed`) or as tuples were before:
/// for the benchmark of `take` and their handling only.
#[cfg(feature = "bench")]
#[pyfunction]
fn _bench_completions(py: Python<'_>, n: usize, typed: bool) -> PyResult<Bound<'_, PyList>> {
    use crate::claimpipe::Row;
    let list = PyList::empty_bound(py);
    for i in 0..n {
        let row = Row {
            code: "ABCDEFGHJKMNP7".into(),
            campaign_id: "cmp_0123456789abcdef".into(),
            slot: "cmp_0123456789abcdef".into(),
            member_id: format!("member-{i}"),
            claimed_ms: 1_700_000_000_000,
            from_ms: 1_700_000_000_000,
            until_ms: 1_800_000_000_000,
            channel: "online".into(),
            source: "claim".into(),
            idem: String::new(),
            actor: String::new(),
            stream_id: None,
            ticket: Some(i as u64 + 1),
        };
        let ticket = i as u64 + 1;
        if typed {
            let outcome = Outcome::Coupon { ticket, row };
            list.append(Bound::new(py, Completion { outcome })?)?;
        } else {
            let item: PyObject = (
                ticket,
                1u8,
                row.code,
                row.member_id,
                row.channel,
                row.claimed_ms,
                row.from_ms,
                row.until_ms,
            )
                .into_py(py);
            list.append(item)?;
        }
    }
    Ok(list)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("WRITE_COUPONS", crate::claimpipe::WRITE_COUPONS)?;
    m.add("LEDGER_ACTIVE_KEY", keys::LEDGER_ACTIVE_KEY)?;
    m.add("COMPLETION_COUPON", COMPLETION_COUPON)?;
    m.add("COMPLETION_REFUSED", COMPLETION_REFUSED)?;
    m.add("COMPLETION_FAILED", COMPLETION_FAILED)?;
    m.add("COMPLETION_ALERT", COMPLETION_ALERT)?;
    m.add("COMPLETION_LOG", COMPLETION_LOG)?;
    m.add_class::<Completion>()?;
    m.add_class::<ClaimPipe>()?;
    m.add_function(wrap_pyfunction!(bucket_of, m)?)?;
    m.add_function(wrap_pyfunction!(bucket_id, m)?)?;
    m.add_function(wrap_pyfunction!(meta_key, m)?)?;
    m.add_function(wrap_pyfunction!(members_key, m)?)?;
    m.add_function(wrap_pyfunction!(ledger_key, m)?)?;
    m.add_function(wrap_pyfunction!(refusals_key, m)?)?;
    m.add_function(wrap_pyfunction!(idem_key, m)?)?;
    m.add_function(wrap_pyfunction!(key_slot, m)?)?;
    #[cfg(feature = "bench")]
    m.add_function(wrap_pyfunction!(_bench_completions, m)?)?;
    Ok(())
}
