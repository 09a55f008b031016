//! The outbox of one SessionActor (sessions.md §9.3–9.4), as pure bookkeeping.
//!
//! Types: [`Outbox`] (the FIFO of queued human messages, at most [`MAX_OUTBOX`], the slot of
//! the one due nudge (scm.md §9), and the one delivery in progress) and [`Inflight`] (that
//! delivery: sending, waiting for a retry, or awaiting confirmation).
//!
//! Invariants: at most one delivery is in progress; human messages go before the due nudge;
//! the nudge slot holds at most one nudge and never the one being delivered (same key and
//! signature); an item leaves the queue (or the slot) when its delivery starts; a failed item is retried after each of the configured delays and then dropped; a
//! delivery to a signal-capable harness stays "awaiting confirmation" until an `active` signal,
//! or until the second confirmation timeout gives it up. Sequence numbers make stale timers
//! harmless. The actor decides *when* a delivery may start (idle edges, hook-less gaps).

use std::collections::VecDeque;
use std::time::Duration;

use super::MAX_OUTBOX;
use crate::nudge::Nudge;

/// Where the delivery in progress stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `deliver` is running.
    Sending,
    /// `deliver` failed; a retry is scheduled.
    Retrying,
    /// Delivered; waiting for `active` (stage 1: before the extra Enter, 2: after it).
    Confirming(u8),
}

/// The delivery in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inflight {
    pub(crate) seq: u64,
    pub(crate) text: String,
    pub(crate) failures: u32,
    pub(crate) phase: Phase,
    /// An `active` signal arrived while sending.
    pub(crate) early_active: bool,
    /// The item is this nudge (recorded with `record_nudge` once `deliver` succeeded).
    pub(crate) nudge: Option<Nudge>,
}

/// What to do when a confirmation timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfirmAction {
    /// Send one extra Enter and wait once more.
    ExtraEnter,
    /// Give the item up as `delivery unconfirmed`.
    GiveUp,
    /// The timer is stale.
    Nothing,
}

/// Queued human messages and the delivery in progress.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<String>,
    /// The due nudge, recomputed from stored facts.
    nudge: Option<Nudge>,
    inflight: Option<Inflight>,
    next_seq: u64,
}

impl Outbox {
    /// Queues a human message; `Err(())` when [`MAX_OUTBOX`] are already waiting.
    pub(crate) fn enqueue(&mut self, text: String) -> Result<(), ()> {
        if self.queue.len() >= MAX_OUTBOX {
            return Err(());
        }
        self.queue.push_back(text);
        Ok(())
    }

    /// Puts a message first in line (an `after_start` first prompt).
    pub(crate) fn push_front(&mut self, text: String) {
        self.queue.push_front(text);
    }

    /// Queued human messages.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether anything waits: a human message or the due nudge.
    pub(crate) fn has_pending(&self) -> bool {
        !self.queue.is_empty() || self.nudge.is_some()
    }

    /// Replaces the due nudge with the latest evaluation. A nudge equal (key and signature) to
    /// the one being delivered is not kept: it would be sent twice.
    pub(crate) fn set_nudge(&mut self, nudge: Option<Nudge>) {
        let delivering = |n: &Nudge| {
            self.inflight
                .as_ref()
                .and_then(|i| i.nudge.as_ref())
                .is_some_and(|d| d.key == n.key && d.signature == n.signature)
        };
        self.nudge = nudge.filter(|n| !delivering(n));
    }

    /// The due nudge, if any.
    #[cfg(test)]
    pub(crate) fn due_nudge(&self) -> Option<&Nudge> {
        self.nudge.as_ref()
    }

    /// The nudge of delivery `seq`, when that delivery is a nudge.
    pub(crate) fn inflight_nudge(&self, seq: u64) -> Option<&Nudge> {
        self.inflight
            .as_ref()
            .filter(|i| i.seq == seq)
            .and_then(|i| i.nudge.as_ref())
    }

    pub(crate) fn is_busy(&self) -> bool {
        self.inflight.is_some()
    }

    /// Starts delivering the first queued human message, else the due nudge: `(seq, text)`.
    /// `None` when a delivery is in progress or nothing waits.
    pub(crate) fn start(&mut self) -> Option<(u64, String)> {
        if self.inflight.is_some() {
            return None;
        }
        let (text, nudge) = if let Some(text) = self.queue.pop_front() {
            (text, None)
        } else {
            let n = self.nudge.take()?;
            (n.text.clone(), Some(n))
        };
        self.next_seq += 1;
        let seq = self.next_seq;
        self.inflight = Some(Inflight {
            seq,
            text: text.clone(),
            failures: 0,
            phase: Phase::Sending,
            early_active: false,
            nudge,
        });
        Some((seq, text))
    }

    /// `deliver` succeeded. With `confirm`, the item now awaits an `active` signal (returns
    /// `true`: arm the first confirmation timer); otherwise it is done.
    pub(crate) fn delivered(&mut self, seq: u64, confirm: bool) -> bool {
        match &mut self.inflight {
            Some(i) if i.seq == seq && i.phase == Phase::Sending => {
                if confirm && !i.early_active {
                    i.phase = Phase::Confirming(1);
                    true
                } else {
                    self.inflight = None;
                    false
                }
            }
            _ => false,
        }
    }

    /// `deliver` failed: the delay before the next retry, or `None` when the item is dropped
    /// (every delay of `retries` was used).
    pub(crate) fn failed(&mut self, seq: u64, retries: &[Duration]) -> Option<Duration> {
        let i = self.inflight.as_mut().filter(|i| i.seq == seq)?;
        let delay = retries.get(i.failures as usize).copied();
        i.failures += 1;
        if delay.is_some() {
            i.phase = Phase::Retrying;
        } else {
            self.inflight = None;
        }
        delay
    }

    /// A retry timer fired: the text to send again, if the item still waits for it.
    pub(crate) fn retry(&mut self, seq: u64) -> Option<String> {
        let i = self
            .inflight
            .as_mut()
            .filter(|i| i.seq == seq && i.phase == Phase::Retrying)?;
        i.phase = Phase::Sending;
        Some(i.text.clone())
    }

    /// An `active` signal: confirms the delivery awaiting it.
    pub(crate) fn on_active(&mut self) {
        match &mut self.inflight {
            Some(i) if matches!(i.phase, Phase::Confirming(_)) => self.inflight = None,
            Some(i) if i.phase == Phase::Sending => i.early_active = true,
            _ => {}
        }
    }

    /// A confirmation timer of `stage` fired.
    pub(crate) fn confirm_timer(&mut self, seq: u64, stage: u8) -> ConfirmAction {
        match &mut self.inflight {
            Some(i) if i.seq == seq && i.phase == Phase::Confirming(stage) => {
                if stage == 1 {
                    i.phase = Phase::Confirming(2);
                    ConfirmAction::ExtraEnter
                } else {
                    self.inflight = None;
                    ConfirmAction::GiveUp
                }
            }
            _ => ConfirmAction::Nothing,
        }
    }

    /// Drops everything (the session ended).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.nudge = None;
        self.inflight = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_32_and_delivers_in_order() {
        let mut o = Outbox::default();
        for i in 0..MAX_OUTBOX {
            o.enqueue(format!("m{i}")).expect("room");
        }
        assert!(o.enqueue("overflow".into()).is_err());
        let (s1, t1) = o.start().expect("first");
        assert_eq!(t1, "m0");
        assert!(o.start().is_none(), "one delivery at a time");
        assert!(!o.delivered(s1, false));
        let (_, t2) = o.start().expect("second");
        assert_eq!(t2, "m1");
        assert_eq!(o.len(), MAX_OUTBOX - 2);
    }

    #[test]
    fn confirmation_extra_enter_then_give_up() {
        let mut o = Outbox::default();
        o.enqueue("x".into()).expect("room");
        let (seq, _) = o.start().expect("start");
        assert!(o.delivered(seq, true));
        assert!(o.is_busy());
        assert_eq!(o.confirm_timer(seq, 2), ConfirmAction::Nothing);
        assert_eq!(o.confirm_timer(seq, 1), ConfirmAction::ExtraEnter);
        assert_eq!(o.confirm_timer(seq, 1), ConfirmAction::Nothing);
        assert_eq!(o.confirm_timer(seq, 2), ConfirmAction::GiveUp);
        assert!(!o.is_busy());
    }

    #[test]
    fn active_confirms() {
        let mut o = Outbox::default();
        o.enqueue("x".into()).expect("room");
        let (seq, _) = o.start().expect("start");
        assert!(o.delivered(seq, true));
        o.on_active();
        assert!(!o.is_busy());
        assert_eq!(o.confirm_timer(seq, 1), ConfirmAction::Nothing);
        // An `active` that arrives while sending confirms at once.
        o.enqueue("y".into()).expect("room");
        let (seq, _) = o.start().expect("start");
        o.on_active();
        assert!(!o.delivered(seq, true));
        assert!(!o.is_busy());
    }

    fn nudge(key: &str, signature: &str) -> Nudge {
        Nudge {
            kind: ao_protocol::NudgeKind::Ci,
            pr_url: "https://github.com/o/r/pull/1".into(),
            pr_number: 1,
            key: key.into(),
            signature: signature.into(),
            scope: "sha".into(),
            text: format!("[AO] {key} {signature}"),
        }
    }

    #[test]
    fn human_messages_go_before_the_one_due_nudge() {
        let mut o = Outbox::default();
        assert!(!o.has_pending());
        o.set_nudge(Some(nudge("ci:a", "s1")));
        o.set_nudge(Some(nudge("ci:b", "s2")));
        o.enqueue("human".into()).expect("room");
        let (s1, t1) = o.start().expect("first");
        assert_eq!(t1, "human");
        assert!(o.inflight_nudge(s1).is_none());
        assert!(!o.delivered(s1, false));
        let (s2, t2) = o.start().expect("the nudge");
        assert_eq!(t2, "[AO] ci:b s2", "only the latest evaluation is kept");
        assert_eq!(o.inflight_nudge(s2).map(|n| n.key.as_str()), Some("ci:b"));
        // While it is delivered, the same nudge is not queued again; another one is.
        o.set_nudge(Some(nudge("ci:b", "s2")));
        assert!(o.due_nudge().is_none());
        o.set_nudge(Some(nudge("ci:b", "s3")));
        assert!(o.due_nudge().is_some());
        o.set_nudge(None);
        assert!(!o.has_pending());
    }

    #[test]
    fn retries_then_drops() {
        let delays = [Duration::from_secs(5), Duration::from_secs(15)];
        let mut o = Outbox::default();
        o.enqueue("x".into()).expect("room");
        let (seq, _) = o.start().expect("start");
        assert_eq!(o.failed(seq, &delays), Some(Duration::from_secs(5)));
        assert_eq!(o.retry(seq).as_deref(), Some("x"));
        assert_eq!(o.retry(seq), None, "not waiting for a retry any more");
        assert_eq!(o.failed(seq, &delays), Some(Duration::from_secs(15)));
        assert_eq!(o.retry(seq).as_deref(), Some("x"));
        assert_eq!(o.failed(seq, &delays), None);
        assert!(!o.is_busy());
        assert_eq!(o.failed(seq, &delays), None);
    }
}
