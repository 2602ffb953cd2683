//! Where each key lives: one node in single-node mode; in Cluster mode the slot map read from
//! `CLUSTER SLOTS`, kept current by MOVED replies and refreshed after a broken connection (a
//! failover promoted a replica). One connection per master, opened when first needed.

use std::collections::HashMap;

use redis::{RedisResult, Value};

use super::keys::{key_slot, SLOTS};
use super::redis_io::{Addr, Endpoint, Node};
use super::script::{as_i64, as_string};

const NO_NODE: u16 = u16::MAX;

pub struct Router {
    pub endpoint: Endpoint,
    cluster: bool,
    /// The masters (or the one node), indexed by `slots`.
    nodes: Vec<Addr>,
    slots: Vec<u16>,
    conns: HashMap<Addr, Node>,
    /// The slot map must be read again before the next round trip.
    stale: bool,
}

/// Where a `MOVED` or `ASK` reply sends a call: `(slot, node)`.
pub fn redirect(details: Option<&str>) -> Option<(u16, Addr)> {
    let mut parts = details?.split_whitespace();
    let slot = parts.next()?.parse::<u16>().ok().filter(|s| *s < SLOTS)?;
    let (host, port) = parts.next()?.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((slot, (host.to_string(), port.parse().ok()?)))
}

impl Router {
    pub fn new(endpoint: Endpoint, cluster: bool) -> Router {
        let seed = endpoint.seed();
        Router {
            endpoint,
            cluster,
            nodes: vec![seed],
            slots: vec![if cluster { NO_NODE } else { 0 }; usize::from(SLOTS)],
            conns: HashMap::new(),
            stale: cluster,
        }
    }

    /// Reads the slot map if it is stale (Cluster mode): from a node already connected, else
    /// from the seed, else from any node known.
    pub fn prepare(&mut self) -> Result<(), String> {
        if !self.cluster || !self.stale {
            return Ok(());
        }
        let mut tried: Vec<Addr> = self.conns.keys().cloned().collect();
        for addr in std::iter::once(self.endpoint.seed()).chain(self.nodes.iter().cloned()) {
            if !tried.contains(&addr) {
                tried.push(addr);
            }
        }
        let mut last = String::from("no node to ask");
        for addr in tried {
            match self.read_slots(&addr) {
                Ok(()) => {
                    self.stale = false;
                    return Ok(());
                }
                Err(e) => {
                    self.conns.remove(&addr);
                    last = format!("{}:{}: {e}", addr.0, addr.1);
                }
            }
        }
        Err(format!("could not read the Cluster's slots: {last}"))
    }

    fn read_slots(&mut self, addr: &Addr) -> RedisResult<()> {
        let reply = self.node(addr)?.query(redis::cmd("CLUSTER").arg("SLOTS"))?;
        let Value::Array(ranges) = reply else {
            return Err(std::io::Error::other("CLUSTER SLOTS answered no array").into());
        };
        let mut nodes: Vec<Addr> = Vec::new();
        let mut slots = vec![NO_NODE; usize::from(SLOTS)];
        for range in &ranges {
            let Value::Array(parts) = range else { continue };
            let (Some(start), Some(end)) = (
                parts.first().and_then(as_i64),
                parts.get(1).and_then(as_i64),
            ) else {
                continue;
            };
            let Some(Value::Array(master)) = parts.get(2) else {
                continue;
            };
            let host = master.first().and_then(as_string).unwrap_or_default();
            // An empty host (or '?') is the node that answered.
            let host = if host.is_empty() || host == "?" {
                addr.0.clone()
            } else {
                host
            };
            let Some(port) = master.get(1).and_then(as_i64) else {
                continue;
            };
            let node = (host, port as u16);
            let index = match nodes.iter().position(|n| *n == node) {
                Some(i) => i,
                None => {
                    nodes.push(node);
                    nodes.len() - 1
                }
            };
            for slot in start.max(0)..=end.min(i64::from(SLOTS) - 1) {
                slots[slot as usize] = index as u16;
            }
        }
        // Connections to nodes that are no longer masters go: a demoted master would answer
        // MOVED to every call.
        self.conns.retain(|a, _| nodes.contains(a));
        self.nodes = nodes;
        self.slots = slots;
        Ok(())
    }

    /// The node that serves `key`, if the map knows one.
    pub fn owner(&self, key: &[u8]) -> Option<Addr> {
        if !self.cluster {
            return self.nodes.first().cloned();
        }
        let index = self.slots[usize::from(key_slot(key))];
        self.nodes.get(usize::from(index)).cloned()
    }

    /// The connection to `addr`, opened if need be.
    pub fn node(&mut self, addr: &Addr) -> RedisResult<&mut Node> {
        if !self.conns.contains_key(addr) {
            let node = Node::connect(&self.endpoint, addr)?;
            self.conns.insert(addr.clone(), node);
        }
        Ok(self.conns.get_mut(addr).expect("inserted above"))
    }

    pub fn connected(&mut self, addr: &Addr) -> Option<&mut Node> {
        self.conns.get_mut(addr)
    }

    /// A connection broke (or timed out): drop it, and read the slot map again before the
    /// next round trip (a failover may have promoted a replica).
    pub fn broken(&mut self, addr: &Addr) {
        self.conns.remove(addr);
        self.stale = self.cluster;
    }

    /// A `MOVED`: the slot is served by `addr` from now on; the whole map is read again
    /// before the next round trip (a reshard or failover moves more than one slot).
    pub fn moved(&mut self, slot: u16, addr: Addr) {
        let index = match self.nodes.iter().position(|n| *n == addr) {
            Some(i) => i,
            None => {
                self.nodes.push(addr);
                self.nodes.len() - 1
            }
        };
        self.slots[usize::from(slot)] = index as u16;
        self.stale = self.cluster;
    }

    /// Something is off with the map (a slot without a node, CLUSTERDOWN): read it again.
    pub fn invalidate(&mut self) {
        self.stale = self.cluster;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redirects() {
        assert_eq!(
            redirect(Some("3999 127.0.0.1:6381")),
            Some((3999, ("127.0.0.1".to_string(), 6381)))
        );
        assert_eq!(
            redirect(Some("12 [::1]:7000")),
            Some((12, ("::1".to_string(), 7000)))
        );
        assert_eq!(
            redirect(Some("12 ::1:7000")),
            Some((12, ("::1".to_string(), 7000)))
        );
        assert_eq!(redirect(Some("99999 h:1")), None);
        assert_eq!(redirect(Some("x h:1")), None);
        assert_eq!(redirect(None), None);
    }
}
