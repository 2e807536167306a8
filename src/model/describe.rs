//! Restorers made elsewhere (GFPGAN, CodeFormer, GPEN-BFR, RestoreFormer as facefusion exports
//! them): a small TOML file next to the ONNX file, `NAME.onnx.toml`, states what daefr metadata
//! would (input size, value range, channel order, alignment template, fidelity input, licence), so
//! that such a model runs without re-exporting it. The description is turned into the same
//! `daefr.*` entries the toolchain writes and validated by the same code
//! ([`super::ModelMetadata::from_props`]).
//!
//! ```toml
//! # gfpgan_1.4.onnx.toml
//! input_size = 512
//! input_range = [-1.0, 1.0]
//! channel_order = "RGB"
//! template = "ffhq-512"
//! licence = "GFPGAN: Apache-2.0 (check the weights' own terms)"
//! ```
//!
//! A CodeFormer file adds `fidelity_input = "weight"`, `fidelity_type = "double"` (facefusion
//! feeds its `weight` as float64) and `fidelity_default = 0.5`; a graph with several outputs
//! names the face with `output = "output"`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::fidelity::KEY_FIDELITY_AUTO;
use super::metadata::{
    KEY_CHANNEL_ORDER, KEY_FIDELITY_DEFAULT, KEY_FORMAT_VERSION, KEY_INPUT_RANGE, KEY_INPUT_SIZE,
    KEY_TEMPLATE, WEIGHT_INPUT,
};
use crate::geometry::Template;
use crate::{Error, Result};

pub use super::metadata::{KEY_DESCRIBED_BY, KEY_OUTPUT_NAME, KEY_WEIGHT_TYPE};

/// The FFHQ alignment template at 512 px (as facefusion's `ffhq_512`: eyes, nose tip, the middle
/// of the two mouth corners), the layout GFPGAN, CodeFormer, GPEN-BFR and RestoreFormer expect.
pub const FFHQ_512: Template = Template {
    right_eye: [192.98138, 239.94708],
    left_eye: [318.90277, 240.1936],
    nose_tip: [256.63416, 314.01935],
    mouth_center: [257.1751, 371.2808],
};

/// A template by name (`ffhq-512`, scaled to `size`), or its four points in model pixels.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TemplateChoice {
    /// A template daefr ships: `ffhq-512` (scaled to any input size).
    Named(String),
    /// Points in model-input pixels.
    Points(Template),
}

/// What a sidecar TOML says (see the module documentation).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelDescription {
    /// Square input size in pixels.
    pub input_size: u32,
    /// Network values of pixel 0 and 255 (default `[-1, 1]`).
    #[serde(default = "default_range")]
    pub input_range: [f32; 2],
    /// `RGB` (default) or `BGR`.
    #[serde(default = "default_channel_order")]
    pub channel_order: String,
    /// Alignment template.
    pub template: TemplateChoice,
    /// Name of a fidelity input (CodeFormer's `weight`, `[1]`); none by default.
    #[serde(default)]
    pub fidelity_input: Option<String>,
    /// Its element type, `float` (default) or `double`.
    #[serde(default)]
    pub fidelity_type: Option<String>,
    /// Fidelity weight used when none is asked for (with a fidelity input; default 0.5).
    #[serde(default)]
    pub fidelity_default: Option<f32>,
    /// The output holding the face, when the graph has several.
    #[serde(default)]
    pub output: Option<String>,
    /// The weights' licence, shown by `daefr inspect`.
    #[serde(default)]
    pub licence: Option<String>,
}

fn default_range() -> [f32; 2] {
    [-1.0, 1.0]
}

fn default_channel_order() -> String {
    "RGB".into()
}

/// Where the description of `model` is looked for: `model` with `.toml` appended.
pub fn sidecar_path(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".toml");
    PathBuf::from(name)
}

impl ModelDescription {
    /// Reads and checks the sidecar at `path`.
    pub fn read(path: &Path) -> Result<ModelDescription> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { source }.with_path(path.to_path_buf()))?;
        Self::parse(&text, path)
    }

    /// Parses a sidecar's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ModelDescription> {
        let bad = |message: String| {
            Error::ModelLoad {
                message: format!("model description: {message}"),
            }
            .with_path(path.to_path_buf())
        };
        let description: ModelDescription =
            toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        if let Some(name) = &description.fidelity_input {
            if name != WEIGHT_INPUT {
                return Err(bad(format!(
                    "fidelity_input {name:?}: the runtime feeds the fidelity input by position, second, and the contract names it {WEIGHT_INPUT:?}"
                )));
            }
        }
        match description.fidelity_type.as_deref() {
            None | Some("float") | Some("double") => {}
            Some(other) => return Err(bad(format!("fidelity_type {other:?}: float or double"))),
        }
        Ok(description)
    }

    /// The template in model pixels.
    pub fn template(&self, path: &Path) -> Result<Template> {
        match &self.template {
            TemplateChoice::Points(points) => Ok(*points),
            TemplateChoice::Named(name) if name == "ffhq-512" || name == "ffhq_512" => {
                let k = self.input_size as f32 / 512.0;
                let scale = |p: [f32; 2]| [p[0] * k, p[1] * k];
                Ok(Template {
                    right_eye: scale(FFHQ_512.right_eye),
                    left_eye: scale(FFHQ_512.left_eye),
                    nose_tip: scale(FFHQ_512.nose_tip),
                    mouth_center: scale(FFHQ_512.mouth_center),
                })
            }
            TemplateChoice::Named(other) => Err(Error::ModelLoad {
                message: format!(
                    "model description: template {other:?} is not one daefr ships (ffhq-512); give its points instead"
                ),
            }
            .with_path(path.to_path_buf())),
        }
    }

    /// The `daefr.*` metadata entries this description stands for (`path`: the sidecar).
    pub fn to_props(&self, path: &Path) -> Result<BTreeMap<String, String>> {
        let template = self.template(path)?;
        let mut props = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            props.insert(k.to_string(), v);
        };
        let version = if self.fidelity_input.is_some() { 2 } else { 1 };
        put(KEY_FORMAT_VERSION, version.to_string());
        put(KEY_INPUT_SIZE, self.input_size.to_string());
        put(
            KEY_INPUT_RANGE,
            format!("{},{}", self.input_range[0], self.input_range[1]),
        );
        put(KEY_CHANNEL_ORDER, self.channel_order.clone());
        put(
            KEY_TEMPLATE,
            serde_json::to_string(&template).map_err(|e| Error::ModelLoad {
                message: format!("model description: template: {e}"),
            })?,
        );
        if self.fidelity_input.is_some() {
            put(
                KEY_FIDELITY_DEFAULT,
                self.fidelity_default.unwrap_or(0.5).to_string(),
            );
            put(
                KEY_WEIGHT_TYPE,
                self.fidelity_type.clone().unwrap_or_else(|| "float".into()),
            );
        }
        if let Some(output) = &self.output {
            put(KEY_OUTPUT_NAME, output.clone());
        }
        if let Some(licence) = &self.licence {
            put("daefr.licence", licence.clone());
        }
        put(KEY_DESCRIBED_BY, path.display().to_string());
        debug_assert!(!props.contains_key(KEY_FIDELITY_AUTO));
        Ok(props)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codeformer_description_becomes_contract_metadata() {
        let text = "input_size = 512\ntemplate = \"ffhq-512\"\nfidelity_input = \"weight\"\nfidelity_type = \"double\"\nfidelity_default = 0.7\noutput = \"output\"\n";
        let path = Path::new("codeformer.onnx.toml");
        let d = ModelDescription::parse(text, path).expect("parses");
        let props = d.to_props(path).expect("props");
        assert_eq!(props[KEY_FORMAT_VERSION], "2");
        assert_eq!(props[KEY_FIDELITY_DEFAULT], "0.7");
        assert_eq!(props[KEY_WEIGHT_TYPE], "double");
        assert_eq!(props[KEY_INPUT_RANGE], "-1,1");
        let meta = super::super::ModelMetadata::from_props(path, props).expect("valid");
        assert_eq!(meta.input_size, 512);
        assert_eq!(meta.template.right_eye, FFHQ_512.right_eye);
    }

    #[test]
    fn ffhq_scales_with_the_input_and_unknown_fields_are_refused() {
        let path = Path::new("gpen-256.onnx.toml");
        let d = ModelDescription::parse("input_size = 256\ntemplate = \"ffhq-512\"\n", path)
            .expect("parses");
        let t = d.template(path).expect("template");
        assert!((t.nose_tip[0] - FFHQ_512.nose_tip[0] / 2.0).abs() < 1e-4);
        assert!(ModelDescription::parse(
            "input_size = 256\ntemplate = \"ffhq-512\"\nsize = 3\n",
            path
        )
        .is_err());
        assert!(
            ModelDescription::parse("input_size = 256\ntemplate = \"arcface\"\n", path)
                .and_then(|d| d.template(path))
                .is_err()
        );
        assert!(ModelDescription::parse(
            "input_size = 256\ntemplate = \"ffhq-512\"\nfidelity_input = \"w\"\n",
            path
        )
        .is_err());
        assert_eq!(
            sidecar_path(Path::new("m/gfpgan.onnx")),
            PathBuf::from("m/gfpgan.onnx.toml")
        );
    }
}
