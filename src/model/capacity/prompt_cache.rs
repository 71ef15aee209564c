//! The provider's prompt cache, with a time to live, per session, pool
//! and model (a provider caches each model's prefixes apart).
//!
//! A session is a conversation whose calls share a prompt prefix: a
//! closed-population user (each loop continues the user's conversation), a
//! recorded session of a trace, or else the loop itself. A call's cached
//! part (its agent's `cached_input_share`, its context's cached share) is
//! read from the cache only when the session's prefix is there: written by
//! an earlier call of the session at this pool, and used within the pool's
//! `cache_ttl` (each use keeps it another TTL, as Anthropic's cache does).
//! Otherwise the call writes it: billed at the cache-write price, and
//! prefilled like any uncached input. Calls sent at the same instant (a
//! fan-out burst) all miss a prefix none of them has written yet, since a
//! provider holds a prefix only once a response to it has begun.

use crate::engine::fast_map::FastMap;

use crate::engine::random::derive_seed;
use crate::engine::{Key, SimDuration, SimTime};
use crate::model::capacity::admission::Request;

/// Whose conversation a call continues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Session {
    User {
        class: u16,
        user: u32,
    },
    Recorded {
        class: u16,
        session: u32,
    },
    /// A loop that is its own session (an open arrival's, a trace row's).
    Loop(Key),
}

impl Session {
    /// A number standing for it, the same in every run.
    pub fn id(self) -> u64 {
        let (kind, a, b) = match self {
            Session::User { class, user } => (1, u64::from(class), u64::from(user)),
            Session::Recorded { class, session } => (2, u64::from(class), u64::from(session)),
            Session::Loop(key) => (3, key.id(), 0),
        };
        derive_seed(derive_seed(kind, a), b)
    }
}

/// One session's prefix at one pool.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// When the prefix was last written: readable only after this instant.
    written_at: SimTime,
    /// Its last use plus the TTL.
    expires_at: SimTime,
}

/// Where a prefix is cached: a session's, at a pool, for a model.
type Place = (Session, usize, u16);

/// Every session's prefix at every pool with a TTL, for each model.
#[derive(Debug, Default)]
pub struct PromptCaches {
    entries: FastMap<Place, Entry>,
}

impl PromptCaches {
    /// `request` as a pool whose cache keeps prefixes for a TTL sees it
    /// from `session` at `now`: its cached part read when the prefix is
    /// there, else written.
    pub fn request(&self, place: Place, now: SimTime, request: Request) -> Request {
        let held = self
            .entries
            .get(&place)
            .is_some_and(|e| e.written_at < now && now <= e.expires_at);
        if held {
            request
        } else {
            Request {
                cached_input_tokens: 0,
                cache_write_tokens: request.cached_input_tokens + request.cache_write_tokens,
                ..request
            }
        }
    }

    /// Pool `pool` took `request` (as [`PromptCaches::request`] made it) at
    /// `now`: the session's prefix is there for `ttl` from now.
    pub fn used(&mut self, place: Place, ttl: SimDuration, now: SimTime, request: Request) {
        if request.cached_input_tokens == 0 && request.cache_write_tokens == 0 {
            return; // nothing cacheable
        }
        let entry = self.entries.entry(place).or_insert(Entry {
            written_at: now,
            expires_at: now,
        });
        if request.cache_write_tokens > 0 {
            entry.written_at = now;
        }
        entry.expires_at = now + ttl;
    }

    /// A loop that was its own session ended: its prefixes go.
    pub fn forget(&mut self, session: Session, pools: usize, models: usize) {
        for pool in 0..pools {
            for model in 0..models as u16 {
                self.entries.remove(&(session, pool, model));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    const CALL: Request = Request {
        input_tokens: 10_000,
        cached_input_tokens: 9_000,
        cache_write_tokens: 0,
        max_output_tokens: 100,
    };

    /// Sends CALL from `session` at `t` and has the pool take it.
    fn send(caches: &mut PromptCaches, session: Session, t: u64) -> Request {
        let r = caches.request((session, 0, 0), at(t), CALL);
        caches.used((session, 0, 0), SimDuration::from_secs(300), at(t), r);
        r
    }

    #[test]
    fn a_call_within_the_ttl_reads_and_one_after_it_writes() {
        let mut caches = PromptCaches::default();
        let user = Session::User { class: 0, user: 3 };
        let first = send(&mut caches, user, 10);
        assert_eq!(
            (first.cached_input_tokens, first.cache_write_tokens),
            (0, 9_000)
        );
        // 300 s after its last use, still held (each read keeps it 300 s more).
        assert_eq!(send(&mut caches, user, 310), CALL);
        assert_eq!(send(&mut caches, user, 610), CALL);
        // 301 s after: gone, written again.
        assert_eq!(send(&mut caches, user, 911).cache_write_tokens, 9_000);
        // Another session's prefix is its own.
        let other = Session::User { class: 0, user: 4 };
        assert_eq!(send(&mut caches, other, 912).cache_write_tokens, 9_000);
    }

    #[test]
    fn calls_sent_together_all_write_and_a_refused_call_keeps_nothing() {
        let mut caches = PromptCaches::default();
        let lp = Session::User { class: 1, user: 0 };
        for _ in 0..3 {
            assert_eq!(send(&mut caches, lp, 5).cache_write_tokens, 9_000);
        }
        assert_eq!(send(&mut caches, lp, 6), CALL);
        // Asked but never taken (a 429): the next call still misses.
        let late = Session::User { class: 1, user: 1 };
        assert_eq!(
            caches.request((late, 0, 0), at(7), CALL).cache_write_tokens,
            9_000
        );
        assert_eq!(send(&mut caches, late, 8).cache_write_tokens, 9_000);
        caches.forget(late, 1, 1);
        assert_eq!(send(&mut caches, late, 9).cache_write_tokens, 9_000);
    }
}
