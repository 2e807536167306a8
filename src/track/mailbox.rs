//! A one-slot, newest-wins channel between live stages: a slow consumer always gets the most
//! recent item and the producer never blocks. Built on crossbeam-channel, whose receivers can be
//! cloned: the sender keeps one to take out the stale item when the slot is full.

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// The producing end of a newest-wins slot.
pub struct LatestSender<T> {
    tx: Sender<T>,
    stale: Receiver<T>,
}

/// Creates a newest-wins slot. Dropping the sender ends the receiver after it took the last item.
pub fn latest<T>() -> (LatestSender<T>, Receiver<T>) {
    let (tx, rx) = bounded(1);
    (
        LatestSender {
            tx,
            stale: rx.clone(),
        },
        rx,
    )
}

impl<T> LatestSender<T> {
    /// Puts `item` in the slot and returns the unconsumed item it replaced, if any.
    pub fn send(&self, item: T) -> Option<T> {
        let mut item = item;
        let mut replaced = None;
        loop {
            match self.tx.try_send(item) {
                Ok(()) => return replaced,
                Err(TrySendError::Full(back)) => {
                    item = back;
                    // The consumer may take it first; then the slot is free and nothing is lost.
                    if let Ok(old) = self.stale.try_recv() {
                        replaced = Some(old);
                    }
                }
                // Cannot happen while `stale` lives; nothing to deliver to.
                Err(TrySendError::Disconnected(_)) => return replaced,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_wins_and_replaced_items_are_returned() {
        let (tx, rx) = latest();
        assert_eq!(tx.send(1), None);
        assert_eq!(tx.send(2), Some(1));
        assert_eq!(rx.recv().ok(), Some(2));
        assert_eq!(tx.send(3), None);
        drop(tx);
        assert_eq!(rx.recv().ok(), Some(3));
        assert!(rx.recv().is_err());
    }
}
