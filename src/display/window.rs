//! A desktop window for development (feature `simulator`, needs SDL2): the live output in an
//! embedded-graphics-simulator window.

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::Size;
use embedded_graphics_simulator::{OutputSettings, SimulatorDisplay, SimulatorEvent, Window};
use image::RgbImage;

use super::{render, DisplayError, DisplaySink, Overlay};

/// See the module documentation. The window opens at the first frame's size.
pub struct WindowDisplay {
    state: Option<(SimulatorDisplay<Rgb888>, Window)>,
}

impl WindowDisplay {
    /// A window that opens on the first frame.
    pub fn new() -> Self {
        Self { state: None }
    }
}

impl Default for WindowDisplay {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: the SDL window is created lazily by the first `show`, which the live loop calls on the
// display thread it moved this sink to; the window is then never touched from another thread.
unsafe impl Send for WindowDisplay {}

impl DisplaySink for WindowDisplay {
    fn show(&mut self, frame: &RgbImage, overlay: &Overlay) -> Result<(), DisplayError> {
        let (display, window) = self.state.get_or_insert_with(|| {
            (
                SimulatorDisplay::new(Size::new(frame.width(), frame.height())),
                Window::new("daefr run", &OutputSettings::default()),
            )
        });
        let Ok(()) = render(display, frame, overlay);
        window.update(display);
        if window.events().any(|e| matches!(e, SimulatorEvent::Quit)) {
            return Err(DisplayError::Closed);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "desktop window (embedded-graphics-simulator)".into()
    }
}
