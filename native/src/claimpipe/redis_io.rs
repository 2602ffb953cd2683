//! Connections to Redis nodes (redis-rs, sync API, on the pipeline's own thread): every node
//! is reached with the credentials and TLS of `GATEWAY_REDIS_URL`.

use std::io;
use std::time::Duration;

use redis::io::tcp::TcpSettings;
use redis::{
    Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo, RedisResult,
    TlsCertificates, Value,
};

use super::script::{as_i64, as_string};
use super::url::{CertReqs, RedisUrl};

pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A node's address: host and port.
pub type Addr = (String, u16);

/// How to reach any node: the URL's credentials, database and TLS settings.
pub struct Endpoint {
    pub url: RedisUrl,
    /// The PEM of `ssl_ca_certs`, read once at start.
    ca_pem: Option<Vec<u8>>,
}

impl Endpoint {
    /// Reads the URL (and its CA file): an error here is the caller's configuration.
    pub fn new(redis_url: &str) -> io::Result<Endpoint> {
        let invalid = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("GATEWAY_REDIS_URL {what}"),
            )
        };
        let url = RedisUrl::parse(redis_url).map_err(invalid)?;
        let ca_pem = match &url.ca_certs {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                invalid(format!(
                    "names ssl_ca_certs={} that cannot be read: {e}",
                    path.display()
                ))
            })?),
            None => None,
        };
        let endpoint = Endpoint { url, ca_pem };
        // Builds a client once so that a bad CA file is reported now, not at each connect.
        let seed = endpoint.seed();
        endpoint
            .client(&seed)
            .map_err(|e| invalid(format!("cannot be used: {e}")))?;
        Ok(endpoint)
    }

    pub fn seed(&self) -> Addr {
        (self.url.host.clone(), self.url.port)
    }

    fn client(&self, addr: &Addr) -> RedisResult<Client> {
        let url = &self.url;
        let (host, port) = (addr.0.clone(), addr.1);
        let tcp = if url.tls {
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure: url.cert_reqs == CertReqs::None,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host, port)
        };
        let mut redis = RedisConnectionInfo::default().set_db(url.db);
        if let Some(user) = &url.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &url.password {
            redis = redis.set_password(password);
        }
        let info: ConnectionInfo = tcp
            .into_connection_info()?
            .set_redis_settings(redis)
            .set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let verified = url.tls && url.cert_reqs == CertReqs::Required;
        if !verified || (self.ca_pem.is_none() && url.check_hostname) {
            return Client::open(info);
        }
        let client = Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls: None,
                root_cert: self.ca_pem.clone(),
            },
        )?;
        if url.check_hostname {
            return Ok(client);
        }
        let info = client.get_connection_info().clone();
        let mut tcp = info.addr().clone();
        tcp.set_danger_accept_invalid_hostnames(true);
        Client::open(info.set_addr(tcp))
    }
}

/// One connection to one node.
pub struct Node {
    conn: redis::Connection,
    /// The server's run_id, read at connect: a restarted server breaks the connection, so it is
    /// current for as long as the connection lives. The script compares it with the one the
    /// bucket's hot state was built for.
    pub run_id: String,
    /// Redis's clock minus ours (ms), read at connect: the active set's scores are Redis time,
    /// the clock recovery compares them with.
    clock_offset_ms: i64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Node {
    pub fn connect(endpoint: &Endpoint, addr: &Addr) -> RedisResult<Node> {
        let client = endpoint.client(addr)?;
        let mut conn = client.get_connection_with_timeout(IO_TIMEOUT)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut conn)?;
        let run_id = info
            .lines()
            .find_map(|line| line.strip_prefix("run_id:"))
            .map(|id| id.trim().to_string())
            .unwrap_or_default();
        let before = now_ms();
        let time: Value = redis::cmd("TIME").query(&mut conn)?;
        let after = now_ms();
        let mut clock_offset_ms = 0;
        if let Value::Array(parts) = &time {
            let seconds = parts.first().and_then(as_i64).unwrap_or(0);
            let micros = parts.get(1).and_then(as_i64).unwrap_or(0);
            clock_offset_ms = seconds * 1000 + micros / 1000 - (before + after) / 2;
        }
        Ok(Node {
            conn,
            run_id,
            clock_offset_ms,
        })
    }

    /// Now, on this node's clock (ms).
    pub fn redis_now_ms(&self) -> i64 {
        now_ms() + self.clock_offset_ms
    }

    /// Writes a packed pipeline (one write); its replies are read with `recv`.
    pub fn send(&mut self, packed: &[u8]) -> RedisResult<()> {
        self.conn.send_packed_command(packed)
    }

    /// The next reply. An error reply is `Ok(Value::ServerError)`: per call, not for the
    /// connection; `Err` is the connection's (broken, timed out).
    pub fn recv(&mut self) -> RedisResult<Value> {
        self.conn.recv_response()
    }

    /// One command and its reply (an error reply is an `Err`).
    pub fn query(&mut self, cmd: &redis::Cmd) -> RedisResult<Value> {
        let value: Value = cmd.query(&mut self.conn)?;
        Ok(value)
    }
}

/// The text of a reply, for the log.
pub fn describe(value: &Value) -> String {
    match value {
        Value::ServerError(e) => format!("{} {}", e.code(), e.details().unwrap_or_default()),
        other => as_string(other).unwrap_or_else(|| format!("{other:?}")),
    }
}
