//! Criterion: restore one aligned face with the bundled default model (fp32, ONNX and NNEF
//! loads, 1 thread). `cargo bench --bench restore`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use daefr::model::{require_default_model, LoadOptions, Restorer};
use image::{Rgb, RgbImage};

fn restore_one_face(c: &mut Criterion) {
    let Ok(model) = require_default_model() else {
        eprintln!("bundled model not found; nothing to benchmark");
        return;
    };
    let restorer = Restorer::load(
        &model,
        &LoadOptions {
            threads: None,
            use_cache: false,
            ..LoadOptions::default()
        },
    )
    .expect("load default model");
    let size = restorer.input_size();
    let face = RgbImage::from_fn(size, size, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]));
    let mut group = c.benchmark_group("restore");
    group.sample_size(20);
    group.bench_function(format!("{}x{size} 1 thread", model.display()), |b| {
        b.iter(|| restorer.restore(black_box(&face)).expect("restore"))
    });
    group.bench_function("load onnx + optimize", |b| {
        b.iter(|| {
            Restorer::load(
                &model,
                &LoadOptions {
                    threads: None,
                    use_cache: false,
                    ..LoadOptions::default()
                },
            )
        })
    });
    group.finish();
}

criterion_group!(benches, restore_one_face);
criterion_main!(benches);
