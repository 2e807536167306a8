//! `[display]` to the display layer's own options: the display code never sees the profile schema,
//! and a schema change (a renamed field, a new default) stops here.

use crate::display::{DisplayOptions, OnMissing, SinkKind};

use super::{DisplayConfig, DisplayKind, OnMissingDisplay};

impl From<DisplayKind> for SinkKind {
    fn from(kind: DisplayKind) -> Self {
        match kind {
            DisplayKind::Framebuffer => SinkKind::Framebuffer,
            DisplayKind::Window => SinkKind::Window,
            DisplayKind::Png => SinkKind::Png,
            DisplayKind::None => SinkKind::None,
        }
    }
}

impl From<OnMissingDisplay> for OnMissing {
    fn from(on_missing: OnMissingDisplay) -> Self {
        match on_missing {
            OnMissingDisplay::Headless => OnMissing::Headless,
            OnMissingDisplay::Exit => OnMissing::Exit,
        }
    }
}

impl From<&DisplayConfig> for DisplayOptions {
    fn from(config: &DisplayConfig) -> Self {
        DisplayOptions {
            kind: config.kind.into(),
            device: config.device.clone(),
            png_dir: config.png_dir.clone(),
            png_every: config.png_every,
            png_keep: config.png_keep,
            on_missing: config.on_missing.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    #[test]
    fn every_field_and_variant_carries_over() {
        let kinds = [
            (DisplayKind::Framebuffer, SinkKind::Framebuffer),
            (DisplayKind::Window, SinkKind::Window),
            (DisplayKind::Png, SinkKind::Png),
            (DisplayKind::None, SinkKind::None),
        ];
        let on_missing = [
            (OnMissingDisplay::Headless, OnMissing::Headless),
            (OnMissingDisplay::Exit, OnMissing::Exit),
        ];
        for (kind, sink) in kinds {
            for (missing, expected) in on_missing {
                let config = DisplayConfig {
                    kind,
                    device: PathBuf::from("/dev/fb1"),
                    png_dir: Some(PathBuf::from("/tmp/snaps")),
                    png_every: 7,
                    png_keep: 9,
                    on_missing: missing,
                };
                assert_eq!(
                    DisplayOptions::from(&config),
                    DisplayOptions {
                        kind: sink,
                        device: PathBuf::from("/dev/fb1"),
                        png_dir: Some(PathBuf::from("/tmp/snaps")),
                        png_every: 7,
                        png_keep: 9,
                        on_missing: expected,
                    }
                );
            }
        }
    }

    #[test]
    fn defaults_convert_to_the_framebuffer_with_headless_fallback() {
        let options = DisplayOptions::from(&DisplayConfig::default());
        assert_eq!(options.kind, SinkKind::Framebuffer);
        assert_eq!(options.device, Path::new("/dev/fb0"));
        assert_eq!(options.png_dir, None);
        assert_eq!(options.on_missing, OnMissing::Headless);
    }
}
