//! The binding of the claim pipeline (`claimpipe`): `gateway._native.ClaimPipe`.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::claimpipe::{Config, Job, Outcome, Pipe};

/// The Redis and Postgres client work of the claim path, on threads of its own.
///
/// `submit` queues a claim under a ticket, `kick` starts a round trip, and `take` returns what
/// finished since the last call; the pipeline writes to `wake_fd` when there is something to
/// take. Completions are tuples:
/// `(ticket, 1, code, member_id, channel, claimed_ms, from_ms, until_ms)` a coupon,
/// `(ticket, 0u8, reason)` a refusal, `(ticket, 2u8, message)` Redis failed,
/// `(0u64, 3u8, campaign_id, fired)` an alert, `(0u64, 4u8, message)` a log line.
#[pyclass(frozen, module = "gateway._native")]
pub struct ClaimPipe {
    pipe: Pipe,
}

#[pymethods]
impl ClaimPipe {
    #[new]
    #[pyo3(signature = (*, redis_url, database_url, script_sha, script_source, idempotency_ttl_s,
                        wait_for_ledger, writers, batch_max, wake_fd))]
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
    ) -> PyResult<Self> {
        if wake_fd < 0 {
            return Err(PyValueError::new_err("wake_fd: must be an open descriptor"));
        }
        let pipe = Pipe::start(Config {
            redis_url,
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
    /// empty when nobody is named.
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
    ) {
        self.pipe.submit(Job {
            ticket,
            campaign_id,
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
            let item: PyObject = match outcome {
                Outcome::Coupon { ticket, row } => (
                    ticket,
                    1u8,
                    row.code,
                    row.member_id,
                    row.channel,
                    row.claimed_ms,
                    row.from_ms,
                    row.until_ms,
                )
                    .into_py(py),
                Outcome::Refused { ticket, reason } => (ticket, 0u8, reason).into_py(py),
                Outcome::Failed { ticket, message } => (ticket, 2u8, message).into_py(py),
                Outcome::Alert { campaign_id, fired } => {
                    (0u64, 3u8, campaign_id, fired).into_py(py)
                }
                Outcome::Log { message } => (0u64, 4u8, message).into_py(py),
            };
            list.append(item)?;
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("WRITE_COUPONS", crate::claimpipe::WRITE_COUPONS)?;
    m.add_class::<ClaimPipe>()
}
