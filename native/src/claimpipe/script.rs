//! The claim script's contract (`gateway/store/lua/claim_coupons.lua`): packing a batch of
//! claims into one EVALSHA and reading its results back.

use std::collections::HashMap;

use redis::Value;

use super::keys::{bucket_id, idem_key, ledger_key, members_key, meta_key, LEDGER_ACTIVE_KEY};
use super::{Config, Job, Outcome, Row};
use crate::codes::CodeError;

/// Most claims of one bucket in one script call (keeps each call's Redis time short).
pub const CHUNK: usize = 256;

/// The claims of one script call: one bucket (slot name), one source, one clock reading.
#[derive(Debug)]
pub struct Call {
    pub campaign_id: String,
    /// `bucket_id(campaign_id, bucket)`: the hash tag of every key the call touches.
    pub slot: String,
    pub source: &'static str,
    pub now_ms: i64,
    pub jobs: Vec<(Job, String)>,
    keys: Vec<String>,
    /// The claims, packed into the script's one record argument.
    records: String,
}

impl Call {
    /// The key the call is routed by (every key shares its slot).
    pub fn route_key(&self) -> &str {
        &self.keys[0]
    }

    /// Appends the EVALSHA to `out`, carrying `run_id`: the run id of the node the call is
    /// sent to (the script compares it with the one the bucket's hot state was built for).
    pub fn pack(&self, cfg: &Config, run_id: &str, out: &mut Vec<u8>) {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&cfg.script_sha)
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(self.now_ms)
            .arg(self.source)
            .arg(cfg.idem_ttl_s)
            .arg(self.jobs.len())
            .arg(&self.records)
            .arg(run_id);
        cmd.write_packed_command(out);
    }
}

fn call_for(
    slot: &str,
    campaign_id: &str,
    grant: bool,
    now_ms: i64,
    jobs: Vec<Job>,
    new_code: &mut dyn FnMut() -> Result<String, CodeError>,
    failed: &mut Vec<Outcome>,
) -> Option<Call> {
    let mut keys = vec![meta_key(slot), members_key(slot), ledger_key(slot)];
    let mut records = String::with_capacity(jobs.len() * 48);
    let mut with_codes = Vec::with_capacity(jobs.len());
    for job in jobs {
        // A claim without a code of its own is not sent: an empty code would reach Redis
        // (and a coupon) as "".
        let code = match new_code() {
            Ok(code) if !code.is_empty() => code,
            Ok(_) | Err(_) => {
                failed.push(Outcome::Failed {
                    ticket: job.ticket,
                    message: "could not make a coupon code, retry".into(),
                });
                continue;
            }
        };
        let mut index = 0;
        if !job.idem.is_empty() {
            keys.push(idem_key(slot, &job.idem));
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
    if with_codes.is_empty() {
        return None;
    }
    Some(Call {
        campaign_id: campaign_id.to_string(),
        slot: slot.to_string(),
        source: if grant { "grant" } else { "claim" },
        now_ms,
        jobs: with_codes,
        keys,
        records,
    })
}

/// Groups claims by bucket, source and clock reading, in arrival order, each group in calls of
/// at most `CHUNK`. A claim whose code could not be made is answered in `failed` instead.
pub fn calls_for(
    jobs: Vec<Job>,
    new_code: &mut dyn FnMut() -> Result<String, CodeError>,
    failed: &mut Vec<Outcome>,
) -> Vec<Call> {
    type Group = (String, u32, bool, i64);
    let mut order: Vec<Group> = Vec::new();
    let mut groups: HashMap<Group, Vec<Job>> = HashMap::new();
    for job in jobs {
        let key = (job.campaign_id.clone(), job.bucket, job.grant, job.now_ms);
        let group = groups.entry(key.clone()).or_default();
        if group.is_empty() {
            order.push(key);
        }
        group.push(job);
    }
    let mut calls = Vec::new();
    for key in order {
        let mut group = groups.remove(&key).unwrap_or_default();
        let slot = bucket_id(&key.0, key.1);
        while !group.is_empty() {
            let rest = group.split_off(group.len().min(CHUNK));
            calls.extend(call_for(
                &slot, &key.0, key.2, key.3, group, new_code, failed,
            ));
            group = rest;
        }
    }
    calls
}

/// One `ZADD` that marks the calls' slot names as having stream entries, for recovery.
pub fn pack_mark(slots: &[&str], now_ms: i64, out: &mut Vec<u8>) {
    let mut cmd = redis::cmd("ZADD");
    cmd.arg(LEDGER_ACTIVE_KEY);
    for slot in slots {
        cmd.arg(now_ms).arg(*slot);
    }
    cmd.write_packed_command(out);
}

/// Each slot name once, in the order of the calls.
pub fn slots_of(calls: &[Call]) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    calls
        .iter()
        .map(|c| c.slot.as_str())
        .filter(|s| seen.insert(*s))
        .collect()
}

/// An integer, or a bulk string holding one (Lua returns both kinds for numbers).
pub fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

pub fn as_string(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

fn field(items: &[Value], i: usize) -> Option<String> {
    items.get(i).and_then(as_string)
}

fn number_at(items: &[Value], i: usize) -> Option<i64> {
    items.get(i).and_then(as_i64)
}

/// Reads one script result: the row to write (if any) and what to tell the caller now.
/// Returns the alert flags the claim fired.
pub fn settle(
    cfg: &Config,
    call: &Call,
    job: &Job,
    code: &str,
    result: &Value,
    rows: &mut Vec<Row>,
    done: &mut Vec<Outcome>,
) -> Option<i64> {
    let Value::Array(items) = result else {
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
                    slot: call.slot.clone(),
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
                    slot: call.slot.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn job(ticket: u64, campaign: &str, now: i64, idem: &str) -> Job {
        Job {
            ticket,
            campaign_id: campaign.into(),
            bucket: 0,
            grant: false,
            member_id: format!("m{ticket}"),
            channel: "online".into(),
            idem: idem.into(),
            idem_hash: if idem.is_empty() { "" } else { "h" }.into(),
            now_ms: now,
            actor: format!("clerk {ticket}"),
        }
    }

    pub(crate) fn cfg() -> Config {
        Config {
            redis_url: String::new(),
            cluster: false,
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

    fn calls(jobs: Vec<Job>) -> Vec<Call> {
        let mut failed = Vec::new();
        let calls = calls_for(jobs, &mut crate::codes::new_code, &mut failed);
        assert!(failed.is_empty());
        calls
    }

    #[test]
    fn groups_claims_by_bucket_and_clock_in_order() {
        let mut in_bucket = job(5, "a", 5, "");
        in_bucket.bucket = 3;
        let jobs = vec![
            job(1, "a", 5, ""),
            job(2, "b", 5, "k"),
            job(3, "a", 5, ""),
            job(4, "a", 6, ""),
            in_bucket,
        ];
        let calls = calls(jobs);
        let tickets: Vec<Vec<u64>> = calls
            .iter()
            .map(|c| c.jobs.iter().map(|(j, _)| j.ticket).collect())
            .collect();
        assert_eq!(tickets, vec![vec![1, 3], vec![2], vec![4], vec![5]]);
        let mut packed = Vec::new();
        calls[1].pack(&cfg(), "rid", &mut packed);
        let text = String::from_utf8(packed).unwrap();
        assert!(
            text.starts_with("*13\r\n$7\r\nEVALSHA\r\n$3\r\nsha\r\n$1\r\n4\r\n"),
            "{text}"
        );
        assert!(text.contains("{c:b}:idem:k"), "{text}");
        assert!(text.contains("m2\x1f"), "{text}");
        assert!(text.contains("\x1f4\x1fh\x1fclerk 2"), "{text}");
        assert!(text.ends_with("$3\r\nrid\r\n"), "{text}");
        assert_eq!(calls[3].slot, "a:3");
        assert_eq!(calls[3].campaign_id, "a");
        assert_eq!(calls[3].route_key(), "{c:a:3}:meta");
    }

    #[test]
    fn marks_each_slot_of_a_round_trip_once_in_one_zadd() {
        let mut other = job(4, "a", 5, "");
        other.bucket = 2;
        let calls = calls(vec![
            job(1, "a", 5, ""),
            job(2, "b", 5, ""),
            job(3, "a", 6, ""),
            other,
        ]);
        let mut out = Vec::new();
        pack_mark(&slots_of(&calls), 42, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "*8\r\n$4\r\nZADD\r\n$21\r\ngateway:ledger:active\r\n\
             $2\r\n42\r\n$1\r\na\r\n$2\r\n42\r\n$1\r\nb\r\n$2\r\n42\r\n$3\r\na:2\r\n"
        );
    }

    #[test]
    fn splits_big_groups() {
        let sizes: Vec<usize> = calls((0..600).map(|i| job(i, "a", 1, "")).collect())
            .iter()
            .map(|c| c.jobs.len())
            .collect();
        assert_eq!(sizes, vec![256, 256, 88]);
    }

    #[test]
    fn a_code_that_cannot_be_made_fails_its_claim_and_sends_nothing_empty() {
        let mut n = 0;
        let mut flaky = || {
            n += 1;
            match n {
                2 => Err(CodeError::Rng),
                3 => Ok(String::new()),
                _ => crate::codes::new_code(),
            }
        };
        let mut failed = Vec::new();
        let jobs = (1..=4).map(|i| job(i, "a", 1, "")).collect();
        let calls = calls_for(jobs, &mut flaky, &mut failed);
        let sent: Vec<u64> = calls[0].jobs.iter().map(|(j, _)| j.ticket).collect();
        assert_eq!(sent, vec![1, 4]);
        assert!(calls[0].jobs.iter().all(|(_, code)| code.len() == 14));
        assert!(!calls[0].records.contains("\x1f\x1f"), "no empty field");
        let tickets: Vec<u64> = failed
            .iter()
            .map(|o| match o {
                Outcome::Failed { ticket, .. } => *ticket,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tickets, vec![2, 3]);
        // A group whose every code failed sends no call at all.
        let mut never = || Err(CodeError::Rng);
        let none = calls_for(vec![job(9, "b", 1, "")], &mut never, &mut failed);
        assert!(none.is_empty());
        assert_eq!(failed.len(), 3);
    }

    #[test]
    fn settles_every_kind_of_result() {
        let config = cfg();
        let mut one = job(7, "a", 1, "k");
        one.bucket = 2;
        let call = calls(vec![one]).remove(0);
        let (j, code) = &call.jobs[0];
        let mut rows = Vec::new();
        let mut done = Vec::new();
        let new = Value::Array(vec![
            Value::Int(1),
            Value::BulkString(code.clone().into_bytes()),
            Value::Int(1),
            Value::BulkString(b"1".to_vec()),
            Value::BulkString(b"99".to_vec()),
            Value::BulkString(b"1-0".to_vec()),
            Value::Int(4),
            Value::Int(2),
        ]);
        assert_eq!(
            settle(&config, &call, j, code, &new, &mut rows, &mut done),
            Some(2)
        );
        assert_eq!(rows[0].ticket, Some(7));
        assert_eq!(rows[0].stream_id.as_deref(), Some("1-0"));
        assert_eq!(rows[0].until_ms, 99);
        assert_eq!(rows[0].actor, "clerk 7");
        assert_eq!(
            (rows[0].campaign_id.as_str(), rows[0].slot.as_str()),
            ("a", "a:2")
        );
        let refused = Value::Array(vec![
            Value::Int(0),
            Value::BulkString(b"bucket_dry".to_vec()),
        ]);
        settle(&config, &call, j, code, &refused, &mut rows, &mut done);
        assert_eq!(
            done,
            vec![Outcome::Refused {
                ticket: 7,
                reason: "bucket_dry".into()
            }]
        );
        let garbage = Value::Array(vec![Value::Int(1)]);
        settle(&config, &call, j, code, &garbage, &mut rows, &mut done);
        assert!(matches!(done[1], Outcome::Failed { ticket: 7, .. }));
        assert_eq!(rows.len(), 1);
    }
}
