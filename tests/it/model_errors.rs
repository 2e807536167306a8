//! Model loading: contract checks give one-line errors naming the file; a valid model restores.

use crate::util::*;
use std::path::{Path, PathBuf};

use daefr::model::cache::write_nnef;
use daefr::model::{LoadOptions, ModelFormat, Restorer};
use daefr::Error;
use image::{Rgb, RgbImage};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

fn load(path: &Path) -> Result<Restorer, Error> {
    Restorer::load(path, &LoadOptions::default())
}

fn face(size: u32) -> RgbImage {
    RgbImage::from_fn(size, size, |x, y| {
        Rgb([(x * 8) as u8, (y * 8) as u8, ((x + y) * 4) as u8])
    })
}

#[test]
fn missing_model_file() {
    let path = fixture("does-not-exist.onnx");
    let err = load(&path).unwrap_err();
    assert!(matches!(err.kind(), Error::Io { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn not_onnx() {
    let path = fixture("not-onnx.onnx");
    let err = load(&path).unwrap_err();
    assert!(matches!(err.kind(), Error::ModelLoad { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn no_metadata() {
    let path = fixture("no-metadata.onnx");
    let err = load(&path).unwrap_err();
    assert!(matches!(err.kind(), Error::ModelMetadata { .. }), "{err}");
    assert!(err.to_string().contains("daefr.format_version"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn wrong_input_shape() {
    let path = fixture("wrong-shape.onnx");
    let err = load(&path).unwrap_err();
    assert!(matches!(err.kind(), Error::ModelShape { .. }), "{err}");
    assert!(err.to_string().contains("[1, 3, 16, 16]"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn identity_model_restores_exactly() {
    let restorer = load(&fixture("identity-32.onnx")).unwrap();
    assert_eq!(restorer.input_size(), 32);
    assert_eq!(restorer.template().nose_tip, [16.0, 19.0]);
    let input = face(32);
    assert_eq!(restorer.restore(&input).unwrap(), input);
}

#[test]
fn wrong_face_size_is_an_error() {
    let restorer = load(&fixture("identity-32.onnx")).unwrap();
    let err = restorer.restore(&face(31)).expect_err("should fail");
    assert!(
        matches!(
            err.kind(),
            Error::FaceSize {
                width: 31,
                height: 31,
                size: 32,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn threads_give_the_same_result() {
    // a real network (the tiny DAEFR: convolutions, norms, attention, code lookup), so that the
    // matrix kernels actually split work between threads
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/daefr-tiny.onnx");
    let at = |threads: usize| {
        let opts = LoadOptions {
            threads: Some(threads),
            use_cache: false,
            ..LoadOptions::default()
        };
        Restorer::load(&model, &opts)
            .unwrap()
            .restore(&face(32))
            .unwrap()
    };
    let one = at(1);
    assert_ne!(
        one,
        face(32),
        "the network must change the face for the comparison to mean anything"
    );
    assert_eq!(at(2), one, "2 threads restore exactly like 1");
    assert_eq!(at(3), one, "3 threads restore exactly like 1");
}

#[test]
fn nnef_cache_keeps_metadata_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("m.onnx");
    std::fs::copy(fixture("identity-32.onnx"), &onnx).unwrap();
    let cache = daefr::model::cache::cache_path_for(&onnx);
    assert_eq!(cache.file_name().unwrap(), "m.nnef.tar");
    write_nnef(&onnx, &cache).unwrap();

    // Loading the NNEF file directly: metadata survived the conversion.
    let direct = load(&cache).unwrap();
    assert_eq!(direct.format(), ModelFormat::Nnef);
    assert_eq!(direct.input_size(), 32);
    assert_eq!(
        direct.metadata().get("daefr.licence"),
        Some("test fixture, no weights")
    );
    assert_eq!(direct.restore(&face(32)).unwrap(), face(32));

    // Loading the ONNX path picks the fresh cache up, unless told not to.
    assert_eq!(load(&onnx).unwrap().format(), ModelFormat::Nnef);
    let no_cache = LoadOptions {
        use_cache: false,
        ..LoadOptions::default()
    };
    assert_eq!(
        Restorer::load(&onnx, &no_cache).unwrap().format(),
        ModelFormat::Onnx
    );
}

#[test]
fn corrupt_nnef_cache_falls_back_to_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("m.onnx");
    std::fs::copy(fixture("identity-32.onnx"), &onnx).unwrap();
    std::fs::write(daefr::model::cache::cache_path_for(&onnx), b"garbage").unwrap();
    let restorer = load(&onnx).unwrap();
    assert_eq!(restorer.format(), ModelFormat::Onnx);
}

#[test]
fn restorer_is_send() {
    fn is_send<T: Send>() {}
    is_send::<Restorer>();
}

#[test]
fn external_data_loads_and_a_fifo_in_its_place_is_refused_not_read() {
    // the committed fixture loads and restores like identity-32
    let restorer = load(&fixture("external-32.onnx")).expect("external data loads");
    let crop = face(32);
    assert_eq!(restorer.restore(&crop).expect("restores"), crop);

    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("external-32.onnx");
    std::fs::copy(fixture("external-32.onnx"), &model).expect("copy");
    let fifo = dir.path().join("external-32.weights");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    // on a thread: before the fix this blocked forever in open()
    let (tx, rx) = std::sync::mpsc::channel();
    let path = model.clone();
    std::thread::spawn(move || {
        let _ = tx.send(load(&path).map(|_| ()));
    });
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("loading a model whose external data is a FIFO hung");
    let err = result.unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert_names_file(&err, &model);
}

#[test]
fn an_nnef_cache_with_altered_weights_is_not_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let onnx = dir.path().join("m.onnx");
    std::fs::copy(fixture("identity-32.onnx"), &onnx).expect("copy");
    let cache = daefr::model::cache::cache_path_for(&onnx);
    write_nnef(&onnx, &cache).expect("convert");
    assert_eq!(
        load(&onnx).expect("loads").format(),
        ModelFormat::Nnef,
        "a fresh cache is used"
    );

    // Alter one weight inside its tar entry: the archive stays a valid tar (tar checksums cover
    // headers only) and the source key is intact.
    let mut bytes = std::fs::read(&cache).expect("read");
    let mut archive = tar::Archive::new(bytes.as_slice());
    let (offset, size) = archive
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry"))
        .find(|e| {
            e.path()
                .expect("path")
                .extension()
                .is_some_and(|x| x == "dat")
        })
        .map(|e| (e.raw_file_position() as usize, e.size() as usize))
        .expect("a tensor entry");
    bytes[offset + size - 1] ^= 0x40;
    std::fs::write(&cache, &bytes).expect("write");
    assert!(tar::Archive::new(bytes.as_slice())
        .entries()
        .expect("tar")
        .all(|e| e.is_ok()));

    let restorer = load(&onnx).expect("loads");
    assert_eq!(
        restorer.format(),
        ModelFormat::Onnx,
        "an altered cache was used"
    );
    assert_eq!(restorer.restore(&face(32)).expect("restores"), face(32));
}
