//! [`Balancer`]: which eligible worker gets the next connection
//! (`fd_passing`). Pure: it sees slots and open counts only.

use std::net::IpAddr;

use crate::config::BalancerKind;

/// One eligible worker: its slot and its open connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The worker's slot (0..num_workers).
    pub slot: usize,
    /// Its open connections.
    pub open: u64,
}

/// A balancer with its rotation state.
#[derive(Debug)]
pub struct Balancer {
    kind: BalancerKind,
    cursor: usize,
}

impl Balancer {
    /// A balancer of `kind`.
    pub fn new(kind: BalancerKind) -> Self {
        Self { kind, cursor: 0 }
    }

    /// The index in `candidates` (sorted by slot, all eligible) of the
    /// worker to use; `None` when there is none. `slots` is the listener's
    /// worker count; `peer` the client's IP (`None` on unix sockets).
    pub fn pick(
        &mut self,
        candidates: &[Candidate],
        slots: usize,
        peer: Option<IpAddr>,
    ) -> Option<usize> {
        if candidates.is_empty() {
            return None;
        }
        match (self.kind, peer) {
            (BalancerKind::LeastConnections, _) => Some(self.least(candidates)),
            (BalancerKind::IpHash, Some(ip)) => Some(by_hash(candidates, slots, ip)),
            (BalancerKind::RoundRobin | BalancerKind::IpHash, _) => {
                let at = self.cursor % candidates.len();
                self.cursor = self.cursor.wrapping_add(1);
                Some(at)
            }
        }
    }

    /// The fewest open connections; among equals, the next in turn.
    fn least(&mut self, candidates: &[Candidate]) -> usize {
        let min = candidates.iter().map(|c| c.open).min().unwrap_or(0);
        let len = candidates.len();
        let start = self.cursor % len;
        let at = (0..len)
            .map(|i| (start + i) % len)
            .find(|&i| candidates[i].open == min)
            .unwrap_or(start);
        self.cursor = at + 1;
        at
    }
}

/// The slot the client's IP hashes to, or the next eligible one after it.
fn by_hash(candidates: &[Candidate], slots: usize, ip: IpAddr) -> usize {
    let slots = slots.max(1);
    let target = usize::try_from(fnv1a(ip) % slots as u64).unwrap_or(0);
    candidates
        .iter()
        .position(|c| c.slot >= target)
        .unwrap_or(0)
}

/// FNV-1a over the address bytes: stable across runs (unlike std's
/// randomly seeded hasher), so a client keeps its slot over restarts.
fn fnv1a(ip: IpAddr) -> u64 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(open: &[u64]) -> Vec<Candidate> {
        open.iter()
            .enumerate()
            .map(|(slot, &open)| Candidate { slot, open })
            .collect()
    }

    #[test]
    fn least_connections_picks_the_minimum() {
        let mut b = Balancer::new(BalancerKind::LeastConnections);
        assert_eq!(b.pick(&cands(&[3, 1, 2]), 3, None), Some(1));
        assert_eq!(b.pick(&cands(&[0, 5, 5]), 3, None), Some(0));
        assert_eq!(b.pick(&cands(&[9, 9, 2]), 3, None), Some(2));
        assert_eq!(b.pick(&[], 3, None), None);
    }

    #[test]
    fn least_connections_ties_rotate() {
        let mut b = Balancer::new(BalancerKind::LeastConnections);
        let picks: Vec<_> = (0..6)
            .map(|_| b.pick(&cands(&[0, 0, 0]), 3, None).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        // Simulated load: counts stay balanced within one.
        let mut open = [0u64; 4];
        for _ in 0..41 {
            let i = b.pick(&cands(&open), 4, None).unwrap();
            open[i] += 1;
        }
        let (min, max) = (open.iter().min().unwrap(), open.iter().max().unwrap());
        assert!(max - min <= 1, "{open:?}");
    }

    #[test]
    fn round_robin_rotates_over_whoever_is_eligible() {
        let mut b = Balancer::new(BalancerKind::RoundRobin);
        let picks: Vec<_> = (0..5)
            .map(|_| b.pick(&cands(&[7, 0, 3]), 3, None).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1]);
    }

    #[test]
    fn ip_hash_is_stable_and_unix_peers_rotate() {
        let mut b = Balancer::new(BalancerKind::IpHash);
        let all = cands(&[0, 0, 0, 0]);
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let first = b.pick(&all, 4, Some(ip)).unwrap();
        for _ in 0..10 {
            assert_eq!(b.pick(&all, 4, Some(ip)), Some(first));
        }
        // Spread over slots: 64 addresses reach more than one slot.
        let slots: std::collections::BTreeSet<usize> = (0..64u8)
            .map(|i| b.pick(&all, 4, Some(IpAddr::from([10, 0, 0, i]))).unwrap())
            .collect();
        assert!(slots.len() > 1, "{slots:?}");
        // Its slot is gone: the next one after it, the same every time.
        let without: Vec<Candidate> = all.iter().copied().filter(|c| c.slot != first).collect();
        let other = b.pick(&without, 4, Some(ip)).unwrap();
        assert_ne!(without[other].slot, first);
        assert_eq!(b.pick(&without, 4, Some(ip)), Some(other));
        // No IP: in turn.
        let picks: Vec<_> = (0..4).map(|_| b.pick(&all, 4, None).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 3]);
    }
}
