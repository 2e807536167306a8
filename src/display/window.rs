//! A desktop window for development (feature `simulator`, needs SDL2): the live output in an
//! embedded-graphics-simulator window.
//!
//! SDL handles are not `Send`, while a [`DisplaySink`] must be. So the window lives on a thread of
//! its own, started at the first frame: `show` composes the frame into a `SimulatorDisplay` (plain
//! pixels) on the caller's thread and hands it over a channel; the window thread presents it and
//! watches for the window being closed. No `unsafe` is needed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::Size;
use embedded_graphics_simulator::{OutputSettings, SimulatorDisplay, SimulatorEvent, Window};
use image::RgbImage;

use super::{render, DisplayError, DisplaySink, Overlay};

/// See the module documentation. The window opens at the first frame's size.
pub struct WindowDisplay {
    thread: Option<WindowThread>,
}

/// The thread that owns the SDL window.
struct WindowThread {
    /// Composed frames to present; one may wait while the previous one is shown.
    frames: SyncSender<SimulatorDisplay<Rgb888>>,
    /// Set by the thread when the user closed the window.
    closed: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl WindowThread {
    fn spawn() -> Result<Self, DisplayError> {
        let (frames, incoming) = mpsc::sync_channel::<SimulatorDisplay<Rgb888>>(1);
        let closed = Arc::new(AtomicBool::new(false));
        let closed_by_user = Arc::clone(&closed);
        let handle = thread::Builder::new()
            .name("daefr-window".into())
            .spawn(move || {
                let mut window = Window::new("daefr run", &OutputSettings::default());
                // Ends when the sink is dropped (the sender goes) or the window is closed.
                for display in incoming {
                    window.update(&display);
                    if window.events().any(|e| matches!(e, SimulatorEvent::Quit)) {
                        closed_by_user.store(true, Ordering::Release);
                        break;
                    }
                }
            })
            .map_err(|e| DisplayError::Open {
                path: "window".into(),
                problem: format!("cannot start the window thread: {e}"),
            })?;
        Ok(Self {
            frames,
            closed,
            handle,
        })
    }
}

impl WindowDisplay {
    /// A window that opens on the first frame.
    pub fn new() -> Self {
        Self { thread: None }
    }
}

impl Default for WindowDisplay {
    fn default() -> Self {
        Self::new()
    }
}

impl DisplaySink for WindowDisplay {
    fn show(&mut self, frame: &RgbImage, overlay: &Overlay) -> Result<(), DisplayError> {
        let mut display = SimulatorDisplay::new(Size::new(frame.width(), frame.height()));
        let Ok(()) = render(&mut display, frame, overlay);
        let thread = match &mut self.thread {
            Some(thread) => thread,
            None => self.thread.insert(WindowThread::spawn()?),
        };
        if thread.frames.send(display).is_ok() {
            return Ok(());
        }
        // The thread is gone: the user closed the window, or SDL failed (its panic is logged).
        if thread.closed.load(Ordering::Acquire) {
            Err(DisplayError::Closed)
        } else {
            Err(DisplayError::Write {
                path: "window".into(),
                problem: "the window thread stopped (SDL error)".into(),
            })
        }
    }

    fn describe(&self) -> String {
        "desktop window (embedded-graphics-simulator)".into()
    }
}

impl Drop for WindowDisplay {
    fn drop(&mut self) {
        if let Some(WindowThread { frames, handle, .. }) = self.thread.take() {
            // Closing the channel ends the thread's loop; wait so the window closes with the sink.
            drop(frames);
            let _ = handle.join();
        }
    }
}
