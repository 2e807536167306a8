//! BlazeFace's SSD anchors: one fixed centre per anchor, no anchor sizes (the network regresses
//! box sizes in input pixels directly).

/// One feature-map layer of anchors: a `grid` x `grid` array of cells, `per_cell` anchors each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorLayer {
    /// Cells per row (and per column).
    pub grid: usize,
    /// Anchors in every cell.
    pub per_cell: usize,
}

impl AnchorLayer {
    /// BlazeFace's two layers: 16x16 cells with 2 anchors, then 8x8 cells with 6 anchors (896 in
    /// all). The same for the 128 and the 256 model: only the input size (the pixel unit) differs.
    pub const BLAZEFACE: [AnchorLayer; 2] = [
        AnchorLayer {
            grid: 16,
            per_cell: 2,
        },
        AnchorLayer {
            grid: 8,
            per_cell: 6,
        },
    ];

    /// Number of anchors in this layer.
    pub fn len(&self) -> usize {
        self.grid * self.grid * self.per_cell
    }

    /// True if the layer holds no anchor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Anchor centres in the network's output order (row by row, cell by cell, anchor by anchor).
    pub fn anchors(&self) -> Vec<Anchor> {
        let mut out = Vec::with_capacity(self.len());
        for y in 0..self.grid {
            for x in 0..self.grid {
                let centre = [
                    (x as f32 + 0.5) / self.grid as f32,
                    (y as f32 + 0.5) / self.grid as f32,
                ];
                out.extend(std::iter::repeat_n(Anchor { centre }, self.per_cell));
            }
        }
        out
    }
}

/// One anchor: its centre as a fraction of the detector input (x right, y down, in `[0, 1]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    /// `[x, y]` in `[0, 1]`.
    pub centre: [f32; 2],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blazeface_layers_hold_896_anchors_in_output_order() {
        let all: Vec<Anchor> = AnchorLayer::BLAZEFACE
            .iter()
            .flat_map(|layer| layer.anchors())
            .collect();
        assert_eq!(all.len(), 896);
        // First cell of the first layer, both anchors.
        assert_eq!(all[0].centre, [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(all[1].centre, all[0].centre);
        // Second cell moves along x.
        assert_eq!(all[2].centre, [1.5 / 16.0, 0.5 / 16.0]);
        // First anchor of the second layer.
        assert_eq!(all[512].centre, [0.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(all[895].centre, [7.5 / 8.0, 7.5 / 8.0]);
    }
}
