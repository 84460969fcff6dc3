//! Which runtime a socket lives on: each runtime that serves sockets registers
//! as a "home" ([`register_current`]), and a socket remembers the home it was
//! created on, so that a fan-out can wake each runtime's sockets there ([`super::wake`]).

use std::cell::Cell;
use std::sync::Mutex;
use tokio::runtime::Handle;

/// Runtimes that registered, by home number. Only ever grows (a home per shard
/// thread started; tests start many nodes in one process).
static HOMES: Mutex<Vec<Handle>> = Mutex::new(Vec::new());

thread_local! {
    static HOME: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Register the calling thread's runtime as a home (anew on every call: a
/// thread may run several runtimes one after the other, as in tests). Call it on
/// the thread that runs a current-thread runtime serving sockets.
pub(crate) fn register_current() {
    let Ok(handle) = Handle::try_current() else {
        return;
    };
    let mut homes = HOMES.lock().unwrap_or_else(|p| p.into_inner());
    homes.push(handle);
    HOME.set(Some((homes.len() - 1) as u32));
}

/// The calling thread's home, if it registered one.
pub(crate) fn current() -> Option<u32> {
    HOME.get()
}

/// The runtime registered as `home`, if any.
pub(crate) fn handle(home: u32) -> Option<Handle> {
    let homes = HOMES.lock().unwrap_or_else(|p| p.into_inner());
    homes.get(home as usize).cloned()
}
