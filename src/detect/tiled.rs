//! Small faces in large photos. A detector sees a whole photo shrunk to its input (BlazeFace:
//! 256 px), where a 100-px face of a 4000-px photo is 6 px and lost. [`TiledDetector`] also runs
//! it over overlapping tiles of a few times its input size, keeps each tile's faces whose centre
//! lies in the part of the tile no neighbour covers better, and merges everything with the same
//! weighted non-maximum suppression as one pass.
//!
//! Tiles overlap by half their side, so a face up to that wide lies whole in the tile that owns
//! its centre; a wider face is large enough for the whole-photo pass. The number of tiles is
//! bounded ([`TiledDetector::max_tiles`]): on a huge photo the tiles grow instead.

use image::{imageops, RgbImage};

use super::{weighted_nms, DetectError, Face, FaceDetector};

/// Starts of `tile`-long windows that cover `0..len`, evenly spread, neighbours sharing at least
/// `overlap`; `[0]` when one window covers it all.
pub fn window_starts(len: u32, tile: u32, overlap: u32) -> Vec<u32> {
    if len <= tile {
        return vec![0];
    }
    let stride = tile.saturating_sub(overlap).max(1);
    let windows = (len - overlap.min(len)).div_ceil(stride).max(2) as u64;
    (0..windows)
        .map(|i| (u64::from(len - tile) * i / (windows - 1)) as u32)
        .collect()
}

/// The part `[lo, hi)` of window `i` (of `starts`, each `tile` long, covering `0..len`) that it
/// owns: up to the middle of the stretch it shares with each neighbour.
pub fn owned_span(starts: &[u32], i: usize, tile: u32, len: u32) -> (f32, f32) {
    let middle = |a: u32, b: u32| (a as f32 + b as f32 + tile as f32) / 2.0;
    let lo = if i == 0 {
        0.0
    } else {
        middle(starts[i - 1], starts[i])
    };
    let hi = if i + 1 >= starts.len() {
        len as f32
    } else {
        middle(starts[i], starts[i + 1])
    };
    (lo, hi)
}

/// A detector run over the whole photo and, when the photo is larger than one tile, over
/// overlapping tiles too (see the module documentation).
pub struct TiledDetector<D> {
    inner: D,
    tile: u32,
    iou_threshold: f32,
    max_tiles: usize,
    last_runs: usize,
}

impl<D: FaceDetector> TiledDetector<D> {
    /// `inner` over tiles of `tile` pixels (at least 2), merging at `iou_threshold`.
    pub fn new(inner: D, tile: u32, iou_threshold: f32) -> Self {
        TiledDetector {
            inner,
            tile: tile.max(2),
            iou_threshold,
            max_tiles: 64,
            last_runs: 0,
        }
    }

    /// At most this many tiles per photo (default 64); beyond it the tiles grow by half until
    /// they fit.
    pub fn max_tiles(mut self, max_tiles: usize) -> Self {
        self.max_tiles = max_tiles.max(1);
        self
    }

    /// Detector runs spent on the last photo (1: no tiles were needed).
    pub fn last_runs(&self) -> usize {
        self.last_runs
    }

    /// The tile side and window starts (x, y) for a `width` x `height` photo.
    fn grid(&self, width: u32, height: u32) -> (u32, Vec<u32>, Vec<u32>) {
        let mut tile = self.tile;
        loop {
            let xs = window_starts(width, tile, tile / 2);
            let ys = window_starts(height, tile, tile / 2);
            if xs.len() * ys.len() <= self.max_tiles || tile >= width.max(height) {
                return (tile, xs, ys);
            }
            tile = tile.saturating_add(tile / 2);
        }
    }
}

impl<D: FaceDetector> FaceDetector for TiledDetector<D> {
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>, DetectError> {
        let mut faces = self.inner.detect(frame)?;
        self.last_runs = 1;
        let (width, height) = frame.dimensions();
        let (tile, xs, ys) = self.grid(width, height);
        if xs.len() * ys.len() <= 1 {
            return Ok(faces);
        }
        for (ix, &x) in xs.iter().enumerate() {
            let (x_lo, x_hi) = owned_span(&xs, ix, tile, width);
            for (iy, &y) in ys.iter().enumerate() {
                let (y_lo, y_hi) = owned_span(&ys, iy, tile, height);
                let view = imageops::crop_imm(frame, x, y, tile.min(width), tile.min(height));
                let found = self.inner.detect(&view.to_image())?;
                self.last_runs += 1;
                for mut face in found {
                    let (dx, dy) = (x as f32, y as f32);
                    face.bbox = [
                        face.bbox[0] + dx,
                        face.bbox[1] + dy,
                        face.bbox[2] + dx,
                        face.bbox[3] + dy,
                    ];
                    face.keypoints.iter_mut().for_each(|p| {
                        p[0] += dx;
                        p[1] += dy;
                    });
                    let cx = (face.bbox[0] + face.bbox[2]) / 2.0;
                    let cy = (face.bbox[1] + face.bbox[3]) / 2.0;
                    if (x_lo..x_hi).contains(&cx) && (y_lo..y_hi).contains(&cy) {
                        faces.push(face);
                    }
                }
            }
        }
        log::info!(
            "{width}x{height} photo: detector over the whole photo and {} tile(s) of {tile} px",
            self.last_runs - 1
        );
        Ok(weighted_nms(faces, self.iou_threshold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_length_with_the_overlap_asked_for() {
        assert_eq!(window_starts(800, 1024, 512), vec![0]);
        assert_eq!(window_starts(1024, 1024, 512), vec![0]);
        for (len, tile, overlap) in [
            (4000, 1024, 512),
            (1500, 1024, 512),
            (1025, 1024, 512),
            (3000, 512, 256),
        ] {
            let starts = window_starts(len, tile, overlap);
            assert_eq!(starts[0], 0);
            assert_eq!(starts.last().copied(), Some(len - tile), "{len}");
            for pair in starts.windows(2) {
                assert!(pair[0] + tile >= pair[1] + overlap, "{len}: {starts:?}");
            }
        }
        assert_eq!(window_starts(4000, 1024, 512).len(), 7);
    }

    #[test]
    fn owned_spans_split_the_length_and_keep_a_half_overlap_margin() {
        let (len, tile) = (4000, 1024);
        let starts = window_starts(len, tile, tile / 2);
        let mut edge = 0.0;
        for i in 0..starts.len() {
            let (lo, hi) = owned_span(&starts, i, tile, len);
            assert_eq!(lo, edge, "spans meet");
            edge = hi;
            let (first, last) = (i == 0, i + 1 == starts.len());
            // a face up to tile/2 wide centred in the owned span lies inside the window
            if !first {
                assert!(lo - starts[i] as f32 >= (tile / 4) as f32);
            }
            if !last {
                assert!((starts[i] + tile) as f32 - hi >= (tile / 4) as f32);
            }
        }
        assert_eq!(edge, len as f32);
    }
}
