//! The host side of the guest's world: WASI preview 1 and nothing else.
//!
//! The linker holds wasmtime-wasi's preview 1 functions with one function replaced:
//! `poll_oneoff`, the only WASI call that can block for a guest-chosen time (wasmtime's epoch
//! deadline cannot interrupt a host call). The replacement reads the subscriptions first; if
//! the call could only return after a clock fires past the run's deadline, the guest is
//! stopped with a time-limit error at once instead of holding the thread. Otherwise it calls
//! wasmtime-wasi's own implementation exactly as wasmtime-wasi's generated linker glue does
//! (`wasmtime_wasi::p1::wasi_snapshot_preview1::poll_oneoff` on the guest's memory, driven by
//! `wasmtime_wasi::runtime::in_tokio`); that path is public but generated, so the
//! `sleeping_*` tests pin its behaviour when wasmtime is upgraded. Each run gets its own
//! [`WasiP1Ctx`]: captured stdio, the request's args and env, real clocks and randomness, no
//! preopened directories, no sockets, nothing inherited from the host.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use wasmtime::{AsContextMut, Caller, Engine, Extern, InstancePre, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{HostMonotonicClock, WasiCtxBuilder};

use crate::limits::ARGV0;
use crate::output::CappedOutput;
use crate::run::RunState;

/// The only import module guests may use.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";
const POLL_ONEOFF: &str = "poll_oneoff";

/// Size of a WASI preview 1 `subscription` record in guest memory.
const SUBSCRIPTION_SIZE: usize = 48;
/// Offsets inside a `subscription`: the union tag, then the clock payload.
const TAG_OFFSET: usize = 8;
const CLOCK_ID_OFFSET: usize = 16;
const CLOCK_TIMEOUT_OFFSET: usize = 24;
const CLOCK_FLAGS_OFFSET: usize = 40;
const TAG_CLOCK: u8 = 0;
const CLOCKID_REALTIME: u32 = 0;
const CLOCKID_MONOTONIC: u32 = 1;
const SUBSCRIPTION_CLOCK_ABSTIME: u16 = 1;

/// The guest's `poll_oneoff` would sleep past the run's deadline.
#[derive(Debug, thiserror::Error)]
#[error("poll_oneoff would sleep past the time limit")]
pub(crate) struct SleepPastDeadline;

/// The linker of one runtime and the set of imports it provides.
pub(crate) struct GuestLinker {
    /// What guests are linked against: WASI preview 1 with the guarded `poll_oneoff`.
    linker: Linker<RunState>,
    /// Every `(module, name)` guests may import.
    known: HashSet<(String, String)>,
}

impl GuestLinker {
    /// Builds the linker for `engine`.
    pub(crate) fn new(engine: &Engine) -> wasmtime::Result<GuestLinker> {
        let mut guest = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut guest, |state: &mut RunState| &mut state.wasi)?;
        guest.allow_shadowing(true);
        guest.func_wrap(WASI_MODULE, POLL_ONEOFF, guarded_poll_oneoff)?;
        guest.allow_shadowing(false);

        let mut store = Store::new(engine, RunState::placeholder());
        let known = guest
            .iter(&mut store)
            .map(|(module, name, _)| (module.to_owned(), name.to_owned()))
            .collect();
        Ok(GuestLinker {
            linker: guest,
            known,
        })
    }

    /// Links `module` once, so each run only instantiates it.
    pub(crate) fn instantiate_pre(
        &self,
        module: &Module,
    ) -> wasmtime::Result<InstancePre<RunState>> {
        self.linker.instantiate_pre(module)
    }

    /// Whether guests may import `module::name`.
    pub(crate) fn provides(&self, module: &str, name: &str) -> bool {
        self.known.contains(&(module.to_owned(), name.to_owned()))
    }
}

/// The per-run WASI context: the request's inputs, captured outputs, the run's clock.
pub(crate) fn context(
    stdin: Vec<u8>,
    args: &[String],
    env: &[(String, String)],
    stdout: &CappedOutput,
    stderr: &CappedOutput,
    clock_origin: Instant,
) -> WasiP1Ctx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdin(MemoryInputPipe::new(stdin))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .arg(ARGV0)
        .args(args)
        .envs(env)
        .monotonic_clock(RunClock {
            origin: clock_origin,
        })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder.build_p1()
}

/// The guest's monotonic clock: nanoseconds since the run started. Owning the origin lets the
/// `poll_oneoff` guard turn absolute monotonic deadlines into durations.
struct RunClock {
    origin: Instant,
}

impl HostMonotonicClock for RunClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        nanos(self.origin.elapsed())
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// `poll_oneoff` with the deadline check in front of the real one.
fn guarded_poll_oneoff(
    mut caller: Caller<'_, RunState>,
    subscriptions: i32,
    events: i32,
    count: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(wasmtime::format_err!("missing required memory export"));
    };
    let sleep = forced_sleep(
        memory.data(&caller),
        subscriptions as u32 as usize,
        count as u32 as usize,
        caller.data().clock_origin,
    );
    if let Some(sleep) = sleep {
        let remaining = caller
            .data()
            .deadline
            .saturating_duration_since(Instant::now());
        if sleep > remaining {
            caller.data_mut().slept_past_deadline = true;
            return Err(wasmtime::Error::new(SleepPastDeadline));
        }
    }
    // What wasmtime-wasi's generated glue does for every preview 1 call.
    let fuel = caller.as_context_mut().hostcall_fuel();
    let (data, state) = memory.data_and_store_mut(&mut caller);
    state.wasi.set_hostcall_fuel(fuel);
    let mut guest_memory = wiggle::GuestMemory::Unshared(data);
    let errno = wasmtime_wasi::runtime::in_tokio(p1::poll_oneoff(
        &mut state.wasi,
        &mut guest_memory,
        subscriptions,
        events,
        count,
        nevents,
    ))?;
    Ok(errno)
}

/// How long a `poll_oneoff` over these subscriptions must wait before it can return, when
/// that is decided by clocks alone: `Some` only if every subscription is a realtime or
/// monotonic clock (fd subscriptions on Kiln's in-memory stdio are ready at once, and anything
/// malformed is left to WASI to reject).
fn forced_sleep(memory: &[u8], base: usize, count: usize, origin: Instant) -> Option<Duration> {
    if count == 0 {
        return None;
    }
    let end = base.checked_add(count.checked_mul(SUBSCRIPTION_SIZE)?)?;
    let records = memory.get(base..end)?;
    let mut shortest = u64::MAX;
    for record in records.chunks_exact(SUBSCRIPTION_SIZE) {
        if *record.get(TAG_OFFSET)? != TAG_CLOCK {
            return None;
        }
        let id = u32::from_le_bytes(
            record
                .get(CLOCK_ID_OFFSET..CLOCK_ID_OFFSET + 4)?
                .try_into()
                .ok()?,
        );
        let timeout = u64::from_le_bytes(
            record
                .get(CLOCK_TIMEOUT_OFFSET..CLOCK_TIMEOUT_OFFSET + 8)?
                .try_into()
                .ok()?,
        );
        let flags = u16::from_le_bytes(
            record
                .get(CLOCK_FLAGS_OFFSET..CLOCK_FLAGS_OFFSET + 2)?
                .try_into()
                .ok()?,
        );
        let absolute = flags & SUBSCRIPTION_CLOCK_ABSTIME != 0;
        let wait = match (id, absolute) {
            (CLOCKID_REALTIME | CLOCKID_MONOTONIC, false) => timeout,
            (CLOCKID_MONOTONIC, true) => timeout.saturating_sub(nanos(origin.elapsed())),
            (CLOCKID_REALTIME, true) => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(nanos)
                    .unwrap_or(0);
                timeout.saturating_sub(now)
            }
            _ => return None,
        };
        shortest = shortest.min(wait);
    }
    Some(Duration::from_nanos(shortest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_sub(id: u32, timeout: u64, flags: u16) -> Vec<u8> {
        let mut record = vec![0u8; SUBSCRIPTION_SIZE];
        record[TAG_OFFSET] = TAG_CLOCK;
        record[CLOCK_ID_OFFSET..CLOCK_ID_OFFSET + 4].copy_from_slice(&id.to_le_bytes());
        record[CLOCK_TIMEOUT_OFFSET..CLOCK_TIMEOUT_OFFSET + 8]
            .copy_from_slice(&timeout.to_le_bytes());
        record[CLOCK_FLAGS_OFFSET..CLOCK_FLAGS_OFFSET + 2].copy_from_slice(&flags.to_le_bytes());
        record
    }

    #[test]
    fn the_shortest_clock_decides() {
        let mut memory = vec![0u8; 8];
        memory.extend(clock_sub(CLOCKID_MONOTONIC, 5_000_000_000, 0));
        memory.extend(clock_sub(CLOCKID_REALTIME, 2_000_000_000, 0));
        let sleep = forced_sleep(&memory, 8, 2, Instant::now());
        assert_eq!(sleep, Some(Duration::from_secs(2)));
    }

    #[test]
    fn an_absolute_monotonic_deadline_counts_from_the_run_start() {
        let memory = clock_sub(
            CLOCKID_MONOTONIC,
            3_600_000_000_000,
            SUBSCRIPTION_CLOCK_ABSTIME,
        );
        let sleep = forced_sleep(&memory, 0, 1, Instant::now());
        assert!(sleep.is_some_and(|s| s > Duration::from_secs(3_500)));
    }

    #[test]
    fn fd_subscriptions_and_bad_records_are_left_to_wasi() {
        let mut fd_read = clock_sub(CLOCKID_MONOTONIC, 1, 0);
        fd_read[TAG_OFFSET] = 1;
        assert_eq!(forced_sleep(&fd_read, 0, 1, Instant::now()), None);
        let clock = clock_sub(CLOCKID_MONOTONIC, 1, 0);
        assert_eq!(forced_sleep(&clock, 0, 0, Instant::now()), None);
        assert_eq!(forced_sleep(&clock, 8, 1, Instant::now()), None);
        assert_eq!(forced_sleep(&clock, usize::MAX, 1, Instant::now()), None);
        let cputime = clock_sub(2, 1, 0);
        assert_eq!(forced_sleep(&cputime, 0, 1, Instant::now()), None);
    }
}
