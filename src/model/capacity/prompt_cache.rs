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
//!
//! The leading part of a call's cached input that every session of its
//! user class sends alike (a system prompt, tool definitions: the agent's
//! `shared_prefix_tokens`, a trace's blocks sent by several sessions) is
//! one prefix for all of them (`Session::Agent`, told apart by its length:
//! an agent's and its subagents' system prompts are other texts), as a
//! provider's cache matches a prefix whoever sent it: a call whose
//! session's prefix is gone reads that part when any session of its class
//! used a shared part of that length within the TTL, and writes only the
//! rest.

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
    /// The `tokens` every session of user class `class` starts with alike
    /// (sessions of one class starting with prefixes of other lengths, as
    /// an agent's and its subagents' system prompts, do not share them).
    Agent {
        class: u16,
        tokens: u32,
    },
}

impl Session {
    /// A number standing for it, the same in every run.
    pub fn id(self) -> u64 {
        let (kind, a, b) = match self {
            Session::User { class, user } => (1, u64::from(class), u64::from(user)),
            Session::Recorded { class, session } => (2, u64::from(class), u64::from(session)),
            Session::Loop(key) => (3, key.id(), 0),
            Session::Agent { class, tokens } => (4, u64::from(class), u64::from(tokens)),
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

/// Whose conversation a call continues, and the leading `shared` tokens
/// of its cached input that every session of user class `class` sends
/// alike.
#[derive(Clone, Copy, Debug)]
pub struct Conversation {
    pub session: Session,
    pub class: u16,
    pub shared: u32,
}

impl Conversation {
    /// The part every session of its class sends alike, if any.
    pub fn shared_part(self) -> Option<Session> {
        (self.shared > 0).then_some(Session::Agent {
            class: self.class,
            tokens: self.shared,
        })
    }
}

/// A call's prefixes at a pool, for a model.
#[derive(Clone, Copy, Debug)]
pub struct Prefix {
    pub conversation: Conversation,
    pub pool: usize,
    pub model: u16,
}

impl Prefix {
    /// Where its session's prefix is cached.
    fn place(self) -> Place {
        (self.conversation.session, self.pool, self.model)
    }

    /// Where the part every session of its class sends alike is cached.
    fn shared_place(self) -> Option<Place> {
        let shared = self.conversation.shared_part()?;
        Some((shared, self.pool, self.model))
    }
}

/// Every session's prefix at every pool with a TTL, for each model.
#[derive(Debug, Default)]
pub struct PromptCaches {
    entries: FastMap<Place, Entry>,
}

impl PromptCaches {
    fn held(&self, place: Place, now: SimTime) -> bool {
        self.entries
            .get(&place)
            .is_some_and(|e| e.written_at < now && now <= e.expires_at)
    }

    /// `request` as a pool whose cache keeps prefixes for a TTL sees it
    /// from its session at `now`: its cached part read when the session's
    /// prefix is there; else its conversation's first `shared` tokens read
    /// when its class's shared prefix is there, and the rest written.
    pub fn request(&self, prefix: Prefix, now: SimTime, request: Request) -> Request {
        if self.held(prefix.place(), now) {
            return request;
        }
        let cacheable = request.cached_input_tokens + request.cache_write_tokens;
        let read = match prefix.shared_place() {
            Some(place) if self.held(place, now) => prefix.conversation.shared.min(cacheable),
            _ => 0,
        };
        Request {
            cached_input_tokens: read,
            cache_write_tokens: cacheable - read,
            ..request
        }
    }

    /// The pool took `request` (as [`PromptCaches::request`] made it) at
    /// `now`: the session's prefix is there for `ttl` from now, and so is
    /// the part its class's sessions share.
    pub fn used(&mut self, prefix: Prefix, ttl: SimDuration, now: SimTime, request: Request) {
        if request.cached_input_tokens == 0 && request.cache_write_tokens == 0 {
            return; // nothing cacheable
        }
        let mut keep = |place: Place, written: bool| {
            let entry = self.entries.entry(place).or_insert(Entry {
                written_at: now,
                expires_at: now,
            });
            if written {
                entry.written_at = now;
            }
            entry.expires_at = now + ttl;
        };
        keep(prefix.place(), request.cache_write_tokens > 0);
        if let Some(place) = prefix.shared_place() {
            keep(
                place,
                request.cached_input_tokens < prefix.conversation.shared,
            );
        }
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

    /// A call of `session` (of class 0) whose first `shared` cached tokens
    /// every session of its class sends alike.
    fn prefix(session: Session, shared: u32) -> Prefix {
        Prefix {
            conversation: Conversation {
                session,
                class: 0,
                shared,
            },
            pool: 0,
            model: 0,
        }
    }

    /// Sends CALL from `session` at `t`, its first `shared` cached tokens
    /// its class's, and has the pool take it.
    fn send_sharing(caches: &mut PromptCaches, session: Session, shared: u32, t: u64) -> Request {
        let r = caches.request(prefix(session, shared), at(t), CALL);
        caches.used(
            prefix(session, shared),
            SimDuration::from_secs(300),
            at(t),
            r,
        );
        r
    }

    /// Sends CALL from `session` at `t` and has the pool take it.
    fn send(caches: &mut PromptCaches, session: Session, t: u64) -> Request {
        send_sharing(caches, session, 0, t)
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
            caches
                .request(prefix(late, 0), at(7), CALL)
                .cache_write_tokens,
            9_000
        );
        assert_eq!(send(&mut caches, late, 8).cache_write_tokens, 9_000);
        caches.forget(late, 1, 1);
        assert_eq!(send(&mut caches, late, 9).cache_write_tokens, 9_000);
    }

    /// A session whose own prefix is gone reads the part its class's
    /// sessions share (2,000 of its 9,000 cached tokens) when any of them
    /// used it within the TTL, and writes the rest; a session's own reads
    /// keep the shared part too; sessions sent at one instant all miss it.
    #[test]
    fn a_new_session_reads_the_prefix_its_class_shares_and_writes_the_rest() {
        let mut caches = PromptCaches::default();
        let user = |user| Session::User { class: 0, user };
        let read_wrote = |r: Request| (r.cached_input_tokens, r.cache_write_tokens);
        // (user, second, tokens read, tokens written)
        for (u, t, read, written) in [
            // Two sessions at once: neither has written the shared part yet.
            (0, 10, 0, 9_000),
            (1, 10, 0, 9_000),
            // A third session later: the shared part read, its own written.
            (2, 11, 2_000, 7_000),
            // Session 0 reads its own prefix, which keeps the shared part.
            (0, 300, 9_000, 0),
            (0, 600, 9_000, 0),
            // Session 1's own prefix is gone (unused since 10 s), the shared part is not.
            (1, 900, 2_000, 7_000),
            // Nobody for 301 s: all gone.
            (3, 1_201, 0, 9_000),
        ] {
            let sent = send_sharing(&mut caches, user(u), 2_000, t);
            assert_eq!(read_wrote(sent), (read, written), "user {u} at {t} s");
        }
        // A shared part of another length is another text: not read.
        let longer = caches.request(prefix(user(5), 3_000), at(1_203), CALL);
        assert_eq!(read_wrote(longer), (0, 9_000));
        assert_eq!(
            read_wrote(caches.request(prefix(user(5), 2_000), at(1_203), CALL)),
            (2_000, 7_000)
        );
        // Without a shared part, a new session writes it all.
        assert_eq!(read_wrote(send(&mut caches, user(4), 1_202)), (0, 9_000));
        // Another class shares nothing with this one.
        let other = Prefix {
            conversation: Conversation {
                session: Session::User { class: 1, user: 0 },
                class: 1,
                shared: 2_000,
            },
            pool: 0,
            model: 0,
        };
        assert_eq!(
            read_wrote(caches.request(other, at(1_203), CALL)),
            (0, 9_000)
        );
    }
}
