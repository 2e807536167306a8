//! Loading a model file (ONNX, or its NNEF cache) into a tract typed model plus validated metadata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::metadata::{ModelMetadata, KEY_FORMAT_VERSION, KEY_OUTPUT_NAME, WEIGHT_INPUT};
use crate::{Error, Result};

/// Prefix tract gives ONNX `metadata_props` entries in a model's properties.
const ONNX_PROPS_PREFIX: &str = "onnx.metadata_props.";

/// The file format a model was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// An `.onnx` file (protobuf), parsed and typed at load.
    Onnx,
    /// A tract NNEF archive (`.nnef.tar`), already typed and decluttered.
    Nnef,
}

impl std::fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelFormat::Onnx => "ONNX",
            ModelFormat::Nnef => "NNEF",
        })
    }
}

/// A model read from disk: a typed, decluttered graph, not yet optimized for this CPU. Its graph
/// stays inside the crate; [`LoadedModel::summary`] describes it without tract types.
pub struct LoadedModel {
    /// The file read.
    pub path: PathBuf,
    /// Its format.
    pub format: ModelFormat,
    /// The typed, decluttered graph with a fixed `[1, 3, S, S]` input (and, for a version-2
    /// model, the fidelity input `weight`, `[1]`, second).
    pub(crate) typed: TypedModel,
    /// Time spent reading, parsing and typing the file.
    pub load_time: Duration,
}

/// One input or output of a loaded graph, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSummary {
    /// Node name.
    pub name: String,
    /// Element type and shape as tract prints them, e.g. `1,3,128,128,F32`.
    pub fact: String,
}

/// What `daefr inspect` shows of a loaded graph.
#[derive(Debug, Clone)]
pub struct GraphSummary {
    /// Inputs in order.
    pub inputs: Vec<TensorSummary>,
    /// Outputs in order.
    pub outputs: Vec<TensorSummary>,
    /// Nodes of the decluttered graph.
    pub nodes: usize,
    /// Operator counts, MACs and parameters.
    pub stats: super::cost::GraphStats,
}

impl LoadedModel {
    /// Inputs, outputs, node count and cost of the decluttered graph.
    pub fn summary(&self) -> Result<GraphSummary> {
        let model = &self.typed;
        let err = |e: TractError| load_error(&self.path, one_line(&e));
        let describe = |outlets: &[OutletId]| -> Result<Vec<TensorSummary>> {
            outlets
                .iter()
                .map(|outlet| {
                    // the file's own tensor name (`output`), not the node that makes it (`/Add_2`)
                    let name = model
                        .outlet_label(*outlet)
                        .unwrap_or(&model.node(outlet.node).name);
                    Ok(TensorSummary {
                        name: name.to_string(),
                        fact: format!("{:?}", model.outlet_fact(*outlet).map_err(err)?),
                    })
                })
                .collect()
        };
        Ok(GraphSummary {
            inputs: describe(&model.inputs)?,
            outputs: describe(&model.outputs)?,
            nodes: model.nodes().len(),
            stats: super::cost::graph_stats(model).map_err(err)?,
        })
    }
}

/// Guesses the format from the file name: `.onnx` is ONNX, anything with `nnef` in it is NNEF.
pub fn format_of(path: &Path) -> ModelFormat {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if name.ends_with(".onnx") || !name.contains("nnef") {
        ModelFormat::Onnx
    } else {
        ModelFormat::Nnef
    }
}

/// One-line rendering of a tract error chain.
pub(crate) fn one_line(e: &TractError) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn load_error(path: &Path, message: impl Into<String>) -> Error {
    Error::ModelLoad {
        message: message.into(),
    }
    .with_path(path.to_path_buf())
}

fn shape_text(dims: &[Option<i64>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or_else(|| "?".to_string(), |v| v.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Checks a declared shape (unknown dims as `None`) against `[1, 3, S, S]`.
fn check_shape(path: &Path, which: &str, dims: &[Option<i64>], size: u32) -> Result<()> {
    let expected = [1i64, 3, size as i64, size as i64];
    let ok = dims.len() == 4
        && dims
            .iter()
            .zip(expected)
            .all(|(d, e)| d.is_none_or(|d| d == e));
    if ok {
        return Ok(());
    }
    Err(Error::ModelShape {
        which: which.to_string(),
        expected: format!("[1, 3, {size}, {size}] (daefr.input_size = {size})"),
        found: shape_text(dims),
    }
    .with_path(path.to_path_buf()))
}

fn proto_dims(info: &pb::ValueInfoProto) -> Vec<Option<i64>> {
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as TypeValue;
    let Some(TypeValue::TensorType(tensor)) = info.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return vec![];
    };
    let Some(shape) = tensor.shape.as_ref() else {
        return vec![];
    };
    shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(Value::DimValue(v)) if v > 0 => Some(v),
            _ => None,
        })
        .collect()
}

/// Refuses, by name, input declarations the runtime does not implement: an element type other
/// than float32 (a uint8 image input, say) and, when `fixed` is asked, dynamic dimensions (a
/// symbolic `batch` or a missing size). An input without a declared type is left to later checks.
fn check_declared_input(path: &Path, info: &pb::ValueInfoProto, fixed: bool) -> Result<()> {
    use pb::tensor_proto::DataType;
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as TypeValue;
    let Some(TypeValue::TensorType(tensor)) = info.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Ok(());
    };
    if tensor.elem_type != DataType::Float as i32 {
        let found = DataType::try_from(tensor.elem_type)
            .map(|t| t.as_str_name().to_ascii_lowercase())
            .unwrap_or_else(|_| format!("element type {}", tensor.elem_type));
        return Err(load_error(
            path,
            format!(
                "input `{}` is {found}; the runtime feeds float32 only (scaled per daefr.input_range), so export a float32 input",
                info.name
            ),
        ));
    }
    let Some(shape) = tensor.shape.as_ref().filter(|_| fixed) else {
        return Ok(());
    };
    let fixed_dim = |d: &pb::tensor_shape_proto::Dimension| matches!(d.value, Some(Value::DimValue(v)) if v > 0);
    if shape.dim.iter().all(fixed_dim) {
        return Ok(());
    }
    let dims: Vec<String> = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Value::DimValue(v)) if *v > 0 => v.to_string(),
            Some(Value::DimParam(name)) if !name.is_empty() => name.clone(),
            _ => "?".to_string(),
        })
        .collect();
    Err(load_error(
        path,
        format!(
            "input `{}` has dynamic dimensions [{}]; the contract requires a fixed [1, 3, S, S] (export without dynamic axes)",
            info.name,
            dims.join(", ")
        ),
    ))
}

/// Refuses an NNEF input fact the runtime does not implement: not float32, or symbolic dims.
fn check_typed_input(path: &Path, name: &str, fact: &TypedFact) -> Result<()> {
    if fact.datum_type != f32::datum_type() {
        return Err(load_error(
            path,
            format!(
                "input `{name}` is {:?}; the runtime feeds float32 only",
                fact.datum_type
            ),
        ));
    }
    if fact.shape.iter().any(|d| d.to_i64().is_err()) {
        return Err(load_error(
            path,
            format!(
                "input `{name}` has dynamic dimensions {:?}; the contract requires a fixed [1, 3, S, S]",
                fact.shape
            ),
        ));
    }
    Ok(())
}

fn check_exists(path: &Path) -> Result<()> {
    std::fs::metadata(path)
        .map_err(|source| Error::Io { source }.with_path(path.to_path_buf()))
        .and_then(|m| {
            if m.is_file() {
                Ok(())
            } else {
                Err(load_error(path, "not a file"))
            }
        })
}

/// Refuses external-data files that are not regular files before tract opens them: reading a
/// FIFO (or a device) placed in the model folder would block forever or never end.
fn check_external_data(path: &Path, graph: &pb::GraphProto) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let locations = graph
        .initializer
        .iter()
        .flat_map(|t| t.external_data.iter())
        .filter(|entry| entry.key == "location")
        .map(|entry| entry.value.as_str());
    let mut checked = std::collections::HashSet::new();
    for location in locations {
        if !checked.insert(location) {
            continue;
        }
        let data = dir.join(location);
        match std::fs::metadata(&data) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(load_error(
                    path,
                    format!("external data {location:?} is not a regular file"),
                ))
            }
            Err(e) => {
                return Err(load_error(
                    path,
                    format!("external data {location:?} cannot be read ({e})"),
                ))
            }
        }
    }
    Ok(())
}

/// Reads only the metadata of an ONNX file (no graph parsing).
pub fn read_onnx_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    Ok(read_onnx_proto(path)?
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect())
}

fn read_onnx_proto(path: &Path) -> Result<pb::ModelProto> {
    check_exists(path)?;
    let proto = tract_onnx::onnx()
        .proto_model_for_path(path)
        .map_err(|e| load_error(path, format!("not an ONNX file ({})", one_line(&e))))?;
    if proto.graph.is_none() {
        return Err(load_error(path, "not an ONNX file (no graph)"));
    }
    Ok(proto)
}

/// Loads an ONNX file: reads metadata, checks the declared input/output shapes against
/// `daefr.input_size`, fixes the input fact, types and declutters the graph.
pub fn load_onnx(path: &Path) -> Result<(LoadedModel, ModelMetadata)> {
    let start = Instant::now();
    let proto = read_onnx_proto(path)?;
    let mut raw: BTreeMap<String, String> = proto
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let sidecar = super::describe::sidecar_path(path);
    if sidecar.is_file() {
        if raw.contains_key(KEY_FORMAT_VERSION) {
            log::warn!(
                "{}: ignored; {} carries its own daefr metadata",
                sidecar.display(),
                path.display()
            );
        } else {
            raw.extend(super::describe::ModelDescription::read(&sidecar)?.to_props(&sidecar)?);
        }
    }
    let meta = ModelMetadata::from_props(path, raw)?;
    let size = meta.input_size;

    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| load_error(path, "no graph"))?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .collect();
    let want_inputs = expected_inputs(&meta);
    let output_index = match meta.get(KEY_OUTPUT_NAME) {
        Some(name) => graph
            .output
            .iter()
            .position(|o| o.name == name)
            .ok_or_else(|| {
                load_error(
                    path,
                    format!(
                        "{KEY_OUTPUT_NAME} names {name:?}, which is not an output of the graph"
                    ),
                )
            })?,
        None => 0,
    };
    let outputs_ok = graph.output.len() == 1 || meta.get(KEY_OUTPUT_NAME).is_some();
    if inputs.len() != want_inputs || !outputs_ok {
        return Err(load_error(
            path,
            format!(
                "expected {want_inputs} input(s) and 1 output (contract version {}), found {} and {}",
                meta.format_version,
                inputs.len(),
                graph.output.len()
            ),
        ));
    }
    check_declared_input(path, inputs[0], true)?;
    check_shape(path, "input", &proto_dims(inputs[0]), size)?;
    if meta.has_fidelity_input() {
        if !meta.weight_is_double() {
            check_declared_input(path, inputs[1], false)?;
        }
        check_weight_input(path, &inputs[1].name, &proto_dims(inputs[1]))?;
    }
    let out_dims = proto_dims(&graph.output[output_index]);
    if !out_dims.is_empty() {
        check_shape(path, "output", &out_dims, size)?;
    }

    check_external_data(path, graph)?;
    let dir = path.parent().and_then(|d| d.to_str());
    let parsed = tract_onnx::onnx()
        .parse(&proto, dir)
        .map_err(|e| load_error(path, format!("cannot parse graph: {}", one_line(&e))))?;
    let mut model = parsed.model;
    let s = size as usize;
    model
        .set_input_fact(0, f32::fact([1, 3, s, s]).into())
        .map_err(|e| load_error(path, one_line(&e)))?;
    if meta.has_fidelity_input() {
        let fact = if meta.weight_is_double() {
            f64::fact([1])
        } else {
            f32::fact([1])
        };
        model
            .set_input_fact(1, fact.into())
            .map_err(|e| load_error(path, one_line(&e)))?;
    }
    if graph.output.len() > 1 {
        // only the face: the other outputs (CodeFormer's logits) are pruned away
        let outlets = model
            .output_outlets()
            .map_err(|e| load_error(path, one_line(&e)))?
            .to_vec();
        model
            .select_output_outlets(&outlets[output_index..=output_index])
            .map_err(|e| load_error(path, one_line(&e)))?;
    }
    let typed = model
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(|e| load_error(path, format!("cannot type graph: {}", one_line(&e))))?;
    check_typed_output(path, &typed, size)?;
    let loaded = LoadedModel {
        path: path.to_path_buf(),
        format: ModelFormat::Onnx,
        typed,
        load_time: start.elapsed(),
    };
    Ok((loaded, meta))
}

/// Loads any ONNX graph as its file declares it (typed and decluttered, no daefr contract): what
/// `daefr inspect` shows of a model without daefr metadata, such as a BlazeFace detector.
pub fn load_onnx_plain(path: &Path) -> Result<LoadedModel> {
    let start = Instant::now();
    let proto = read_onnx_proto(path)?;
    if let Some(graph) = proto.graph.as_ref() {
        check_external_data(path, graph)?;
    }
    let dir = path.parent().and_then(|d| d.to_str());
    let parsed = tract_onnx::onnx()
        .parse(&proto, dir)
        .map_err(|e| load_error(path, format!("cannot parse graph: {}", one_line(&e))))?;
    let typed = parsed
        .model
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(|e| load_error(path, format!("cannot type graph: {}", one_line(&e))))?;
    Ok(LoadedModel {
        path: path.to_path_buf(),
        format: ModelFormat::Onnx,
        typed,
        load_time: start.elapsed(),
    })
}

/// Inputs a graph of this metadata's contract version takes: the face, plus `weight` from version 2.
fn expected_inputs(meta: &ModelMetadata) -> usize {
    if meta.has_fidelity_input() {
        2
    } else {
        1
    }
}

/// A version-2 graph's second input must be `weight`, float32 `[1]` (unknown dims accepted).
fn check_weight_input(path: &Path, name: &str, dims: &[Option<i64>]) -> Result<()> {
    if name != WEIGHT_INPUT {
        return Err(load_error(
            path,
            format!("second input is named {name:?}, the contract names it {WEIGHT_INPUT:?}"),
        ));
    }
    let ok = dims.is_empty() || (dims.len() == 1 && dims[0].is_none_or(|d| d == 1));
    if ok {
        return Ok(());
    }
    Err(Error::ModelShape {
        which: WEIGHT_INPUT.to_string(),
        expected: "[1]".to_string(),
        found: shape_text(dims),
    }
    .with_path(path.to_path_buf()))
}

fn typed_dims(fact: &TypedFact) -> Vec<Option<i64>> {
    fact.shape.iter().map(|d| d.to_i64().ok()).collect()
}

fn check_typed_output(path: &Path, typed: &TypedModel, size: u32) -> Result<()> {
    let fact = typed
        .output_fact(0)
        .map_err(|e| load_error(path, one_line(&e)))?;
    if fact.datum_type != f32::datum_type() {
        return Err(load_error(
            path,
            format!("output is {:?}, expected f32", fact.datum_type),
        ));
    }
    check_shape(path, "output", &typed_dims(fact), size)
}

/// The NNEF reader/writer, with the ONNX operator extensions and the `daefr` registry.
pub(crate) fn nnef_framework() -> tract_nnef::framework::Nnef {
    tract_nnef::nnef()
        .with_onnx()
        .with_registry(daefr_nnef_registry())
}

/// Serializers tract 0.23.9 lacks for ops that decluttering our graphs creates: `GeluExact`
/// (fused from `x * 0.5 * (1 + erf(x / sqrt 2))`) becomes `daefr_gelu_exact(x)`.
fn daefr_nnef_registry() -> tract_nnef::internal::Registry {
    let mut registry = tract_nnef::internal::Registry::new("daefr");
    registry.register_unit_element_wise(
        "daefr_gelu_exact",
        &tract_onnx::tract_core::ops::nn::GeluExact {},
    );
    registry
}

/// Loads a tract NNEF archive written by [`super::cache::write_nnef`]; metadata travels in the
/// archive's `tract_core_properties`.
pub fn load_nnef(path: &Path) -> Result<(LoadedModel, ModelMetadata)> {
    let start = Instant::now();
    check_exists(path)?;
    let typed = nnef_framework().model_for_path(path).map_err(|e| {
        load_error(
            path,
            format!("not a readable NNEF archive ({})", one_line(&e)),
        )
    })?;
    let raw: BTreeMap<String, String> = typed
        .properties
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(ONNX_PROPS_PREFIX)?;
            let value = v
                .try_as_plain_ram()
                .ok()?
                .to_scalar::<String>()
                .ok()?
                .clone();
            Some((key.to_string(), value))
        })
        .collect();
    let meta = ModelMetadata::from_props(path, raw)?;
    let want_inputs = expected_inputs(&meta);
    if typed.inputs.len() != want_inputs || typed.outputs.len() != 1 {
        return Err(load_error(
            path,
            format!(
                "expected {want_inputs} input(s) and 1 output (contract version {}), found {} and {}",
                meta.format_version,
                typed.inputs.len(),
                typed.outputs.len()
            ),
        ));
    }
    let input = typed
        .input_fact(0)
        .map_err(|e| load_error(path, one_line(&e)))?;
    check_typed_input(path, &typed.node(typed.inputs[0].node).name, input)?;
    check_shape(path, "input", &typed_dims(input), meta.input_size)?;
    if meta.has_fidelity_input() {
        let fact = typed
            .input_fact(1)
            .map_err(|e| load_error(path, one_line(&e)))?;
        let name = typed.node(typed.inputs[1].node).name.clone();
        check_weight_input(path, &name, &typed_dims(fact))?;
    }
    check_typed_output(path, &typed, meta.input_size)?;
    let loaded = LoadedModel {
        path: path.to_path_buf(),
        format: ModelFormat::Nnef,
        typed,
        load_time: start.elapsed(),
    };
    Ok((loaded, meta))
}

/// Loads either format, picked by [`format_of`].
pub fn load_any(path: &Path) -> Result<(LoadedModel, ModelMetadata)> {
    match format_of(path) {
        ModelFormat::Onnx => load_onnx(path),
        ModelFormat::Nnef => load_nnef(path),
    }
}
