//! The ledger writers: group commits of coupons to Postgres, over TLS when the database URL
//! asks for it (libpq's `sslmode` and `sslrootcert`).

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use native_tls::{Certificate, TlsConnector};
use postgres::config::SslMode;
use postgres_native_tls::MakeTlsConnector;

use super::redis_io::IO_TIMEOUT;
use super::{lock, Outcome, Row, Shared};

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

/// libpq's `sslmode`, of which rust-postgres knows only disable, prefer and require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgSslMode {
    Disable,
    /// libpq's default (and `allow`): TLS if the server offers it, certificate not checked.
    Prefer,
    /// Encrypted; the certificate is not checked (unless `sslrootcert` is given: then, as in
    /// libpq, like verify-ca).
    Require,
    /// Encrypted, certificate chained to `sslrootcert`; the host name is not checked.
    VerifyCa,
    /// As verify-ca, and the certificate names the host.
    VerifyFull,
}

/// Where the ledger writes and how.
pub struct PgTarget {
    pub config: postgres::Config,
    pub tls: MakeTlsConnector,
    pub mode: PgSslMode,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("GATEWAY_DATABASE_URL {what}"),
    )
}

/// Takes `sslmode` and `sslrootcert` out of a URL (`postgresql://...?k=v`) or a key=value
/// string: what is left is for rust-postgres.
pub fn split_ssl(url: &str) -> (String, Option<String>, Option<String>) {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            mode = Some(value);
            true
        }
        "sslrootcert" => {
            root = Some(value);
            true
        }
        _ => false,
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let v = percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned();
                !take(k, v)
            })
            .collect();
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !take(k.trim(), v.trim().trim_matches('\'').to_string())
            })
            .collect();
        kept.join(" ")
    };
    (rest, mode, root)
}

impl PgTarget {
    pub fn parse(database_url: &str) -> io::Result<PgTarget> {
        let (rest, mode, root) = split_ssl(database_url);
        let config = postgres::Config::from_str(&rest).map_err(|e| invalid(e.to_string()))?;
        let mut mode = match mode.as_deref() {
            None | Some("prefer") | Some("allow") => PgSslMode::Prefer,
            Some("disable") => PgSslMode::Disable,
            Some("require") => PgSslMode::Require,
            Some("verify-ca") => PgSslMode::VerifyCa,
            Some("verify-full") => PgSslMode::VerifyFull,
            Some(other) => return Err(invalid(format!("has an unknown sslmode: {other:?}"))),
        };
        if mode == PgSslMode::Require && root.is_some() {
            mode = PgSslMode::VerifyCa;
        }
        let mut builder = TlsConnector::builder();
        match mode {
            PgSslMode::Disable | PgSslMode::Prefer | PgSslMode::Require => {
                builder
                    .danger_accept_invalid_certs(true)
                    .danger_accept_invalid_hostnames(true);
            }
            PgSslMode::VerifyCa | PgSslMode::VerifyFull => {
                // libpq's default root file, unless named; "system": the system's store.
                let root = root.map(PathBuf::from).or_else(|| {
                    std::env::var_os("HOME")
                        .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
                        .filter(|p| p.exists())
                });
                let Some(root) = root else {
                    return Err(invalid(
                        "has sslmode=verify-ca/verify-full without sslrootcert".into(),
                    ));
                };
                if root.as_os_str() != "system" {
                    let pem = std::fs::read(&root).map_err(|e| {
                        invalid(format!(
                            "names sslrootcert={} that cannot be read: {e}",
                            root.display()
                        ))
                    })?;
                    let certs = Certificate::stack_from_pem(&pem).map_err(|e| {
                        invalid(format!(
                            "names sslrootcert={} that is not PEM: {e}",
                            root.display()
                        ))
                    })?;
                    builder.disable_built_in_roots(true);
                    for cert in certs {
                        builder.add_root_certificate(cert);
                    }
                }
                builder.danger_accept_invalid_hostnames(mode == PgSslMode::VerifyCa);
            }
        }
        let connector = builder
            .build()
            .map_err(|e| invalid(format!("TLS setup failed: {e}")))?;
        let mut config = config;
        config.ssl_mode(match mode {
            PgSslMode::Disable => SslMode::Disable,
            PgSslMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        Ok(PgTarget {
            config,
            tls: MakeTlsConnector::new(connector),
            mode,
        })
    }
}

struct Writer {
    client: postgres::Client,
    statement: postgres::Statement,
}

fn connect_pg(target: &PgTarget) -> Result<Writer, postgres::Error> {
    let mut config = target.config.clone();
    config.connect_timeout(IO_TIMEOUT);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(10));
    config.application_name("gateway-ledger");
    // A statement stuck on a dying server must not stall the writer for long.
    config.options("-c statement_timeout=5000");
    let mut client = config.connect(target.tls.clone())?;
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

pub(super) fn writer_loop(shared: &Shared, target: &PgTarget) {
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
        let result = match writer.take().map_or_else(|| connect_pg(target), Ok) {
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
        {
            let mut inbox = lock(&shared.inbox);
            for row in &batch {
                if let Some(id) = &row.stream_id {
                    inbox
                        .deletes
                        .entry(row.slot.clone())
                        .or_default()
                        .push(id.clone());
                }
            }
        }
        let done: Vec<Outcome> = batch
            .into_iter()
            .filter_map(|row| row.ticket.map(|ticket| Outcome::Coupon { ticket, row }))
            .collect();
        shared.complete(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_ssl_options_out_of_both_forms() {
        let (rest, mode, root) = split_ssl(
            "postgresql://u:p@h:5432/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fca.pem",
        );
        assert_eq!(rest, "postgresql://u:p@h:5432/db?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/ca.pem"));
        let (rest, mode, root) = split_ssl("host=h dbname=db sslmode=require");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root),
            ("host=h dbname=db", Some("require"), None)
        );
        let (rest, mode, _) = split_ssl("postgresql://h/db");
        assert_eq!((rest.as_str(), mode), ("postgresql://h/db", None));
    }

    #[test]
    fn reads_sslmode_with_libpq_meaning() {
        let mode = |url: &str| PgTarget::parse(url).map(|t| t.mode);
        assert_eq!(mode("postgresql://h/db").unwrap(), PgSslMode::Prefer);
        assert_eq!(
            mode("postgresql://h/db?sslmode=disable").unwrap(),
            PgSslMode::Disable
        );
        assert_eq!(
            mode("postgresql://h/db?sslmode=require").unwrap(),
            PgSslMode::Require
        );
        assert_eq!(
            mode("postgresql://h/db?sslmode=verify-full&sslrootcert=system").unwrap(),
            PgSslMode::VerifyFull
        );
        assert_eq!(
            mode("postgresql://h/db?sslmode=require&sslrootcert=system").unwrap(),
            PgSslMode::VerifyCa,
            "require with a root certificate verifies, as in libpq"
        );
        let bad = PgTarget::parse("postgresql://h/db?sslmode=sometimes")
            .err()
            .unwrap();
        assert!(bad.to_string().contains("sslmode"), "{bad}");
        let missing = PgTarget::parse("postgresql://h/db?sslmode=verify-ca&sslrootcert=/nope.pem")
            .err()
            .unwrap();
        assert!(missing.to_string().contains("sslrootcert"), "{missing}");
    }
}
