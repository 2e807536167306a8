//! The model's metadata (docs/model-contract.md): input size, normalisation, alignment template.

use std::collections::BTreeMap;
use std::path::Path;

use super::fidelity::{AutoCurve, KEY_FIDELITY_AUTO};
use crate::geometry::Template;
use crate::{Error, Result};

/// Contract versions this runtime understands (`daefr.format_version`): 1 has one input (the
/// face), 2 adds the fidelity input `weight`.
pub const SUPPORTED_FORMAT_VERSIONS: &[u32] = &[1, 2];

/// First contract version whose graphs take the fidelity weight as a second input.
pub const FIDELITY_FORMAT_VERSION: u32 = 2;
/// Name of the fidelity-weight input of a version-2 graph (float32 `[1]`, in `[0, 1]`).
pub const WEIGHT_INPUT: &str = "weight";
/// Metadata key holding the default fidelity weight of a version-2 model.
pub const KEY_FIDELITY_DEFAULT: &str = "daefr.fidelity_default";

/// Metadata key holding the contract version.
pub const KEY_FORMAT_VERSION: &str = "daefr.format_version";
/// Metadata key holding the square input size `S`.
pub const KEY_INPUT_SIZE: &str = "daefr.input_size";
/// Metadata key holding the alignment template (JSON).
pub const KEY_TEMPLATE: &str = "daefr.template";
/// Metadata key holding the value range of input and output, e.g. `-1,1`.
pub const KEY_INPUT_RANGE: &str = "daefr.input_range";
/// Metadata key recording where a model's description came from (a sidecar's path,
/// [`super::describe`]).
pub const KEY_DESCRIBED_BY: &str = "daefr.described_by";
/// Metadata key of the fidelity input's element type: `float` (default) or `double`.
pub const KEY_WEIGHT_TYPE: &str = "daefr.weight_type";
/// Metadata key naming the graph output that holds the restored face, when there are several.
pub const KEY_OUTPUT_NAME: &str = "daefr.output_name";
/// Metadata key holding the channel order, `RGB` or `BGR`.
pub const KEY_CHANNEL_ORDER: &str = "daefr.channel_order";

/// Channel order of the network's input and output tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red.
    Bgr,
}

/// Affine map between u8 pixel values and network values: `0 -> low`, `255 -> high`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueRange {
    /// Network value of pixel 0.
    pub low: f32,
    /// Network value of pixel 255.
    pub high: f32,
}

/// Validated metadata of a DAEFR model file.
#[derive(Debug, Clone)]
pub struct ModelMetadata {
    /// Contract version (`daefr.format_version`).
    pub format_version: u32,
    /// Square input size `S`.
    pub input_size: u32,
    /// Normalisation of input and output.
    pub value_range: ValueRange,
    /// Channel order of input and output.
    pub channel_order: ChannelOrder,
    /// Alignment template in model-input pixels.
    pub template: Template,
    /// Default fidelity weight (`daefr.fidelity_default`); `None` for a version-1 model, which
    /// has no fidelity input.
    pub fidelity_default: Option<f32>,
    /// Curve from a face's sharpness to its fidelity weight (`daefr.fidelity_auto`, optional,
    /// version 2 only): what `--fidelity auto` reads.
    pub fidelity_auto: Option<AutoCurve>,
    /// Every `metadata_props` entry, as written by the toolchain (config, licence, ...).
    pub raw: BTreeMap<String, String>,
}

impl ModelMetadata {
    /// Validates raw `metadata_props` against the contract; errors name `path` and the key.
    pub fn from_props(path: &Path, raw: BTreeMap<String, String>) -> Result<ModelMetadata> {
        let err = |key: &str, problem: String| {
            Error::ModelMetadata {
                key: key.to_string(),
                problem,
            }
            .with_path(path.to_path_buf())
        };
        let get = |key: &str| {
            raw.get(key)
                .map(|v| v.trim())
                .ok_or_else(|| err(key, "is missing (not a daefr model?)".into()))
        };

        let version_text = get(KEY_FORMAT_VERSION)?;
        let format_version: u32 = version_text.parse().map_err(|_| {
            err(
                KEY_FORMAT_VERSION,
                format!("is not a number: {version_text:?}"),
            )
        })?;
        if !SUPPORTED_FORMAT_VERSIONS.contains(&format_version) {
            return Err(err(
                KEY_FORMAT_VERSION,
                format!("is {format_version}, this runtime knows {SUPPORTED_FORMAT_VERSIONS:?}"),
            ));
        }

        let size_text = get(KEY_INPUT_SIZE)?;
        let input_size: u32 = size_text
            .parse()
            .ok()
            .filter(|s| (8..=4096).contains(s))
            .ok_or_else(|| {
                err(
                    KEY_INPUT_SIZE,
                    format!("is not a size in 8..=4096: {size_text:?}"),
                )
            })?;

        let template_text = get(KEY_TEMPLATE)?;
        let template: Template = serde_json::from_str(template_text)
            .map_err(|e| err(KEY_TEMPLATE, format!("is not a valid template: {e}")))?;
        let limit = input_size as f32;
        if template
            .points()
            .iter()
            .flatten()
            .any(|v| !v.is_finite() || *v < 0.0 || *v > limit)
        {
            return Err(err(
                KEY_TEMPLATE,
                format!("has a point outside 0..{input_size}"),
            ));
        }

        let value_range = match raw.get(KEY_INPUT_RANGE) {
            None => ValueRange {
                low: -1.0,
                high: 1.0,
            },
            Some(text) => parse_range(text)
                .ok_or_else(|| err(KEY_INPUT_RANGE, format!("is not `low,high`: {text:?}")))?,
        };
        let channel_order = match raw.get(KEY_CHANNEL_ORDER).map(|s| s.trim()) {
            None | Some("RGB") => ChannelOrder::Rgb,
            Some("BGR") => ChannelOrder::Bgr,
            Some(other) => {
                return Err(err(
                    KEY_CHANNEL_ORDER,
                    format!("is {other:?}, not RGB or BGR"),
                ))
            }
        };

        let fidelity_default = if format_version >= FIDELITY_FORMAT_VERSION {
            let text = get(KEY_FIDELITY_DEFAULT)?;
            let w = text
                .parse::<f32>()
                .ok()
                .filter(|w| super::fidelity::is_unit_weight(*w))
                .ok_or_else(|| {
                    err(
                        KEY_FIDELITY_DEFAULT,
                        format!("is not a weight in 0..=1: {text:?}"),
                    )
                })?;
            Some(w)
        } else {
            None
        };

        let fidelity_auto = match raw.get(KEY_FIDELITY_AUTO) {
            Some(text) if fidelity_default.is_some() => Some(
                AutoCurve::parse(text)
                    .map_err(|e| err(KEY_FIDELITY_AUTO, format!("is not a curve: {e}")))?,
            ),
            _ => None,
        };

        Ok(ModelMetadata {
            format_version,
            input_size,
            value_range,
            channel_order,
            template,
            fidelity_default,
            fidelity_auto,
            raw,
        })
    }

    /// True when the graph takes the fidelity weight as its second input (contract version 2).
    pub fn has_fidelity_input(&self) -> bool {
        self.fidelity_default.is_some()
    }

    /// True when the fidelity input is float64 (`daefr.weight_type = double`, as facefusion's
    /// CodeFormer export has it) rather than float32.
    pub fn weight_is_double(&self) -> bool {
        self.get(KEY_WEIGHT_TYPE) == Some("double")
    }

    /// Looks up any raw metadata value (e.g. `daefr.licence`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key).map(String::as_str)
    }
}

fn parse_range(text: &str) -> Option<ValueRange> {
    let (low, high) = text.split_once(',')?;
    let low: f32 = low.trim().parse().ok()?;
    let high: f32 = high.trim().parse().ok()?;
    (low.is_finite() && high.is_finite() && high > low).then_some(ValueRange { low, high })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const TEMPLATE: &str =
        r#"{"right_eye":[11,14],"left_eye":[21,14],"nose_tip":[16,20],"mouth_center":[16,24.5]}"#;

    #[test]
    fn valid_metadata_parses() {
        let meta = ModelMetadata::from_props(
            Path::new("m.onnx"),
            props(&[
                (KEY_FORMAT_VERSION, "1"),
                (KEY_INPUT_SIZE, "32"),
                (KEY_TEMPLATE, TEMPLATE),
                (KEY_INPUT_RANGE, "-1,1"),
            ]),
        )
        .unwrap();
        assert_eq!(meta.input_size, 32);
        assert_eq!(meta.template.mouth_center, [16.0, 24.5]);
        assert_eq!(
            meta.value_range,
            ValueRange {
                low: -1.0,
                high: 1.0
            }
        );
        assert_eq!(meta.channel_order, ChannelOrder::Rgb);
    }

    #[test]
    fn missing_key_is_named() {
        let e = ModelMetadata::from_props(
            Path::new("m.onnx"),
            props(&[(KEY_FORMAT_VERSION, "1"), (KEY_TEMPLATE, TEMPLATE)]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("m.onnx") && e.contains(KEY_INPUT_SIZE), "{e}");
    }

    #[test]
    fn unknown_version_and_bad_values_are_refused() {
        for (key, value) in [
            (KEY_FORMAT_VERSION, "3"),
            (KEY_INPUT_SIZE, "abc"),
            (KEY_TEMPLATE, "{}"),
            (KEY_INPUT_RANGE, "1,-1"),
            (KEY_CHANNEL_ORDER, "YUV"),
        ] {
            let mut p = props(&[
                (KEY_FORMAT_VERSION, "1"),
                (KEY_INPUT_SIZE, "32"),
                (KEY_TEMPLATE, TEMPLATE),
            ]);
            p.insert(key.to_string(), value.to_string());
            let e = ModelMetadata::from_props(Path::new("m.onnx"), p)
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn version_2_needs_a_fidelity_default_in_range() {
        let base = [
            (KEY_FORMAT_VERSION, "2"),
            (KEY_INPUT_SIZE, "32"),
            (KEY_TEMPLATE, TEMPLATE),
        ];
        let e = ModelMetadata::from_props(Path::new("m.onnx"), props(&base))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(KEY_FIDELITY_DEFAULT) && e.contains("missing"),
            "{e}"
        );
        for bad in ["1.5", "-0.1", "nan", "half"] {
            let mut p = props(&base);
            p.insert(KEY_FIDELITY_DEFAULT.into(), bad.into());
            let e = ModelMetadata::from_props(Path::new("m.onnx"), p)
                .unwrap_err()
                .to_string();
            assert!(e.contains(KEY_FIDELITY_DEFAULT), "{bad}: {e}");
        }
        let mut p = props(&base);
        p.insert(KEY_FIDELITY_DEFAULT.into(), "0.7".into());
        let meta = ModelMetadata::from_props(Path::new("m.onnx"), p).unwrap();
        assert_eq!(meta.fidelity_default, Some(0.7));
        assert!(meta.has_fidelity_input());
        // version 1 ignores the key: it has no fidelity input
        let mut p = props(&base);
        p.insert(KEY_FORMAT_VERSION.into(), "1".into());
        p.insert(KEY_FIDELITY_DEFAULT.into(), "0.7".into());
        let meta = ModelMetadata::from_props(Path::new("m.onnx"), p).unwrap();
        assert_eq!(meta.fidelity_default, None);
    }
}
