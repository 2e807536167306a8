//! Frame sources other than the camera: Y4M video, image directory, synthetic, and `open_source`.

use std::path::Path;

use daefr::capture::{open_source, DirectorySource, FrameSource, SyntheticSource, Y4mSource};
use daefr::config::{Config, SourceKind};
use image::{Rgb, RgbImage};

#[test]
fn y4m_frames_decode_to_the_encoded_colours_and_loop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clip.y4m");
    let (w, h) = (8usize, 4usize);
    {
        let file = std::fs::File::create(&path).expect("create");
        let mut enc = y4m::encode(w, h, y4m::Ratio::new(30, 1))
            .with_colorspace(y4m::Colorspace::C420jpeg)
            .write_header(file)
            .expect("header");
        // Frame 0: white; frame 1: black (BT.601 limited range).
        for luma in [235u8, 16] {
            let y = vec![luma; w * h];
            let c = vec![128u8; (w / 2) * (h / 2)];
            enc.write_frame(&y4m::Frame::new([&y, &c, &c], None))
                .expect("frame");
        }
    }
    let mut source = Y4mSource::open(&path, None).expect("open");
    let colours: Vec<[u8; 3]> = (0..3)
        .map(|_| source.next_frame().expect("frame").get_pixel(3, 2).0)
        .collect();
    assert_eq!(colours, vec![[255, 255, 255], [0, 0, 0], [255, 255, 255]]);
}

#[test]
fn non_y4m_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clip.y4m");
    std::fs::write(&path, b"RIFF....AVI ").expect("write");
    let e = Y4mSource::open(&path, None).err().map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|e| e.contains("clip.y4m") && e.contains("Y4M")),
        "{e:?}"
    );
}

#[test]
fn directory_source_plays_images_in_name_order_resized_and_looped() {
    let dir = tempfile::tempdir().expect("tempdir");
    RgbImage::from_pixel(10, 10, Rgb([200, 0, 0]))
        .save(dir.path().join("b.png"))
        .expect("save");
    RgbImage::from_pixel(10, 10, Rgb([0, 200, 0]))
        .save(dir.path().join("a.png"))
        .expect("save");
    std::fs::write(dir.path().join("notes.txt"), "ignored").expect("write");
    let mut source = DirectorySource::open(dir.path(), Some((20, 16)), None).expect("open");
    let frames: Vec<RgbImage> = (0..3)
        .map(|_| source.next_frame().expect("frame"))
        .collect();
    assert_eq!(frames[0].dimensions(), (20, 16));
    assert_eq!(frames[0].get_pixel(5, 5).0, [0, 200, 0]);
    assert_eq!(frames[1].get_pixel(5, 5).0, [200, 0, 0]);
    assert_eq!(frames[2].get_pixel(5, 5).0, [0, 200, 0]);
}

#[test]
fn empty_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(DirectorySource::open(dir.path(), None, None).is_err());
}

#[test]
fn synthetic_source_reports_where_it_drew_the_faces() {
    let (mut source, mut feed) = SyntheticSource::new(640, 480, 3, 1, None)
        .expect("synthetic")
        .with_truth();
    let frame = source.next_frame().expect("frame");
    assert_eq!(frame.dimensions(), (640, 480));
    let truth = feed.faces_of(0).expect("the truth of the frame delivered");
    assert_eq!(truth.len(), 3);
    for face in truth {
        let [x0, y0, x1, y1] = face.bbox;
        assert!(
            x0 >= 0.0 && y0 >= 0.0 && x1 <= 640.0 && y1 <= 480.0,
            "{face:?}"
        );
        // The face is darker-and-more-varied than the smooth background around it: check that
        // the eye region differs from the frame corner.
        let eye = frame.get_pixel(face.keypoints[0][0] as u32, face.keypoints[0][1] as u32);
        assert_ne!(eye, frame.get_pixel(1, 1));
    }
}

#[test]
fn camera_without_the_feature_says_how_to_enable_it() {
    let config = Config::parse(
        "[source]\nkind = \"camera\"\npath = \"/dev/video0\"\n",
        Path::new("cam.toml"),
    )
    .expect("config");
    assert_eq!(config.source.kind, SourceKind::Camera);
    let result = open_source(&(&config.source).into());
    if cfg!(feature = "camera") {
        // No camera on the build machines: opening must fail with the device named.
        let e = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("/dev/video0"), "{e}");
    } else {
        let e = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("--features camera"), "{e}");
    }
}
