//! The fidelity weight `w` of a version-2 model, fixed or chosen per face (`--fidelity auto`).
//!
//! A fixed weight is the same for every face. `auto` measures how much fine structure the aligned
//! crop holds ([`sharpness`]: mean absolute Laplacian of luma over the crop's central half, where
//! the template puts eyes, nose and mouth) and reads the weight off the model's own curve
//! (`daefr.fidelity_auto`, [`AutoCurve`]), which the toolchain measures on held-out faces: a
//! blurred face gets more of the network's face prior, a face that is already sharp stays close
//! to itself. CodeFormer and GFPGAN leave this choice to the user; a kiosk cannot ask.

use std::fmt;
use std::str::FromStr;

use image::RgbImage;

/// Metadata key of a model's auto-fidelity curve: `sharpness:weight` pairs, comma-separated,
/// sharpness ascending (e.g. `2.5:0.3,6:0.8,12:1`).
pub const KEY_FIDELITY_AUTO: &str = "daefr.fidelity_auto";

/// How the fidelity weight is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fidelity {
    /// The same weight in `0..=1` for every face.
    Weight(f32),
    /// Per face, from its [`sharpness`] and the model's [`AutoCurve`].
    Auto,
}

/// True for a weight the runtime accepts: finite and within `0..=1` (fidelity weights, `--blend`,
/// detector scores). The one place this range is checked.
pub fn is_unit_weight(w: f32) -> bool {
    w.is_finite() && (0.0..=1.0).contains(&w)
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fidelity::Weight(w) => write!(f, "{w}"),
            Fidelity::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for Fidelity {
    type Err = String;

    /// `auto`, or a weight in `0..=1` ([`is_unit_weight`]).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("auto") {
            return Ok(Fidelity::Auto);
        }
        let w: f32 = text
            .parse()
            .map_err(|_| format!("{text:?} is neither `auto` nor a weight in 0..=1"))?;
        if is_unit_weight(w) {
            Ok(Fidelity::Weight(w))
        } else {
            Err(format!("{text} is outside 0..=1"))
        }
    }
}

impl<'de> serde::Deserialize<'de> for Fidelity {
    /// A profile's `fidelity = 0.4` or `fidelity = "auto"`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(w) => Fidelity::from_str(&w.to_string()),
            Raw::Text(t) => Fidelity::from_str(&t),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// A model's curve from [`sharpness`] to fidelity weight: piecewise linear between its points,
/// flat beyond the first and the last.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoCurve {
    points: Vec<(f32, f32)>,
}

impl AutoCurve {
    /// Parses `s:w,s:w,...` (at least one pair; sharpness finite, >= 0 and strictly ascending;
    /// weights in `0..=1`).
    pub fn parse(text: &str) -> Result<AutoCurve, String> {
        let mut points = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (s, w) = pair
                .split_once(':')
                .ok_or_else(|| format!("{pair:?} is not `sharpness:weight`"))?;
            let s: f32 = s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a number"))?;
            let w: f32 = w
                .trim()
                .parse()
                .map_err(|_| format!("{w:?} is not a number"))?;
            if !(s.is_finite() && s >= 0.0) {
                return Err(format!("sharpness {s} is not a finite number >= 0"));
            }
            if !is_unit_weight(w) {
                return Err(format!("weight {w} is outside 0..=1"));
            }
            if points.last().is_some_and(|&(prev, _)| s <= prev) {
                return Err(format!("sharpness {s} does not ascend"));
            }
            points.push((s, w));
        }
        if points.is_empty() {
            return Err("no `sharpness:weight` pair".into());
        }
        Ok(AutoCurve { points })
    }

    /// The weight for a face of sharpness `s` (a non-finite `s` gets the sharpest end's weight,
    /// the one that changes the face least).
    pub fn weight_for(&self, s: f32) -> f32 {
        let (first, last) = (self.points[0], self.points[self.points.len() - 1]);
        if !s.is_finite() || s >= last.0 {
            return last.1;
        }
        if s <= first.0 {
            return first.1;
        }
        for pair in self.points.windows(2) {
            let ((s0, w0), (s1, w1)) = (pair[0], pair[1]);
            if s <= s1 {
                return w0 + (w1 - w0) * (s - s0) / (s1 - s0);
            }
        }
        last.1
    }

    /// The `(sharpness, weight)` points.
    pub fn points(&self) -> &[(f32, f32)] {
        &self.points
    }
}

impl fmt::Display for AutoCurve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (s, w)) in self.points.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{s}:{w}")?;
        }
        Ok(())
    }
}

/// Fine structure of an aligned face crop: the mean absolute 4-neighbour Laplacian of its luma
/// (Rec. 601, 0-255) over the central half of the crop in each direction (rows and columns
/// `S/4 .. S - S/4`). The toolchain's `losses.laplacian_energy` x 255 computes the same figure.
/// Blur, downsampling and JPEG lower it; a sharp face scores high. 0 for a crop under 3 px.
pub fn sharpness(face: &RgbImage) -> f32 {
    let (w, h) = (face.width() as usize, face.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let luma: Vec<f32> = face
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    let (top, bottom) = ((h / 4).max(1), (h - h / 4).min(h - 1));
    let (left, right) = ((w / 4).max(1), (w - w / 4).min(w - 1));
    if top >= bottom || left >= right {
        return 0.0;
    }
    let mut sum = 0.0f64;
    for y in top..bottom {
        let row = y * w;
        for x in left..right {
            let c = luma[row + x];
            let lap = 4.0 * c
                - luma[row + x - 1]
                - luma[row + x + 1]
                - luma[row - w + x]
                - luma[row + w + x];
            sum += f64::from(lap.abs());
        }
    }
    (sum / ((bottom - top) * (right - left)) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_auto_and_weights_and_refuses_the_rest() {
        assert_eq!("auto".parse::<Fidelity>(), Ok(Fidelity::Auto));
        assert_eq!(" AUTO ".parse::<Fidelity>(), Ok(Fidelity::Auto));
        assert_eq!("0.25".parse::<Fidelity>(), Ok(Fidelity::Weight(0.25)));
        assert!("1.5".parse::<Fidelity>().is_err());
        assert!("NaN".parse::<Fidelity>().is_err());
        assert!("sharp".parse::<Fidelity>().is_err());
    }

    #[test]
    fn a_profile_may_say_auto_or_a_number() {
        #[derive(serde::Deserialize)]
        struct P {
            fidelity: Fidelity,
        }
        let p: P = toml::from_str("fidelity = \"auto\"").expect("auto");
        assert_eq!(p.fidelity, Fidelity::Auto);
        let p: P = toml::from_str("fidelity = 0.5").expect("number");
        assert_eq!(p.fidelity, Fidelity::Weight(0.5));
        assert!(toml::from_str::<P>("fidelity = 2.0").is_err());
        assert!(toml::from_str::<P>("fidelity = \"max\"").is_err());
    }

    #[test]
    fn the_curve_interpolates_and_is_flat_outside() {
        let c = AutoCurve::parse("2:0.2, 6:0.6,10:1").expect("curve");
        assert_eq!(c.weight_for(0.0), 0.2);
        assert_eq!(c.weight_for(2.0), 0.2);
        assert!((c.weight_for(4.0) - 0.4).abs() < 1e-6);
        assert!((c.weight_for(8.0) - 0.8).abs() < 1e-6);
        assert_eq!(c.weight_for(50.0), 1.0);
        assert_eq!(c.weight_for(f32::NAN), 1.0);
        assert_eq!(c.to_string(), "2:0.2,6:0.6,10:1");
    }

    #[test]
    fn a_bad_curve_is_refused() {
        for bad in [
            "",
            "2",
            "2:1.5",
            "6:0.5,2:0.4",
            "2:0.5,2:0.6",
            "x:0.5",
            "-1:0.5",
        ] {
            assert!(AutoCurve::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn sharpness_is_zero_on_flat_and_grows_with_contrast() {
        let flat = RgbImage::from_pixel(16, 16, image::Rgb([90, 120, 200]));
        assert!(sharpness(&flat).abs() < 1e-3);
        let checker = |amp: u8| {
            RgbImage::from_fn(16, 16, |x, y| {
                let v = if (x + y) % 2 == 0 {
                    128 + amp
                } else {
                    128 - amp
                };
                image::Rgb([v, v, v])
            })
        };
        // a checkerboard of +-a has a Laplacian of 8a at every pixel
        assert!((sharpness(&checker(10)) - 80.0).abs() < 1e-3);
        assert!(sharpness(&checker(20)) > sharpness(&checker(10)));
    }
}
