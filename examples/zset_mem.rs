//! Heap of one large sorted set built as tools/gen-load.py's `bigzset`.
//! Usage: zset_mem [MEMBERS]
use logship::store::value::ZSet;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn allocated() -> usize {
    tikv_jemalloc_ctl::epoch::advance().unwrap();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap()
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(10_000_000, |s| s.parse().unwrap());
    let before = allocated();
    let mut z = ZSet::default();
    for e in 0..n {
        let score = ((e * 7919) % n) as f64;
        z.insert(format!("member:{e}").as_bytes(), score);
    }
    let after = allocated();
    println!(
        "members {} allocated {:.1} MiB, {:.1} bytes/member",
        z.len(),
        (after - before) as f64 / 1048576.0,
        (after - before) as f64 / n as f64
    );
}
