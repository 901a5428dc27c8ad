//! Realtime scheduling for the threads a call's timing depends on.
//!
//! A sound server asks for the next buffer and waits a few milliseconds for
//! it. On a busy machine (a build, a training run, another call) a thread of
//! the normal class can wait longer than that for a core, and the listener
//! hears the gap as an underrun even though the codec kept up on average.
//! Audio servers and their clients ask the kernel for a realtime class for
//! that reason (PulseAudio and PipeWire through rtkit, JACK directly); a call
//! does the same for its two codec threads and for every thread the audio
//! backend starts. The backend's threads are not ours to name: cpal's
//! PulseAudio host runs the callbacks on its protocol thread and takes a
//! lock shared with a timing thread, so promoting the callback's thread alone
//! leaves it waiting on a normal-class thread (priority inversion). Opening
//! the device from a realtime thread makes all of them inherit the class.
//!
//! The request can be refused: a user without `CAP_SYS_NICE` or an `rtprio`
//! limit gets `EPERM`. The call then goes on at normal priority and says so
//! once.

use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::Relaxed;

/// What a thread does, which sets how urgent it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadRole {
    /// The audio backend's threads, the device callbacks among them: a few
    /// microseconds of copying against a hard deadline.
    Device,
    /// An encoder or decoder thread: about a millisecond of work every 20 ms
    /// frame, with a ring of slack before the deadline, so below the callbacks.
    Codec,
}

impl ThreadRole {
    /// SCHED_FIFO priorities: below PulseAudio's own (5 by default, rtkit's
    /// ceiling for clients is near it), above every normal thread.
    fn priority(self) -> i32 {
        match self {
            ThreadRole::Device => 4,
            ThreadRole::Codec => 2,
        }
    }
}

/// Moves the calling thread to the realtime (SCHED_FIFO) class; the OS error
/// number on refusal.
fn promote_current_thread(role: ThreadRole) -> Result<(), i32> {
    #[cfg(unix)]
    {
        let param = libc::sched_param { sched_priority: role.priority() };
        // SAFETY: pthread_self() is always a valid handle for the calling thread,
        // and `param` outlives the call.
        let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if rc == 0 {
            Ok(())
        } else {
            Err(rc)
        }
    }
    #[cfg(not(unix))]
    {
        let _ = role;
        Err(0)
    }
}

/// Runs `open` with the calling thread realtime, so every thread it starts
/// (an audio backend's) inherits the class, then puts the caller back in its
/// own class.
pub fn opening_realtime<T>(role: ThreadRole, refusal: &Refusal, open: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    {
        let mut policy = 0;
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: the handle is the calling thread's and both out-pointers are valid.
        let saved = unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) } == 0;
        refusal.promote(role);
        let result = open();
        if saved {
            // SAFETY: as above; `param` is what pthread_getschedparam gave.
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), policy, &param) };
        }
        result
    }
    #[cfg(not(unix))]
    {
        refusal.promote(role);
        open()
    }
}

/// The first refusal any thread of a call met (an OS error number), for the
/// control thread to report. Zero while none was refused.
#[derive(Debug, Default)]
pub struct Refusal(AtomicI32);

impl Refusal {
    /// Tries to promote the calling thread, remembering a refusal.
    pub fn promote(&self, role: ThreadRole) {
        if let Err(errno) = promote_current_thread(role) {
            let _ = self.0.compare_exchange(0, errno.max(1), Relaxed, Relaxed);
        }
    }

    /// A one-line explanation of the refusal, if there was one.
    pub fn message(&self) -> Option<String> {
        match self.0.load(Relaxed) {
            0 => None,
            errno => Some(format!(
                "realtime scheduling was refused ({}); the call runs at normal priority and may \
                 underrun while the machine is busy (grant an rtprio limit or CAP_SYS_NICE, or \
                 pass --no-realtime to skip the request)",
                std::io::Error::from_raw_os_error(errno)
            )),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn class_of_current_thread() -> (i32, i32) {
        let mut policy = 0;
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: the calling thread's handle and two valid out-pointers.
        let rc = unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
        assert_eq!(rc, 0);
        (policy, param.sched_priority)
    }

    #[test]
    fn threads_started_while_opening_inherit_realtime_and_the_opener_gets_its_class_back() {
        let before = class_of_current_thread();
        let refusal = Refusal::default();
        let child = opening_realtime(ThreadRole::Device, &refusal, || {
            std::thread::spawn(class_of_current_thread).join().expect("thread")
        });
        assert_eq!(class_of_current_thread(), before, "the opening thread keeps its own class");
        match refusal.message() {
            None => assert_eq!(child, (libc::SCHED_FIFO, ThreadRole::Device.priority())),
            Some(message) => {
                assert_eq!(child, before, "refused: nothing changes");
                assert!(message.contains("--no-realtime"), "{message}");
            }
        }
    }
}
