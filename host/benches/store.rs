//! How long the store's lock is held by what runs beside the sessions'
//! writes: a commit of one batch of per-message writes, and one chunk of
//! the retention's pruning. The sessions' writes run on the async threads
//! and wait for that lock, so these are the longest an async thread waits
//! on the database.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::store::Store;

fn store() -> (tempfile::TempDir, Store, i64) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("bench.db")).expect("a store");
    let user = store.upsert_user("gw", "u@x", &[]).expect("a user");
    let contact = store
        .insert_contact(user.id, "c0", "c0")
        .expect("a contact");
    (dir, store, contact)
}

/// A commit after 64 echoes' writes (two id-map rows each).
fn commit(c: &mut Criterion) {
    let (_dir, store, contact) = store();
    let mut n = 0u64;
    c.bench_function("store/commit_of_64_echoes", |b| {
        b.iter_custom(|iters| {
            let mut held = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..64 {
                    n += 1;
                    store
                        .map_message(contact, &format!("l{n}"), &format!("x{n}"), true)
                        .expect("a write");
                    store
                        .map_message(contact, &format!("m{n}"), &format!("y{n}"), false)
                        .expect("a write");
                }
                let start = Instant::now();
                store.commit().expect("a commit");
                held += start.elapsed();
            }
            held
        })
    });
}

/// One chunk (1000 rows) of the id map's pruning, with its commit.
fn prune_chunk(c: &mut Criterion) {
    let (_dir, store, contact) = store();
    let mut n = 0u64;
    c.bench_function("store/prune_of_1000_messages", |b| {
        b.iter_custom(|iters| {
            let mut held = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..1000 {
                    n += 1;
                    store
                        .map_message(contact, &format!("l{n}"), &format!("x{n}"), true)
                        .expect("a write");
                }
                store.commit().expect("a commit");
                let start = Instant::now();
                // No retention: the pass takes the chunk there is.
                let pruned = store.prune(0, Duration::ZERO).expect("a pass");
                held += start.elapsed();
                assert_eq!(pruned.messages, 1000);
            }
            held
        })
    });
}

criterion_group!(
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = commit, prune_chunk
);
criterion_main!(benches);
