//! The open connections by uuid, so `tcp.Close(uuid)` can close one from
//! outside its task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio_util::sync::CancellationToken;

/// The live table of open connections: uuid -> the token that closes it.
#[derive(Clone, Default)]
pub struct Connections {
    map: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

impl Connections {
    /// Registers `uuid`; it is removed when the returned entry drops.
    pub(crate) fn insert(&self, uuid: String, close: CancellationToken) -> Entry {
        self.lock().insert(uuid.clone(), close);
        Entry {
            table: self.clone(),
            uuid,
        }
    }

    /// Closes the connection `uuid`; false when there is none (RoadRunner
    /// answers success either way).
    pub fn close(&self, uuid: &str) -> bool {
        match self.lock().remove(uuid) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's place in the table, removed on drop.
pub(crate) struct Entry {
    table: Connections,
    uuid: String,
}

impl Entry {
    pub(crate) fn uuid(&self) -> &str {
        &self.uuid
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.table.lock().remove(&self.uuid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_cancels_and_forgets() {
        let table = Connections::default();
        let token = CancellationToken::new();
        let entry = table.insert("a".into(), token.clone());
        assert_eq!(table.len(), 1);
        assert!(!table.close("b"));
        assert!(table.close("a"));
        assert!(token.is_cancelled());
        assert!(table.is_empty());
        drop(entry);
        assert!(table.is_empty());
    }

    #[test]
    fn dropping_the_entry_removes_it() {
        let table = Connections::default();
        let entry = table.insert("a".into(), CancellationToken::new());
        assert_eq!(entry.uuid(), "a");
        drop(entry);
        assert!(!table.close("a"));
    }
}
