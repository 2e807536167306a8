//! Whole-photo mode end to end (detector + the tiny random-weight model, or a stand-in
//! restorer): no face, small faces, overlapping faces, grayscale / RGBA / EXIF-rotated files,
//! `--save-faces` and `--draw-boxes`.

use crate::util::*;

use daefr::detect::{Face, FaceDetector};
use daefr::geometry::Template;
use daefr::image_io::read_rgb;
use daefr::model::{LoadOptions, Restorer};
use daefr::photo::{restore_faces, FaceOutcome, FacePipeline, FaceSelection, PhotoOptions};
use image::{imageops, Rgb, RgbImage};

const TEMPLATE: Template = Template {
    right_eye: [44.1, 58.0],
    left_eye: [83.9, 58.0],
    nose_tip: [64.0, 80.2],
    mouth_center: [64.0, 97.5],
};

fn tiny_restorer() -> Restorer {
    let opts = LoadOptions {
        use_cache: false,
        ..LoadOptions::default()
    };
    Restorer::load(&repo("tests/fixtures/daefr-tiny.onnx"), &opts).expect("tiny model loads")
}

/// A stand-in restorer: brightens the crop, so pasted regions are easy to find.
fn brighten(crop: &RgbImage) -> daefr::Result<RgbImage> {
    let mut out = crop.clone();
    out.pixels_mut()
        .for_each(|p| p.0 = p.0.map(|v| v.saturating_add(50)));
    Ok(out)
}

fn corners_unchanged(a: &RgbImage, b: &RgbImage) -> bool {
    let (w, h) = a.dimensions();
    [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]
        .iter()
        .all(|&(x, y)| a.get_pixel(x, y) == b.get_pixel(x, y))
}

#[test]
fn a_photo_without_a_face_comes_back_unchanged() {
    let blank = RgbImage::from_pixel(300, 200, Rgb([40, 90, 160]));
    let out = FacePipeline::new(Box::new(short_range_detector()), tiny_restorer())
        .run(&blank, &PhotoOptions::default())
        .expect("no error");
    assert!(out.faces.is_empty());
    assert_eq!(out.image, blank);
}

#[test]
fn the_portrait_is_restored_with_the_real_pipeline_and_the_rest_untouched() {
    let photo = astronaut();
    let out = FacePipeline::new(Box::new(short_range_detector()), tiny_restorer())
        .run(&photo, &PhotoOptions::default())
        .expect("restore");
    assert_eq!(out.restored(), 1);
    assert_eq!(out.image.dimensions(), photo.dimensions());
    assert!(corners_unchanged(&out.image, &photo));
    let face = out.faces[0].0;
    let [nx, ny] = face.keypoints[2];
    assert_ne!(
        out.image.get_pixel(nx as u32, ny as u32),
        photo.get_pixel(nx as u32, ny as u32),
        "the face was replaced by the network's output"
    );
    // Outside the face's neighbourhood (3 box widths away) nothing changed.
    let reach = 3.0 * face.width();
    for (x, y, p) in out.image.enumerate_pixels() {
        let far = (x as f32 - nx).abs() > reach || (y as f32 - ny).abs() > reach;
        if far {
            assert_eq!(p, photo.get_pixel(x, y), "({x}, {y}) changed");
        }
    }
}

#[test]
fn faces_under_min_face_are_skipped_and_left_alone() {
    let small = imageops::resize(&astronaut(), 200, 200, imageops::FilterType::Triangle);
    let faces = short_range_detector().detect(&small).expect("detect");
    assert_eq!(faces.len(), 1, "{faces:?}");
    let options = PhotoOptions {
        min_face: faces[0].width() + 1.0,
        ..PhotoOptions::default()
    };
    let out = restore_faces(&small, &faces, &TEMPLATE, 128, &options, brighten).expect("ok");
    assert_eq!(out.faces[0].1, FaceOutcome::TooSmall);
    assert_eq!(out.image, small);
    let options = PhotoOptions {
        min_face: faces[0].width() - 1.0,
        ..PhotoOptions::default()
    };
    let out = restore_faces(&small, &faces, &TEMPLATE, 128, &options, brighten).expect("ok");
    assert_eq!(out.faces[0].1, FaceOutcome::Restored);
    assert_ne!(out.image, small);
}

#[test]
fn overlapping_faces_are_each_cut_from_the_original_and_both_pasted() {
    let photo = astronaut();
    let face = short_range_detector().detect(&photo).expect("detect")[0];
    let mut neighbour = face;
    let shift = face.width() * 0.4;
    neighbour.bbox[0] += shift;
    neighbour.bbox[2] += shift;
    neighbour.keypoints.iter_mut().for_each(|k| k[0] += shift);
    neighbour.score = face.score * 0.9;
    let mut seen = Vec::new();
    let out = restore_faces(
        &photo,
        &[face, neighbour],
        &TEMPLATE,
        128,
        &PhotoOptions::default(),
        |crop| {
            seen.push(crop.clone());
            brighten(crop)
        },
    )
    .expect("ok");
    assert_eq!(out.restored(), 2);
    // Both crops came from the untouched photo: none was brightened twice before restoring.
    let mean = |img: &RgbImage| {
        img.as_raw().iter().map(|&v| v as f32).sum::<f32>() / img.as_raw().len() as f32
    };
    let expected = [&face, &neighbour].map(|f| {
        let a = daefr::align::align_face(&photo, f, &TEMPLATE, 128).expect("align");
        mean(&a.crop)
    });
    let got: Vec<f32> = seen.iter().map(mean).collect();
    let mut expected = expected.to_vec();
    expected.reverse(); // lowest score is restored and pasted first
    for (g, e) in got.iter().zip(expected) {
        assert!((g - e).abs() < 0.01, "crop mean {g} vs {e}");
    }
    assert!(corners_unchanged(&out.image, &photo));
}

#[test]
fn save_faces_and_draw_boxes_write_what_they_promise() {
    let photo = astronaut();
    let faces = short_range_detector().detect(&photo).expect("detect");
    let dir = tempfile::tempdir().expect("tempdir");
    let options = PhotoOptions {
        save_faces: Some(dir.path().join("faces")),
        draw_boxes: true,
        ..PhotoOptions::default()
    };
    let out = restore_faces(&photo, &faces, &TEMPLATE, 128, &options, brighten).expect("ok");
    for what in ["aligned", "restored"] {
        let path = dir.path().join("faces").join(format!("face-00-{what}.png"));
        let img = image::open(&path).expect("saved crop").to_rgb8();
        assert_eq!(img.dimensions(), (128, 128));
    }
    let [x0, y0, _, _] = faces[0].bbox.map(|v| v.round() as u32);
    assert_eq!(out.image.get_pixel(x0, y0 + 5), &Rgb([0, 255, 0]));
}

/// JPEG bytes of `image` with an EXIF APP1 segment holding `orientation`.
fn jpeg_with_orientation(image: &RgbImage, orientation: u8) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(image)
        .expect("encode");
    let tiff: [u8; 26] = [
        b'M',
        b'M',
        0,
        42,
        0,
        0,
        0,
        8, // big-endian TIFF header, IFD at 8
        0,
        1, // one entry
        0x01,
        0x12,
        0,
        3,
        0,
        0,
        0,
        1,
        0,
        orientation,
        0,
        0, // Orientation, SHORT, 1 value
        0,
        0,
        0,
        0, // no next IFD
    ];
    let mut app1 = vec![0xFF, 0xE1];
    let length = (2 + 6 + tiff.len()) as u16;
    app1.extend_from_slice(&length.to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_rotated_grayscale_and_rgba_files_are_restored_upright() {
    let dir = tempfile::tempdir().expect("tempdir");
    let upright = astronaut();
    // Stored sideways, EXIF orientation 6 says "rotate 90 degrees clockwise to display".
    let exif_path = dir.path().join("sideways.jpg");
    std::fs::write(
        &exif_path,
        jpeg_with_orientation(&imageops::rotate270(&upright), 6),
    )
    .expect("write");
    let grey_path = dir.path().join("grey.png");
    image::DynamicImage::ImageRgb8(upright.clone())
        .to_luma8()
        .save(&grey_path)
        .expect("write");
    let rgba_path = dir.path().join("rgba.png");
    image::DynamicImage::ImageRgb8(upright.clone())
        .to_rgba8()
        .save(&rgba_path)
        .expect("write");
    let mut pipeline = FacePipeline::new(Box::new(short_range_detector()), tiny_restorer());
    for path in [&exif_path, &grey_path, &rgba_path] {
        let photo = read_rgb(path).expect("read");
        assert_eq!(photo.dimensions(), (512, 512));
        let out = pipeline
            .run(&photo, &PhotoOptions::default())
            .expect("restore");
        assert_eq!(out.restored(), 1, "{}", path.display());
        let k = out.faces[0].0.keypoints;
        assert!(
            k[0][1] < k[3][1] && k[1][1] < k[3][1],
            "{}: upright face {k:?}",
            path.display()
        );
    }
}

#[test]
fn a_face_box_wider_than_the_photo_and_a_one_pixel_photo_do_not_panic() {
    let photo = RgbImage::from_pixel(1, 1, Rgb([10, 20, 30]));
    let face = Face {
        bbox: [-50.0, -50.0, 50.0, 50.0],
        score: 0.9,
        keypoints: [
            [-10.0, -10.0],
            [10.0, -10.0],
            [0.0, 5.0],
            [0.0, 20.0],
            [-20.0, 0.0],
            [20.0, 0.0],
        ],
    };
    let out = restore_faces(
        &photo,
        &[face],
        &TEMPLATE,
        128,
        &PhotoOptions::default(),
        brighten,
    )
    .expect("ok");
    assert_eq!(out.image.dimensions(), (1, 1));
}

/// A face like `face` moved by `dx` and scaled by `k` about its box's top-left corner.
fn moved(face: &Face, dx: f32, k: f32) -> Face {
    let mut f = *face;
    let (x0, y0) = (face.bbox[0], face.bbox[1]);
    f.bbox = [
        x0 + dx,
        y0,
        x0 + dx + (face.bbox[2] - x0) * k,
        y0 + (face.bbox[3] - y0) * k,
    ];
    for p in f.keypoints.iter_mut() {
        p[0] = x0 + dx + (p[0] - x0) * k;
        p[1] = y0 + (p[1] - y0) * k;
    }
    f
}

#[test]
fn only_restores_the_one_face_it_picks_and_leaves_the_others() {
    let photo = astronaut();
    let face = short_range_detector().detect(&photo).expect("detect")[0];
    // best score first: a small face at the left, the real one (largest, nearest the centre)
    let small = moved(&face, -face.bbox[0], 0.5);
    let faces = [small, face];
    assert_eq!(FaceSelection::Largest.pick(&faces, (512, 512)), Some(1));
    assert_eq!(FaceSelection::Center.pick(&faces, (512, 512)), Some(1));
    assert_eq!(FaceSelection::Index(0).pick(&faces, (512, 512)), Some(0));
    assert_eq!(FaceSelection::Index(2).pick(&faces, (512, 512)), None);
    assert_eq!(FaceSelection::Largest.pick(&[], (512, 512)), None);
    let options = PhotoOptions {
        only: Some(FaceSelection::Largest),
        min_face: 0.0,
        ..PhotoOptions::default()
    };
    let out = restore_faces(&photo, &faces, &TEMPLATE, 128, &options, brighten).expect("ok");
    let outcomes: Vec<FaceOutcome> = out.faces.iter().map(|f| f.1).collect();
    assert_eq!(outcomes, [FaceOutcome::NotSelected, FaceOutcome::Restored]);
    let options = PhotoOptions {
        only: Some(FaceSelection::Index(5)),
        ..options
    };
    let out = restore_faces(&photo, &faces, &TEMPLATE, 128, &options, brighten).expect("ok");
    assert_eq!(out.restored(), 0);
    assert_eq!(
        out.image, photo,
        "no face picked: the photo is left as it is"
    );
    for (text, want) in [
        ("largest", FaceSelection::Largest),
        ("centre", FaceSelection::Center),
        ("CENTER", FaceSelection::Center),
        ("3", FaceSelection::Index(3)),
    ] {
        assert_eq!(text.parse::<FaceSelection>(), Ok(want));
    }
    assert!("biggest".parse::<FaceSelection>().is_err());
    assert!("-1".parse::<FaceSelection>().is_err());
}
