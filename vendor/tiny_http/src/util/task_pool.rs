use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// Manages a collection of threads.
///
/// A new thread is created every time all the existing threads are full.
/// Any idle thread will automatically die after a few seconds.
pub struct TaskPool {
    sharing: Arc<Sharing>,
}

type Task = Box<dyn FnMut() + Send>;

struct Sharing {
    // tasks to be done, and how many worker threads wait for one; both under
    // one lock, so that `spawn` sees exactly how many waiting threads are not
    // already promised to a queued task
    state: Mutex<State>,

    // condvar that will be notified whenever a task is added to `todo`
    condvar: Condvar,

    // number of total worker threads running
    active_tasks: AtomicUsize,
}

struct State {
    todo: VecDeque<Task>,
    idle: usize,
}

/// Minimum number of active threads.
static MIN_THREADS: usize = 4;

struct Registration<'a> {
    nb: &'a AtomicUsize,
}

impl<'a> Registration<'a> {
    fn new(nb: &'a AtomicUsize) -> Registration<'a> {
        nb.fetch_add(1, Ordering::Release);
        Registration { nb }
    }
}

impl<'a> Drop for Registration<'a> {
    fn drop(&mut self) {
        self.nb.fetch_sub(1, Ordering::Release);
    }
}

impl TaskPool {
    pub fn new() -> TaskPool {
        let pool = TaskPool {
            sharing: Arc::new(Sharing {
                state: Mutex::new(State {
                    todo: VecDeque::new(),
                    idle: 0,
                }),
                condvar: Condvar::new(),
                active_tasks: AtomicUsize::new(0),
            }),
        };

        for _ in 0..MIN_THREADS {
            pool.add_thread(None)
        }

        pool
    }

    /// Executes a function in a thread.
    /// If no thread is available, spawns a new one.
    pub fn spawn(&self, code: Task) {
        let mut state = self.sharing.state.lock().unwrap();

        // A waiting thread that was notified for an earlier task still counts
        // as idle until it wakes up and takes it: only threads beyond the
        // queued tasks are free.
        if state.idle > state.todo.len() {
            state.todo.push_back(code);
            self.sharing.condvar.notify_one();
        } else {
            drop(state);
            self.add_thread(Some(code));
        }
    }

    fn add_thread(&self, initial_fn: Option<Task>) {
        let sharing = self.sharing.clone();

        thread::spawn(move || {
            let sharing = sharing;
            let _active_guard = Registration::new(&sharing.active_tasks);

            if let Some(mut f) = initial_fn {
                f();
            }

            loop {
                let mut task: Task = {
                    let mut state = sharing.state.lock().unwrap();

                    loop {
                        if let Some(poped_task) = state.todo.pop_front() {
                            break poped_task;
                        }

                        state.idle += 1;
                        let timed_out =
                            if sharing.active_tasks.load(Ordering::Acquire) <= MIN_THREADS {
                                state = sharing.condvar.wait(state).unwrap();
                                false
                            } else {
                                let (new_lock, waitres) = sharing
                                    .condvar
                                    .wait_timeout(state, Duration::from_millis(5000))
                                    .unwrap();
                                state = new_lock;
                                waitres.timed_out()
                            };
                        state.idle -= 1;

                        if timed_out && state.todo.is_empty() {
                            return;
                        }
                    }
                };

                task();
            }
        });
    }
}

impl Drop for TaskPool {
    fn drop(&mut self) {
        self.sharing
            .active_tasks
            .store(999_999_999, Ordering::Release);
        self.sharing.condvar.notify_all();
    }
}
