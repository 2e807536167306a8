//! 2-D similarity transforms (rotation, uniform scale, translation) and their least-squares fit.

/// A similarity transform `p' = s R p + t`, stored as the 2x3 matrix
/// `[[a, -b, tx], [b, a, ty]]` with `a = s cos(theta)`, `b = s sin(theta)`.
///
/// In [`crate::align::AlignedFace`] it maps frame pixels to crop pixels (both continuous
/// coordinates, pixel centres at integer + 0.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// `s cos(theta)`.
    pub a: f32,
    /// `s sin(theta)`.
    pub b: f32,
    /// Translation along x.
    pub tx: f32,
    /// Translation along y.
    pub ty: f32,
}

impl Similarity {
    /// The identity transform.
    pub const IDENTITY: Similarity = Similarity {
        a: 1.0,
        b: 0.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// Apply the transform to a point.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    /// Uniform scale factor `s` (destination units per source unit).
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// Rotation angle in radians (counter-clockwise in a y-up frame; clockwise on screen).
    pub fn angle(&self) -> f32 {
        self.b.atan2(self.a)
    }

    /// The 2x3 matrix `[[a, -b, tx], [b, a, ty]]`.
    pub fn matrix(&self) -> [[f32; 3]; 2] {
        [[self.a, -self.b, self.tx], [self.b, self.a, self.ty]]
    }

    /// The inverse transform, or `None` when the scale is zero or not finite.
    pub fn inverse(&self) -> Option<Similarity> {
        let det = self.a * self.a + self.b * self.b;
        if !(det.is_finite() && det > f32::EPSILON * f32::EPSILON) {
            return None;
        }
        let (ia, ib) = (self.a / det, -self.b / det);
        Some(Similarity {
            a: ia,
            b: ib,
            tx: -(ia * self.tx - ib * self.ty),
            ty: -(ib * self.tx + ia * self.ty),
        })
    }

    /// `self` after `first`: the transform that applies `first`, then `self`.
    pub fn after(&self, first: &Similarity) -> Similarity {
        let t = self.apply([first.tx, first.ty]);
        Similarity {
            a: self.a * first.a - self.b * first.b,
            b: self.b * first.a + self.a * first.b,
            tx: t[0],
            ty: t[1],
        }
    }
}

/// Least-squares similarity mapping `src` points onto `dst` points (Umeyama's closed form in 2-D,
/// no reflection). `None` when the lists differ in length, hold fewer than two points, contain a
/// non-finite value, or the source points all coincide.
pub fn estimate_similarity(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Similarity> {
    if src.len() != dst.len() || src.len() < 2 {
        return None;
    }
    if src.iter().chain(dst).flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let n = src.len() as f64;
    let mean = |pts: &[[f32; 2]]| {
        let (sx, sy) = pts.iter().fold((0.0f64, 0.0f64), |(x, y), p| {
            (x + p[0] as f64, y + p[1] as f64)
        });
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut dot, mut cross, mut norm) = (0.0f64, 0.0f64, 0.0f64);
    for (s, d) in src.iter().zip(dst) {
        let (px, py) = (s[0] as f64 - msx, s[1] as f64 - msy);
        let (qx, qy) = (d[0] as f64 - mdx, d[1] as f64 - mdy);
        dot += px * qx + py * qy;
        cross += px * qy - py * qx;
        norm += px * px + py * py;
    }
    if norm <= 1e-12 {
        return None;
    }
    let a = dot / norm;
    let b = cross / norm;
    if a.hypot(b) <= 1e-12 {
        return None;
    }
    Some(Similarity {
        a: a as f32,
        b: b as f32,
        tx: (mdx - (a * msx - b * msy)) as f32,
        ty: (mdy - (b * msx + a * msy)) as f32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(p: [f32; 2], q: [f32; 2]) -> bool {
        (p[0] - q[0]).abs() < 1e-3 && (p[1] - q[1]).abs() < 1e-3
    }

    #[test]
    fn recovers_a_known_transform_exactly() {
        let truth = Similarity {
            a: 0.8 * 0.3f32.cos(),
            b: 0.8 * 0.3f32.sin(),
            tx: 12.0,
            ty: -7.0,
        };
        let src = [[10.0, 20.0], [50.0, 22.0], [30.0, 45.0], [31.0, 60.0]];
        let dst: Vec<[f32; 2]> = src.iter().map(|&p| truth.apply(p)).collect();
        let fit = estimate_similarity(&src, &dst).expect("well-posed");
        for p in src {
            assert!(close(fit.apply(p), truth.apply(p)));
        }
        assert!((fit.scale() - 0.8).abs() < 1e-4);
        assert!((fit.angle() - 0.3).abs() < 1e-4);
    }

    #[test]
    fn inverse_and_composition_undo_each_other() {
        let t = Similarity {
            a: 1.7,
            b: -0.4,
            tx: 3.0,
            ty: 9.0,
        };
        let inv = t.inverse().expect("invertible");
        let p = [123.0, -45.0];
        assert!(close(inv.apply(t.apply(p)), p));
        let id = inv.after(&t);
        assert!(close(id.apply(p), p));
    }

    #[test]
    fn degenerate_inputs_give_none() {
        assert!(estimate_similarity(&[[1.0, 1.0]], &[[2.0, 2.0]]).is_none());
        assert!(estimate_similarity(
            &[[1.0, 1.0]; 4],
            &[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
        )
        .is_none());
        assert!(
            estimate_similarity(&[[0.0, 0.0], [f32::NAN, 1.0]], &[[0.0, 0.0], [1.0, 1.0]])
                .is_none()
        );
        assert!(estimate_similarity(&[[0.0, 0.0], [1.0, 1.0]], &[[0.0, 0.0]]).is_none());
        let zero = Similarity {
            a: 0.0,
            b: 0.0,
            tx: 1.0,
            ty: 1.0,
        };
        assert!(zero.inverse().is_none());
    }
}
