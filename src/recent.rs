//! Entries kept for a while, in two generations: the older is dropped whole when the newer has had
//! its time or is full, so memory follows recent visitors rather than everyone ever seen, with no
//! per-entry bookkeeping.

use std::collections::HashMap;

#[derive(Debug)]
pub struct Recent<V> {
    generation: i64,
    current: HashMap<u64, V>,
    previous: HashMap<u64, V>,
}

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Self {
            generation: 0,
            current: HashMap::new(),
            previous: HashMap::new(),
        }
    }
}

impl<V> Recent<V> {
    /// Moves to the generation of `period_s` seconds that `now` (unix seconds) falls in: entries
    /// then live between one and two periods.
    pub fn turn(&mut self, now: i64, period_s: i64) {
        let generation = now / period_s.max(1);
        if generation == self.generation {
            return;
        }
        if generation == self.generation + 1 {
            self.previous = std::mem::take(&mut self.current);
        } else {
            self.previous.clear();
            self.current.clear();
        }
        self.generation = generation;
    }

    /// Starts a new generation when the current one holds `capacity` entries: at most twice that
    /// are held.
    pub fn turn_when_full(&mut self, capacity: usize) {
        if self.current.len() >= capacity {
            // The dropped generation's table is kept for the next: no growing it again entry by entry.
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
        }
    }

    pub fn get(&self, key: u64) -> Option<&V> {
        self.current.get(&key).or_else(|| self.previous.get(&key))
    }

    /// Keeps `value` under `key` in the current generation (a key is in one generation at most).
    pub fn insert(&mut self, key: u64, value: V) {
        self.previous.remove(&key);
        self.current.insert(key, value);
    }

    pub fn remove(&mut self, key: u64) {
        self.previous.remove(&key);
        self.current.remove(&key);
    }

    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}
