//! Row-major pixel memory shared by the in-memory canvas and the framebuffer's back buffer: the
//! clipped fast paths behind their `DrawTarget::fill_solid` and `fill_contiguous`, which write
//! whole rows instead of going through `draw_iter` one pixel at a time.

use embedded_graphics::prelude::{Point, Size};
use embedded_graphics::primitives::Rectangle;

/// `width` x `height` pixels of `N` bytes each, rows `stride` bytes apart, in `buf`. Pixels outside
/// it are ignored (never a panic), as `DrawTarget` requires.
pub(super) struct Raster<'a, const N: usize> {
    buf: &'a mut [u8],
    width: usize,
    height: usize,
    stride: usize,
}

impl<'a, const N: usize> Raster<'a, N> {
    /// A view of `buf`. The size is reduced to what `buf` and `stride` hold (rows that do not fit
    /// in `buf`, columns beyond `stride`), so every visible pixel lies inside `buf`.
    pub(super) fn new(buf: &'a mut [u8], width: u32, height: u32, stride: usize) -> Self {
        let width = (width as usize).min(stride / N.max(1));
        let rows = buf.len().checked_div(stride).unwrap_or(0);
        let height = (height as usize).min(rows);
        Self {
            buf,
            width,
            height,
            stride,
        }
    }

    /// The visible area.
    fn bounding_box(&self) -> Rectangle {
        // Sizes come from u32 values, so they fit back.
        Rectangle::new(
            Point::zero(),
            Size::new(self.width as u32, self.height as u32),
        )
    }

    /// Byte offset of a visible pixel.
    fn offset(&self, x: usize, y: usize) -> usize {
        y * self.stride + x * N
    }

    /// Sets one pixel; `p` outside the raster is ignored.
    pub(super) fn put(&mut self, p: Point, pixel: [u8; N]) {
        let (Ok(x), Ok(y)) = (usize::try_from(p.x), usize::try_from(p.y)) else {
            return;
        };
        if x < self.width && y < self.height {
            let at = self.offset(x, y);
            self.buf[at..at + N].copy_from_slice(&pixel);
        }
    }

    /// Fills `area` (clipped to the raster) with one pixel value: the first visible row is
    /// written, the others are copies of it; a full-width area is one contiguous run.
    pub(super) fn fill_solid(&mut self, area: &Rectangle, pixel: [u8; N]) {
        let clip = area.intersection(&self.bounding_box());
        if clip.is_zero_sized() {
            return;
        }
        // Inside the bounding box: non-negative and within width/height.
        let (x, y) = (clip.top_left.x as usize, clip.top_left.y as usize);
        let (w, h) = (clip.size.width as usize, clip.size.height as usize);
        let row = w * N;
        let first = self.offset(x, y);
        if row == self.stride {
            fill_pattern(&mut self.buf[first..first + h * row], pixel);
            return;
        }
        fill_pattern(&mut self.buf[first..first + row], pixel);
        for r in 1..h {
            self.buf
                .copy_within(first..first + row, first + r * self.stride);
        }
    }

    /// Fills `area` with `colors` (one per point of the whole `area`, row-major, as
    /// `DrawTarget::fill_contiguous` defines them), encoded by `encode`. Colours of clipped points
    /// are skipped, not drawn; a short iterator leaves the rest of the area untouched.
    pub(super) fn fill_contiguous<C, I, E>(&mut self, area: &Rectangle, colors: I, encode: E)
    where
        I: IntoIterator<Item = C>,
        E: Fn(C) -> [u8; N],
    {
        let clip = area.intersection(&self.bounding_box());
        if clip.is_zero_sized() {
            return;
        }
        // Colours per area row, and those left and right of the visible part of a row. The clip
        // lies inside `area`, so the differences are non-negative (i64: no overflow at i32 edges).
        let area_w = u64::from(area.size.width);
        let left = (i64::from(clip.top_left.x) - i64::from(area.top_left.x)) as u64;
        let right = area_w - left - u64::from(clip.size.width);
        let above = (i64::from(clip.top_left.y) - i64::from(area.top_left.y)) as u64;
        // Colours are only taken with `next` in inlined code (see `skip`), so the pixel loops
        // below keep the iterator's state in registers.
        let mut colors = colors.into_iter();
        let first_skip = above * area_w + left;
        if first_skip > 0 && !skip(&mut colors, first_skip) {
            return;
        }
        let (x, y) = (clip.top_left.x as usize, clip.top_left.y as usize);
        let (w, h) = (clip.size.width as usize, clip.size.height as usize);
        let first = self.offset(x, y);
        if left == 0 && right == 0 && w * N == self.stride {
            // Whole rows, back to back: one run of pixels.
            let dst = self.buf[first..first + h * w * N].chunks_exact_mut(N);
            for (dst, c) in dst.zip(colors) {
                dst.copy_from_slice(&encode(c));
            }
        } else {
            // Row by row, dropping the colours right of this row's visible part and left of the
            // next's (if columns are clipped) in between.
            let gap = left + right;
            for r in 0..h {
                if r > 0 && !skip(&mut colors, gap) {
                    return;
                }
                let at = first + r * self.stride;
                let dst = self.buf[at..at + w * N].chunks_exact_mut(N);
                let mut written = 0;
                for (dst, c) in dst.zip(&mut colors) {
                    dst.copy_from_slice(&encode(c));
                    written += 1;
                }
                if written < w {
                    return;
                }
            }
        }
    }
}

/// Drops `n` items; false when the iterator ran out first. A `next` loop, not `nth`: `nth` may
/// not be inlined, and an iterator whose address escapes into a call is kept in memory, not in
/// registers, by the callers' pixel loops.
fn skip<I: Iterator>(it: &mut I, n: u64) -> bool {
    for _ in 0..n {
        if it.next().is_none() {
            return false;
        }
    }
    true
}

/// Repeats `pixel` over `dst` (a whole number of pixels): a byte fill when all bytes are equal
/// (black, white, greys), else one pixel written and the filled part doubled until `dst` is full.
fn fill_pattern<const N: usize>(dst: &mut [u8], pixel: [u8; N]) {
    if pixel.iter().all(|&b| b == pixel[0]) {
        dst.fill(pixel[0]);
        return;
    }
    let Some(head) = dst.get_mut(..N) else {
        return;
    };
    head.copy_from_slice(&pixel);
    let mut filled = N;
    while filled < dst.len() {
        let n = filled.min(dst.len() - filled);
        dst.copy_within(..n, filled);
        filled += n;
    }
}
