//! BlazeFace (MediaPipe's face detector, short- and long-range) run by tract.
//!
//! Facts about the bundled ONNX files (checked with onnxruntime and tract, see models/blazeface/README.md):
//! input `[1, S, S, 3]` NHWC float RGB in `[-1, 1]` (S = 128 or 256); four outputs, found here by
//! shape: scores `[1, 512, 1]` and `[1, 384, 1]` (logits), regressors `[1, 512, 16]` and
//! `[1, 384, 16]`: box centre offset, box size, then six keypoint offsets, all in input pixels
//! relative to the anchor centre.

use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::RgbImage;
use tract_onnx::prelude::*;

use super::{DetectError, FaceDetector};
use crate::geometry::{weighted_nms, Anchor, AnchorLayer, Face};
use crate::runner::PlanRunner;

/// Results of this module carry a [`DetectError`].
type Result<T, E = DetectError> = std::result::Result<T, E>;

/// Values per anchor in the regressor outputs: box (4) + 6 keypoints (12).
const REGRESSORS: usize = 16;

/// Detection thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorOptions {
    /// Minimum face probability (after the sigmoid) for an anchor to count. MediaPipe uses 0.5.
    pub score_threshold: f32,
    /// IoU from which two detections are merged into one (MediaPipe: 0.3).
    pub iou_threshold: f32,
    /// Matrix-kernel threads of each run (`None`: one), as the restorer's (`--threads`).
    pub threads: Option<usize>,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        DetectorOptions {
            score_threshold: 0.5,
            iou_threshold: 0.3,
            threads: None,
        }
    }
}

/// How a frame was fitted into the square detector input (keep aspect, centre, pad black).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Letterbox {
    /// Size of the resized frame inside the input.
    width: u32,
    height: u32,
    /// Top-left corner of the resized frame inside the input.
    offset_x: u32,
    offset_y: u32,
    /// Input pixels per frame pixel, per axis (they differ only by rounding).
    scale_x: f32,
    scale_y: f32,
}

impl Letterbox {
    fn fit(frame_width: u32, frame_height: u32, input_size: u32) -> Letterbox {
        let longest = frame_width.max(frame_height).max(1) as f32;
        let scale = input_size as f32 / longest;
        let width = ((frame_width as f32 * scale).round() as u32).clamp(1, input_size);
        let height = ((frame_height as f32 * scale).round() as u32).clamp(1, input_size);
        Letterbox {
            width,
            height,
            offset_x: (input_size - width) / 2,
            offset_y: (input_size - height) / 2,
            scale_x: width as f32 / frame_width.max(1) as f32,
            scale_y: height as f32 / frame_height.max(1) as f32,
        }
    }

    /// Map a point in input pixels back to frame pixels.
    fn to_frame(self, p: [f32; 2]) -> [f32; 2] {
        [
            (p[0] - self.offset_x as f32) / self.scale_x,
            (p[1] - self.offset_y as f32) / self.scale_y,
        ]
    }
}

/// Positions of the four BlazeFace outputs in the plan's output list.
#[derive(Debug, Clone, Copy)]
struct OutputSlots {
    scores: [usize; 2],
    regressors: [usize; 2],
}

/// The BlazeFace detector: an optimized tract plan plus its anchors. A clone shares the plan
/// (with a run state of its own, [`PlanRunner::another`]), so every worker can have one for the
/// cost of its activations.
#[derive(Clone)]
pub struct BlazeFace {
    path: PathBuf,
    runner: PlanRunner,
    input_size: u32,
    anchors: Vec<Anchor>,
    slots: OutputSlots,
    options: DetectorOptions,
}

impl std::fmt::Debug for BlazeFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlazeFace")
            .field("input_size", &self.input_size)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl BlazeFace {
    /// Load a BlazeFace ONNX file (128 short-range or 256 long-range; the size is read from the
    /// model) and optimize it for this machine.
    pub fn load(path: &Path, options: &DetectorOptions) -> Result<BlazeFace> {
        let load_error = |e: TractError| DetectError::Load {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        };
        let not_blazeface = |message: String| DetectError::NotBlazeFace {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(DetectError::Load {
                path: path.to_path_buf(),
                message: "no such file".into(),
            });
        }
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(load_error)?
            .into_typed()
            .map_err(load_error)?;
        let input_shape = single_input_shape(&model).map_err(not_blazeface)?;
        let input_size = match input_shape.as_slice() {
            [1, h, w, 3] if h == w && (*h == 128 || *h == 256) => *h as u32,
            other => {
                return Err(not_blazeface(format!(
                    "input shape {other:?}, expected [1, 128|256, 128|256, 3]"
                )))
            }
        };
        let slots = find_output_slots(&model).map_err(not_blazeface)?;
        // The restorer's runner: same convolution choice (`tuning::optimize`), same threads.
        let runner = PlanRunner::new(model, options.threads).map_err(load_error)?;
        let anchors = AnchorLayer::BLAZEFACE
            .iter()
            .flat_map(|layer| layer.anchors())
            .collect();
        Ok(BlazeFace {
            path: path.to_path_buf(),
            runner,
            input_size,
            anchors,
            slots,
            options: *options,
        })
    }

    /// A failed run of this detector's plan.
    fn inference_error(&self, message: String) -> DetectError {
        DetectError::Inference {
            path: self.path.clone(),
            message,
        }
    }

    /// Side of the square detector input in pixels (128 or 256).
    pub fn input_size(&self) -> u32 {
        self.input_size
    }

    /// The thresholds in use.
    pub fn options(&self) -> &DetectorOptions {
        &self.options
    }

    /// Letterbox `frame` into the detector input: shrink keeping aspect (area average), centre,
    /// pad black, normalise to `[-1, 1]`.
    fn preprocess(&self, frame: &RgbImage) -> Result<(Tensor, Letterbox)> {
        let size = self.input_size;
        let letterbox = Letterbox::fit(frame.width(), frame.height(), size);
        let side = size as usize;
        let mut data = vec![-1.0f32; side * side * 3];
        let shrinking = frame.width() >= letterbox.width && frame.height() >= letterbox.height;
        let resized;
        let (src, src_w, src_h) = if shrinking {
            (frame, frame.width() as usize, frame.height() as usize)
        } else {
            // Enlarging a small frame: bilinear, then the area pass below is a plain copy.
            resized = imageops::resize(
                frame,
                letterbox.width,
                letterbox.height,
                FilterType::Triangle,
            );
            (
                &resized,
                resized.width() as usize,
                resized.height() as usize,
            )
        };
        let (out_w, out_h) = (letterbox.width as usize, letterbox.height as usize);
        // Source rows/columns [start, end) averaged into each output row/column.
        let spans = |out: usize, src_len: usize| -> Vec<(usize, usize)> {
            (0..out)
                .map(|i| {
                    let start = i * src_len / out;
                    let end = ((i + 1) * src_len / out).max(start + 1).min(src_len);
                    (start, end)
                })
                .collect()
        };
        let (cols, rows) = (spans(out_w, src_w), spans(out_h, src_h));
        let raw = src.as_raw();
        let stride = src_w * 3;
        let mut row_sum = vec![0u32; src_w * 3];
        for (oy, &(y0, y1)) in rows.iter().enumerate() {
            row_sum.iter_mut().for_each(|v| *v = 0);
            for y in y0..y1 {
                for (acc, &v) in row_sum.iter_mut().zip(&raw[y * stride..(y + 1) * stride]) {
                    *acc += v as u32;
                }
            }
            let dst_row = (oy + letterbox.offset_y as usize) * side + letterbox.offset_x as usize;
            for (ox, &(x0, x1)) in cols.iter().enumerate() {
                let count = ((y1 - y0) * (x1 - x0)) as f32;
                let scale = 2.0 / (255.0 * count);
                let dst = (dst_row + ox) * 3;
                for c in 0..3 {
                    let sum: u32 = (x0..x1).map(|x| row_sum[x * 3 + c]).sum();
                    data[dst + c] = sum as f32 * scale - 1.0;
                }
            }
        }
        let tensor = Tensor::from_shape(&[1, side, side, 3], &data)
            .map_err(|e| self.inference_error(format!("{e:#}")))?;
        Ok((tensor, letterbox))
    }

    /// Turn raw outputs into faces in input pixels, above the score threshold.
    fn decode(&self, scores: &[&[f32]; 2], regressors: &[&[f32]; 2]) -> Vec<Face> {
        let size = self.input_size as f32;
        // Logit above which the sigmoid exceeds the threshold; saves an exp per anchor.
        let threshold = self.options.score_threshold.clamp(1e-6, 1.0 - 1e-6);
        let logit_threshold = (threshold / (1.0 - threshold)).ln();
        let mut faces = Vec::new();
        let mut anchors = self.anchors.iter();
        for (layer_scores, layer_regressors) in scores.iter().zip(regressors) {
            for (&logit, reg) in layer_scores
                .iter()
                .zip(layer_regressors.chunks_exact(REGRESSORS))
            {
                let Some(anchor) = anchors.next() else {
                    return faces;
                };
                if logit.is_nan() || logit < logit_threshold {
                    continue;
                }
                let score = 1.0 / (1.0 + (-logit.clamp(-80.0, 80.0)).exp());
                let cx = anchor.centre[0] * size + reg[0];
                let cy = anchor.centre[1] * size + reg[1];
                let (w, h) = (reg[2].abs(), reg[3].abs());
                let mut keypoints = [[0.0f32; 2]; 6];
                for (k, kp) in keypoints.iter_mut().enumerate() {
                    kp[0] = anchor.centre[0] * size + reg[4 + 2 * k];
                    kp[1] = anchor.centre[1] * size + reg[5 + 2 * k];
                }
                faces.push(Face {
                    bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                    score,
                    keypoints,
                });
            }
        }
        faces
    }
}

impl FaceDetector for BlazeFace {
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>> {
        if frame.width() == 0 || frame.height() == 0 {
            return Err(DetectError::EmptyFrame {
                path: self.path.clone(),
                width: frame.width(),
                height: frame.height(),
            });
        }
        let (input, letterbox) = self.preprocess(frame)?;
        let outputs = self
            .runner
            .run(tvec!(input.into()))
            .map_err(|e| self.inference_error(format!("{e:#}")))?;
        let output = |slot| output_slice(&outputs, slot).map_err(|m| self.inference_error(m));
        let scores = [output(self.slots.scores[0])?, output(self.slots.scores[1])?];
        let regressors = [
            output(self.slots.regressors[0])?,
            output(self.slots.regressors[1])?,
        ];
        let candidates = self.decode(&scores, &regressors);
        let merged = weighted_nms(candidates, self.options.iou_threshold);
        Ok(merged
            .into_iter()
            .map(|face| to_frame(&face, &letterbox, frame.width(), frame.height()))
            .filter(|face| face.width() > 0.0 && face.height() > 0.0)
            .collect())
    }
}

/// One output of the plan as a flat f32 slice (the error says what was wrong).
fn output_slice(outputs: &TVec<TValue>, slot: usize) -> Result<&[f32], String> {
    let value = outputs
        .get(slot)
        .ok_or_else(|| format!("the plan returned no output #{slot}"))?;
    let array = value
        .to_plain_array_view::<f32>()
        .map_err(|e| format!("{e:#}"))?;
    array
        .to_slice()
        .ok_or_else(|| format!("output #{slot} is not contiguous"))
}

/// Map a face from detector-input pixels to frame pixels, clipping the box to the frame.
fn to_frame(face: &Face, letterbox: &Letterbox, width: u32, height: u32) -> Face {
    let [x0, y0] = letterbox.to_frame([face.bbox[0], face.bbox[1]]);
    let [x1, y1] = letterbox.to_frame([face.bbox[2], face.bbox[3]]);
    let (w, h) = (width as f32, height as f32);
    let mut keypoints = face.keypoints;
    for kp in keypoints.iter_mut() {
        *kp = letterbox.to_frame(*kp);
    }
    Face {
        bbox: [
            x0.clamp(0.0, w),
            y0.clamp(0.0, h),
            x1.clamp(0.0, w),
            y1.clamp(0.0, h),
        ],
        score: face.score,
        keypoints,
    }
}

/// The concrete shape of the model's only input.
fn single_input_shape(model: &TypedModel) -> std::result::Result<Vec<usize>, String> {
    if model.inputs.len() != 1 {
        return Err(format!("{} inputs, expected 1", model.inputs.len()));
    }
    let fact = model
        .input_fact(0)
        .map_err(|e| format!("cannot read the input: {e:#}"))?;
    fact.shape
        .as_concrete()
        .map(|dims| dims.to_vec())
        .ok_or_else(|| format!("input shape {:?} is not fixed", fact.shape))
}

/// Find the score and regressor outputs of both anchor layers by their shapes.
fn find_output_slots(model: &TypedModel) -> std::result::Result<OutputSlots, String> {
    let mut shapes = Vec::new();
    for i in 0..model.outputs.len() {
        let fact = model
            .output_fact(i)
            .map_err(|e| format!("cannot read output #{i}: {e:#}"))?;
        shapes.push(fact.shape.as_concrete().map(|dims| dims.to_vec()));
    }
    let find = |anchors: usize, width: usize| -> std::result::Result<usize, String> {
        shapes
            .iter()
            .position(|s| s.as_deref() == Some(&[1, anchors, width][..]))
            .ok_or_else(|| format!("no output of shape [1, {anchors}, {width}] among {shapes:?}"))
    };
    let [first, second] = AnchorLayer::BLAZEFACE;
    Ok(OutputSlots {
        scores: [find(first.len(), 1)?, find(second.len(), 1)?],
        regressors: [
            find(first.len(), REGRESSORS)?,
            find(second.len(), REGRESSORS)?,
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_centres_a_wide_frame_and_maps_back() {
        let lb = Letterbox::fit(640, 480, 128);
        assert_eq!(
            (lb.width, lb.height, lb.offset_x, lb.offset_y),
            (128, 96, 0, 16)
        );
        let back = lb.to_frame([64.0, 64.0]);
        assert!((back[0] - 320.0).abs() < 1e-3 && (back[1] - 240.0).abs() < 1e-3);
    }

    #[test]
    fn letterbox_of_an_extreme_aspect_keeps_one_pixel() {
        let lb = Letterbox::fit(10_000, 3, 128);
        assert_eq!((lb.width, lb.height), (128, 1));
    }
}
