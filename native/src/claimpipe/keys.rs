//! Key names of a campaign's hot state, its stock buckets, and the Cluster slot a key hashes
//! to: the one definition (`gateway/store/redis.py` re-exports these through `gateway._native`).
//!
//! A campaign of K buckets has K sets of keys. Bucket b's **slot name** is `bucket_id(c, b)`:
//! the campaign id for bucket 0 (so K = 1 is the layout from before buckets), `c:b` otherwise.
//! Every key of one slot name shares the hash tag `{c:<slot name>}`, so one script call touches
//! one Cluster slot.

/// Sorted set: slot name -> when a round trip last touched its stream (ms, Redis clock).
/// Ledger recovery visits only these (`gateway/store/ledger.py`). Not hash-tagged: one key.
pub const LEDGER_ACTIVE_KEY: &str = "gateway:ledger:active";

/// Slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The bucket a member claims in: FNV-1a (64 bit) of the member id's UTF-8 bytes, modulo
/// `buckets` (0 and 1 both mean one bucket).
pub fn bucket_of(member_id: &str, buckets: u32) -> u32 {
    if buckets <= 1 {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in member_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(buckets)) as u32
}

/// Bucket `bucket`'s slot name: the campaign id itself for bucket 0.
pub fn bucket_id(campaign_id: &str, bucket: u32) -> String {
    if bucket == 0 {
        campaign_id.to_string()
    } else {
        format!("{campaign_id}:{bucket}")
    }
}

/// The campaign a slot name belongs to (campaign ids never hold ':').
pub fn campaign_of(slot_name: &str) -> &str {
    slot_name.split_once(':').map_or(slot_name, |(c, _)| c)
}

pub fn meta_key(slot_name: &str) -> String {
    format!("{{c:{slot_name}}}:meta")
}

pub fn members_key(slot_name: &str) -> String {
    format!("{{c:{slot_name}}}:members")
}

pub fn ledger_key(slot_name: &str) -> String {
    format!("{{c:{slot_name}}}:ledger")
}

/// Hash: refusal reason -> count (the console's live view). The claim script derives it from
/// the meta key's name.
pub fn refusals_key(slot_name: &str) -> String {
    format!("{{c:{slot_name}}}:refusals")
}

pub fn idem_key(slot_name: &str, key: &str) -> String {
    format!("{{c:{slot_name}}}:idem:{key}")
}

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), the checksum of Redis Cluster's slots.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The Cluster slot of a key: of its hash tag (the text between the first `{` and the next
/// `}`, when not empty), else of the whole key.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter()
            .position(|&b| b == b'}')
            .filter(|&close| close > 0)
            .map(|close| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_zero_keeps_the_campaign_keys() {
        assert_eq!(bucket_id("cmp_1", 0), "cmp_1");
        assert_eq!(bucket_id("cmp_1", 3), "cmp_1:3");
        assert_eq!(meta_key(&bucket_id("cmp_1", 3)), "{c:cmp_1:3}:meta");
        assert_eq!(idem_key("cmp_1", "k"), "{c:cmp_1}:idem:k");
        assert_eq!(campaign_of("cmp_1:3"), "cmp_1");
        assert_eq!(campaign_of("cmp_1"), "cmp_1");
    }

    #[test]
    fn buckets_members_by_fnv1a() {
        // FNV-1a 64 of "" is the offset basis; of "a" the published 0xaf63dc4c8601ec8c.
        assert_eq!(bucket_of("a", 1), 0);
        assert_eq!(bucket_of("a", 0), 0);
        assert_eq!(
            u64::from(bucket_of("a", 64)),
            0xaf63_dc4c_8601_ec8c_u64 % 64
        );
        assert_eq!(u64::from(bucket_of("", 7)), 0xcbf2_9ce4_8422_2325_u64 % 7);
        for k in 1..=64 {
            assert!(bucket_of("member-42", k) < k);
        }
    }

    #[test]
    fn slots_follow_redis() {
        // Values from `CLUSTER KEYSLOT` on redis-server 7.
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"{c:cmp_1}:meta"), key_slot(b"{c:cmp_1}:idem:x"));
    }
}
