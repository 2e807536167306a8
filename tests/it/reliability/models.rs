//! Never trust a bad model: a cache belongs to its ONNX file's content, unsupported inputs are
//! refused by name, `DAEFR_MODEL` that points nowhere is an error.

use super::*;

// ---------------------------------------------------------------------------------------------
// 4. the NNEF cache belongs to the content of its ONNX file, not to its time

/// Sets a file's modification time to 2001.
fn make_old(path: &Path) {
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(old))
        .expect("set mtime");
}

#[test]
fn a_cache_made_from_another_onnx_file_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let onnx = dir.path().join("m.onnx");
    std::fs::copy(identity_model(), &onnx).expect("copy");
    let mut convert = daefr_cmd();
    convert.arg("convert").arg(&onnx);
    let out = output_within(convert, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));

    // `cp -p` of a new model over the old one: new content, old time (older than the cache).
    std::fs::copy(repo("tests/fixtures/daefr-tiny-v1.onnx"), &onnx).expect("copy");
    make_old(&onnx);

    let face = dir.path().join("face.png");
    noisy(32, 32, 9).save(&face).expect("save");
    let (cached, fresh) = (dir.path().join("cached.png"), dir.path().join("fresh.png"));
    let run = |output: &Path, extra: &[&str]| {
        let mut cmd = daefr_cmd();
        cmd.arg("restore")
            .arg(&face)
            .arg("-o")
            .arg(output)
            .args(["--aligned", "--model"])
            .arg(&onnx)
            .args(extra);
        output_within(cmd, Duration::from_secs(60))
    };
    let out = run(&cached, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ignoring NNEF cache"),
        "no warning: {}",
        stderr(&out)
    );
    let out = run(&fresh, &["--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        image::open(&cached).expect("cached").to_rgb8(),
        image::open(&fresh).expect("fresh").to_rgb8(),
        "the stale cache ran instead of the new model"
    );

    // A cache of the very same content is used whatever the times say.
    std::fs::copy(identity_model(), &onnx).expect("copy");
    let mut convert = daefr_cmd();
    convert.arg("convert").arg(&onnx);
    assert!(output_within(convert, Duration::from_secs(60))
        .status
        .success());
    make_old(&dir.path().join("m.nnef.tar"));
    let restorer = Restorer::load(&onnx, &LoadOptions::default()).expect("load");
    assert_eq!(restorer.format(), daefr::model::ModelFormat::Nnef);
}

// ---------------------------------------------------------------------------------------------
// 11. model inputs the runtime does not implement are refused by name

/// The identity model with its input declaration changed by `edit`, written to `path`.
fn edited_identity(path: &Path, edit: impl FnOnce(&mut tract_onnx::pb::TypeProto)) {
    use prost::Message;
    let bytes = std::fs::read(identity_model()).expect("read");
    let mut model = tract_onnx::pb::ModelProto::decode(&bytes[..]).expect("decode");
    let graph = model.graph.as_mut().expect("graph");
    let input = graph
        .input
        .iter_mut()
        .find(|i| i.name == "input")
        .expect("input");
    edit(input.r#type.as_mut().expect("type"));
    std::fs::write(path, model.encode_to_vec()).expect("write");
}

fn tensor_type(t: &mut tract_onnx::pb::TypeProto) -> &mut tract_onnx::pb::type_proto::Tensor {
    match t.value.as_mut() {
        Some(tract_onnx::pb::type_proto::Value::TensorType(tensor)) => tensor,
        _ => panic!("not a tensor type"),
    }
}

fn load_error(path: &Path) -> String {
    let options = LoadOptions {
        use_cache: false,
        ..LoadOptions::default()
    };
    match Restorer::load(path, &options) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_uint8_input_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("uint8.onnx");
    edited_identity(&path, |t| {
        tensor_type(t).elem_type = tract_onnx::pb::tensor_proto::DataType::Uint8 as i32;
    });
    let err = load_error(&path);
    assert!(err.contains("uint8") && err.contains("float32"), "{err}");
}

#[test]
fn dynamic_input_dimensions_are_refused_by_name() {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dynamic.onnx");
    edited_identity(&path, |t| {
        let shape = tensor_type(t).shape.as_mut().expect("shape");
        shape.dim[0].value = Some(Value::DimParam("batch".into()));
        shape.dim[2].value = None;
    });
    let err = load_error(&path);
    assert!(err.contains("dynamic") && err.contains("batch"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// 12. DAEFR_MODEL that points nowhere is an error, not a fallback

#[test]
fn daefr_model_pointing_nowhere_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("face.png");
    noisy(32, 32, 13).save(&input).expect("save");
    let missing = dir.path().join("missing.onnx");
    let mut cmd = daefr_cmd();
    cmd.arg("restore")
        .arg(&input)
        .arg("-o")
        .arg(dir.path().join("out.png"))
        .arg("--aligned")
        .env("DAEFR_MODEL", &missing);
    let out = output_within(cmd, Duration::from_secs(120));
    assert!(!out.status.success(), "fell back to the bundled model");
    let err = stderr(&out);
    assert!(
        err.contains("DAEFR_MODEL") && err.contains("missing.onnx"),
        "{err}"
    );
    assert!(!dir.path().join("out.png").exists());
}
