//! Graph statistics for `daefr inspect`: operator counts and a multiply-accumulate estimate.

use std::collections::BTreeMap;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::Cost;

/// Operator histogram and cost of a typed graph.
#[derive(Debug, Clone, Default)]
pub struct GraphStats {
    /// Number of nodes per operator name.
    pub op_counts: BTreeMap<String, usize>,
    /// Multiply-accumulates per run, from tract's per-op cost model (f32 FMA).
    pub macs: u64,
    /// MACs per operator name.
    pub macs_by_op: BTreeMap<String, u64>,
    /// Number of parameters held in constants.
    pub params: u64,
}

/// Counts operators and sums tract's per-node FMA cost over `model`.
pub(crate) fn graph_stats(model: &TypedModel) -> TractResult<GraphStats> {
    let mut stats = GraphStats::default();
    for node in model.nodes() {
        let name = node.op.name().to_string();
        *stats.op_counts.entry(name.clone()).or_default() += 1;
        if let Some(konst) = node.op_as::<tract_onnx::tract_core::ops::konst::Const>() {
            stats.params += konst.val().len() as u64;
        }
        let inputs = model.node_input_facts(node.id)?;
        for (cost, count) in node.op.cost(&inputs)? {
            if let Cost::FMA(_) = cost {
                let n = count.to_i64().unwrap_or(0).max(0) as u64;
                stats.macs += n;
                *stats.macs_by_op.entry(name.clone()).or_default() += n;
            }
        }
    }
    Ok(stats)
}
