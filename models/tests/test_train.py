"""Training: the tiny config runs all three stages on synthetic faces, checkpoints resume, export loads."""

import json

import pytest
import torch

from daefr_models import train
from daefr_models.arch import DAEFR
from daefr_models.config import get_config


def run(tmp_path, *extra):
    return train.main(["--config", "tiny-32", "--data", "synthetic", "--synthetic-count", "24",
                       "--batch", "4", "--val-count", "4", "--out", str(tmp_path), *extra])


def test_the_cli_builds_train_options_with_the_same_defaults():
    import dataclasses

    opts = train.parse_args(["--data", "synthetic", "--out", "o", "--steps", "3"])
    assert opts == train.TrainOptions(data="synthetic", out="o", steps=3)
    flags = train.parse_args(["--data", "d", "--out", "o", "--minutes", "2", "--no-stage2-freeze-hq",
                              "--disc-weight", "0", "--variant", "concat", "--cpu"])
    assert flags == dataclasses.replace(train.TrainOptions(data="d", out="o", minutes=2.0), stage2_freeze_hq=False,
                                        disc_weight=0.0, variant="concat", cpu=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.lr = 1.0
    with pytest.raises(ValueError):
        train.TrainOptions(data="d", out="o")  # no budget: the run would never stop
    with pytest.raises(ValueError):
        train.TrainOptions(data="d", out="o", steps=1, variant="nope")
    with pytest.raises(SystemExit):
        train.parse_args(["--data", "d", "--out", "o"])


def test_a_run_takes_train_options(tmp_path):
    opts = train.TrainOptions(data="synthetic", out=tmp_path, config="tiny-32", stage="1", steps=2,
                              synthetic_count=24, batch=4, val_count=4, disc_weight=0.0)
    metrics = train.run(opts)
    assert metrics["stage1"]["steps"] == 2 and (tmp_path / "stage1.pt").exists()


def test_budget_progress():
    assert train.Budget(steps=10, seconds=None).progress(5, 1e9) == 0.5
    assert train.Budget(steps=None, seconds=10).progress(10**6, 2.5) == 0.25
    assert train.Budget(steps=10, seconds=10).progress(2, 8) == 0.8
    assert train.Budget(steps=10, seconds=None).progress(20, 0) == 1.0


def test_all_stages_train_and_write_a_loadable_model(tmp_path):
    metrics = run(tmp_path, "--stage", "all", "--steps", "6", "--gan-start", "0.3")
    for s in (1, 2, 3, 4):
        assert metrics[f"stage{s}"]["steps"] == 6
        assert (tmp_path / f"stage{s}.pt").exists()
    m3 = metrics["stage3"]
    for key in ("psnr", "ssim", "code_acc", "input_psnr", "images_per_s"):
        assert key in m3
    assert 0 <= m3["code_acc"] <= 1
    assert "assoc_acc" in metrics["stage2"]
    assert json.loads((tmp_path / "metrics.json").read_text())["stage3"]["steps"] == 6
    payload = torch.load(tmp_path / "model.pt", weights_only=False)
    assert payload["config"] == "tiny-32"
    model = DAEFR(get_config("tiny-32"), use_lq_encoder=payload["use_lq_encoder"], use_fusion=payload["use_fusion"])
    model.load_state_dict(payload["model"])
    out = model.eval().restore(torch.zeros(1, 3, 32, 32))
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()


def test_stage3_keeps_codebook_and_decoder_frozen(tmp_path):
    run(tmp_path, "--stage", "all", "--steps", "3", "--disc-weight", "0")
    s2 = torch.load(tmp_path / "stage2.pt", weights_only=False)["model"]
    s3 = torch.load(tmp_path / "stage3.pt", weights_only=False)["model"]
    for key in ("hq.quantize.embedding.weight", "hq.decoder.conv_out.weight", "hq.post_quant_conv.weight"):
        assert torch.equal(s2[key], s3[key]), key
    # while the transformer and the encoders did learn
    assert not torch.equal(s2["hq.encoder.conv_in.weight"], s3["hq.encoder.conv_in.weight"])


def test_stage2_keeps_the_hq_autoencoder_unless_told(tmp_path):
    run(tmp_path / "a", "--stage", "all", "--steps", "3", "--disc-weight", "0")
    run(tmp_path / "b", "--stage", "all", "--steps", "3", "--disc-weight", "0", "--no-stage2-freeze-hq")
    for sub, frozen in (("a", True), ("b", False)):
        s1 = torch.load(tmp_path / sub / "stage1.pt", weights_only=False)["model"]
        s2 = torch.load(tmp_path / sub / "stage2.pt", weights_only=False)["model"]
        hq = [k for k in s1 if k.startswith("hq.") and s1[k].is_floating_point()]
        assert any(k.startswith("hq.encoder.") for k in hq) and any(k.startswith("hq.decoder.") for k in hq)
        # encoder (stage 3's teacher), codebook and decoder: all or nothing
        assert all(torch.equal(s1[k], s2[k]) for k in hq) == frozen, sub
        assert any(not torch.equal(s1[k], s2[k]) for k in hq) != frozen, sub
        # the LQ encoder learns to associate either way
        assert not torch.equal(s1["lq.encoder.conv_in.weight"], s2["lq.encoder.conv_in.weight"])


def test_stage4_trains_the_fidelity_path_and_the_decoder_only(tmp_path):
    run(tmp_path, "--stage", "all", "--steps", "4", "--disc-weight", "0")
    s3 = torch.load(tmp_path / "stage3.pt", weights_only=False)["model"]
    s4 = torch.load(tmp_path / "stage4.pt", weights_only=False)["model"]
    changed = {k for k in s4 if not torch.equal(s4[k], s3.get(k, torch.zeros_like(s4[k])))}
    assert any(k.startswith("fidelity.") for k in changed)
    assert any(k.startswith("hq.decoder.") for k in changed)
    assert all(k.startswith(("fidelity.", "hq.decoder.")) for k in changed), sorted(changed)[:5]


def test_stage4_with_a_frozen_decoder_trains_only_the_fidelity_path(tmp_path):
    m = run(tmp_path, "--stage", "all", "--steps", "4", "--disc-weight", "0", "--stage4-decoder-lr", "0")
    s3 = torch.load(tmp_path / "stage3.pt", weights_only=False)["model"]
    s4 = torch.load(tmp_path / "stage4.pt", weights_only=False)["model"]
    changed = {k for k in s4 if not torch.equal(s4[k], s3.get(k, torch.zeros_like(s4[k])))}
    assert changed and all(k.startswith("fidelity.") for k in changed), sorted(changed)[:5]
    for key in ("input_psnr", "w0_psnr", "w0.5_psnr", "w1_psnr", "images_per_s"):
        assert key in m["stage4"]
    # w = 0 is the stage-3 restorer: same weights on the code path, so the same output
    model = DAEFR(get_config("tiny-32"))
    model.load_state_dict(s4)
    ref = DAEFR(get_config("tiny-32"))
    ref.load_state_dict(s3)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.eval().restore_with_fidelity(x, torch.zeros(1)), ref.eval().restore(x))


def test_init_from_another_head_form_trains_only_the_new_residual_head(tmp_path):
    run(tmp_path / "a", "--stage", "all", "--steps", "3", "--disc-weight", "0")
    src = torch.load(tmp_path / "a" / "model.pt", weights_only=False)["model"]
    m = train.main(["--config", "tiny-32-s2d", "--data", "synthetic", "--synthetic-count", "24", "--batch", "4",
                    "--val-count", "4", "--out", str(tmp_path / "b"), "--stage", "4", "--steps", "3",
                    "--init-from", str(tmp_path / "a" / "model.pt"), "--stage4-parts", "residual"])
    assert m["stage4"]["steps"] == 3
    s4 = torch.load(tmp_path / "b" / "stage4.pt", weights_only=False)["model"]
    assert "fidelity.residual.more.0.weight" in s4  # the s2d form, not the source's
    for k, v in s4.items():
        if not k.startswith("fidelity.residual."):
            assert torch.equal(v, src[k]), k  # nothing but the head moved, not even the decoder
    assert not torch.equal(s4["fidelity.residual.conv_out.weight"], torch.zeros_like(s4["fidelity.residual.conv_out.weight"]))
    # a checkpoint that differs outside the head is refused
    bad = dict(src)
    bad["hq.decoder.conv_in.weight"] = bad["hq.decoder.conv_in.weight"][:1]
    with pytest.raises(RuntimeError, match="outside the residual head"):
        DAEFR(get_config("tiny-32-s2d")).load_with_fresh_head(bad)
    with pytest.raises(FileNotFoundError):
        train.main(["--config", "tiny-32-s2d", "--data", "synthetic", "--synthetic-count", "24", "--batch", "4",
                    "--val-count", "4", "--out", str(tmp_path / "c"), "--stage", "4", "--steps", "1",
                    "--init-from", str(tmp_path / "nothing.pt")])


def stage4_from_an_s2d_model(tmp_path, config: str, parts: str) -> tuple[dict, dict]:
    """A few steps of every stage under tiny-32-s2d (in tmp_path/a), then stage 4 of `config` with
    `--stage4-parts parts` from it (in tmp_path/b): the source's and stage 4's state dicts."""
    train.main(["--config", "tiny-32-s2d", "--data", "synthetic", "--synthetic-count", "24", "--batch", "4",
                "--val-count", "4", "--out", str(tmp_path / "a"), "--stage", "all", "--steps", "3", "--disc-weight", "0"])
    src = torch.load(tmp_path / "a" / "model.pt", weights_only=False)["model"]
    train.main(["--config", config, "--data", "synthetic", "--synthetic-count", "24", "--batch", "4",
                "--val-count", "4", "--out", str(tmp_path / "b"), "--stage", "4", "--steps", "3",
                "--init-from", str(tmp_path / "a" / "model.pt"), "--stage4-parts", parts])
    return src, torch.load(tmp_path / "b" / "stage4.pt", weights_only=False)["model"]


def test_init_from_the_plain_head_into_a_film_head_keeps_it_and_trains_the_film(tmp_path):
    src, s4 = stage4_from_an_s2d_model(tmp_path, "tiny-32-s2d-film", "residual")
    for k, v in s4.items():
        if not k.startswith("fidelity.residual."):
            assert torch.equal(v, src[k]), k
    film = [k for k in s4 if ".film_" in k]
    assert len(film) == 2 * 3 and all(k not in src for k in film)
    assert any(s4[k].abs().sum() > 0 for k in film)  # they left zero: they train


def test_a_partial_stage_resumes_and_a_done_stage_is_skipped(tmp_path):
    run(tmp_path, "--stage", "1", "--steps", "3", "--disc-weight", "0")
    ck = torch.load(tmp_path / "stage1.pt", weights_only=False)
    assert ck["done"] and ck["step"] == 3
    # pretend the run was interrupted after step 3 of 5
    ck["done"] = False
    torch.save(ck, tmp_path / "stage1.pt")
    m = run(tmp_path, "--stage", "1", "--steps", "5", "--disc-weight", "0")
    assert m["stage1"]["steps"] == 5 and m["stage1"]["images"] == 5 * 4
    again = run(tmp_path, "--stage", "1", "--steps", "50", "--disc-weight", "0")
    assert again["stage1"]["steps"] == 5  # done: skipped, not retrained


@pytest.mark.parametrize("variant", ["hq_only", "no_assoc", "concat"])
def test_ablation_variants_train(tmp_path, variant):
    m = run(tmp_path, "--stage", "all", "--steps", "2", "--disc-weight", "0", "--variant", variant)
    assert ("stage2" in m) == train.VARIANTS[variant]["association"]
    payload = torch.load(tmp_path / "model.pt", weights_only=False)
    assert payload["variant"] == variant


def test_similarity_fit_recovers_a_known_transform():
    import numpy as np

    from daefr_models.evaluate import similarity_from_points

    src = np.array([[10.0, 20.0], [40.0, 21.0], [25.0, 40.0], [26.0, 55.0]])
    ang, s, t = 0.3, 1.7, np.array([5.0, -3.0])
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = src @ (s * rot).T + t
    m = similarity_from_points(src, dst)
    assert np.allclose(m[:, :2], s * rot, atol=1e-9) and np.allclose(m[:, 2], t, atol=1e-9)


def test_evaluate_compares_bicubic_torch_and_onnx(tmp_path):
    from pathlib import Path

    from daefr_models import evaluate, export
    from daefr_models.arch import load_checkpoint

    run(tmp_path, "--stage", "all", "--steps", "3", "--disc-weight", "0")
    model, _ = load_checkpoint(tmp_path / "model.pt")
    onnx_path = tmp_path / "tiny.onnx"
    export.export(model, onnx_path, template_path=None, licence="test")
    astronaut = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "astronaut.png"
    res = evaluate.main(["--checkpoint", str(tmp_path / "model.pt"), "--model", str(onnx_path),
                         "--data", str(astronaut), "--levels", "mild,moderate", "--sheet-dir", str(tmp_path / "sheets"),
                         "--fidelity", "0,0.5", "--json", str(tmp_path / "eval.json")])
    for level in ("mild", "moderate"):
        rows = res[level]
        bic, torch_row, onnx_row = rows["bicubic (degraded input)"], rows["pytorch fp32 w=0.5"], rows["tiny.onnx (none, w=0.5)"]
        assert "pytorch fp32 w=0" in rows and "tiny.onnx (none, w=0)" in rows
        assert abs(torch_row["psnr"] - onnx_row["psnr"]) < 0.05  # same network, two runtimes
        assert onnx_row["code_acc"] == pytest.approx(torch_row["code_acc"], abs=0.02)
        assert (tmp_path / "sheets" / f"contact-{level}.png").is_file()
    assert res["mild"]["bicubic (degraded input)"]["psnr"] > res["moderate"]["bicubic (degraded input)"]["psnr"]


def test_stage3_ablation_from_finished_autoencoders(tmp_path):
    from daefr_models import ablation

    run(tmp_path / "base", "--stage", "all", "--steps", "2", "--disc-weight", "0")
    res = ablation.main(["--config", "tiny-32", "--data", "synthetic", "--out", str(tmp_path / "abl"),
                         "--steps", "2", "--init-from", str(tmp_path / "base"), "--eval-limit", "4",
                         "--levels", "moderate", "--batch", "4",
                         "--train-args", "--synthetic-count 24 --val-count 4"])
    assert set(res) == {"hq_only", "no_assoc", "concat", "full"}
    base1 = torch.load(tmp_path / "base" / "stage1.pt", weights_only=False)["model"]
    base2 = torch.load(tmp_path / "base" / "stage2.pt", weights_only=False)["model"]
    seeded = {v: torch.load(tmp_path / "abl" / v / "stage2.pt", weights_only=False)["model"] for v in res}
    key = "lq.encoder.conv_in.weight"
    assert torch.equal(seeded["no_assoc"][key], base1[key])  # never associated
    assert torch.equal(seeded["concat"][key], base2[key])
    assert key not in seeded["hq_only"]
    for v in res:  # one shared HQ autoencoder: the same code targets for every variant
        assert torch.equal(seeded[v]["hq.quantize.embedding.weight"], base2["hq.quantize.embedding.weight"])
        assert "code_acc" in res[v]["eval"]["moderate"]["pytorch fp32"]


def test_fidelity_default_is_the_smallest_weight_that_clears_the_margins():
    from daefr_models.choose_fidelity import choose

    bic = {"psnr": 23.0, "ssim": 0.65}
    sweep = {0.0: {"psnr": 19.0, "ssim": 0.60}, 0.4: {"psnr": 23.5, "ssim": 0.70},
             0.6: {"psnr": 23.8, "ssim": 0.69}, 1.0: {"psnr": 24.2, "ssim": 0.71}}
    assert choose(sweep, bic, 0.7, 0.02) == 0.6  # 0.4 misses the PSNR margin
    assert choose(sweep, bic, 0.4, 0.02) == 0.4
    assert choose(sweep, bic, 5.0, 0.0) == 1.0  # nothing clears: the best PSNR


def test_stage4_gan_term_trains_a_discriminator_and_moves_the_decoder(tmp_path):
    run(tmp_path / "a", "--stage", "all", "--steps", "3", "--disc-weight", "0")
    start = ["--stage", "4", "--steps", "3", "--init-from", str(tmp_path / "a" / "stage3.pt")]
    run(tmp_path / "plain", *start)
    m = run(tmp_path / "gan", *start, "--stage4-gan-weight", "1")
    assert m["stage4"]["steps"] == 3 and "w0_detail" in m["stage4"]
    plain = torch.load(tmp_path / "plain" / "stage4.pt", weights_only=False)
    gan = torch.load(tmp_path / "gan" / "stage4.pt", weights_only=False)
    assert "disc" not in plain["trainer"] and "disc" in gan["trainer"]
    # the same start, batches and weights: only the adversarial term tells the two runs apart
    key = "hq.decoder.conv_out.weight"
    assert not torch.equal(plain["model"][key], gan["model"][key])
    # and it resumes with its discriminator
    m = run(tmp_path / "gan", *start[:2], "--steps", "4", "--extend", "--stage4-gan-weight", "1")
    assert m["stage4"]["steps"] == 4
    with pytest.raises(SystemExit):
        train.parse_args(["--data", "d", "--out", "o", "--steps", "1", "--stage4-gan-weight", "-1"])
    # a discriminator that sees luma alone gives another decoder from the same start
    run(tmp_path / "luma", *start, "--stage4-gan-weight", "1", "--stage4-gan-input", "luma")
    luma = torch.load(tmp_path / "luma" / "stage4.pt", weights_only=False)
    assert not torch.equal(luma["model"][key], gan["model"][key])
    assert not torch.equal(luma["model"][key], plain["model"][key])
    with pytest.raises(SystemExit):
        train.parse_args(["--data", "d", "--out", "o", "--steps", "1", "--stage4-gan-input", "lab"])
    # the chroma term changes what the decoder learns from the same start
    run(tmp_path / "chroma", *start, "--stage4-gan-weight", "1", "--stage4-chroma-weight", "2")
    ch = torch.load(tmp_path / "chroma" / "stage4.pt", weights_only=False)
    assert not torch.equal(ch["model"][key], gan["model"][key])
    with pytest.raises(SystemExit):
        train.parse_args(["--data", "d", "--out", "o", "--steps", "1", "--stage4-chroma-weight", "-1"])


def test_stage4_gan_term_can_skip_the_nearly_clean_batches(tmp_path):
    run(tmp_path / "a", "--stage", "all", "--steps", "3", "--disc-weight", "0")
    start = ["--stage", "4", "--steps", "3", "--init-from", str(tmp_path / "a" / "stage3.pt"),
             "--near-clean", "1", "--stage4-parts", "decoder", "--stage4-decoder-lr", "1e-3"]
    key = "hq.decoder.conv_out.weight"
    run(tmp_path / "plain", *start)
    run(tmp_path / "gan", *start, "--stage4-gan-weight", "1")
    run(tmp_path / "skip", *start, "--stage4-gan-weight", "1", "--no-stage4-gan-near-clean")
    plain, gan, skip = (torch.load(tmp_path / n / "stage4.pt", weights_only=False)["model"][key]
                        for n in ("plain", "gan", "skip"))
    # every batch is nearly clean: skipping them leaves reconstruction alone, as with no GAN at all,
    # and the discriminator never steps
    assert not torch.equal(gan, plain)
    assert torch.allclose(skip, plain, atol=1e-6)
    assert torch.load(tmp_path / "skip" / "stage4.pt", weights_only=False)["trainer"]["opt_d"]["state"] == {}
    # no batch is nearly clean: the switch changes nothing, the GAN term applies to every batch
    start[start.index("--near-clean") + 1] = "0"
    run(tmp_path / "gan0", *start, "--stage4-gan-weight", "1")
    run(tmp_path / "skip0", *start, "--stage4-gan-weight", "1", "--no-stage4-gan-near-clean")
    gan0, skip0 = (torch.load(tmp_path / n / "stage4.pt", weights_only=False)["model"][key] for n in ("gan0", "skip0"))
    assert torch.equal(gan0, skip0)


def test_extend_goes_on_from_a_checkpoint_shared_without_its_optimiser(tmp_path):
    # as ../shared/checkpoints/*/stage1.pt: done, weights and counters, an empty trainer state
    run(tmp_path, "--stage", "1", "--steps", "2", "--disc-weight", "0")
    path = tmp_path / "stage1.pt"
    ck = torch.load(path, weights_only=False)
    shared = {k: ck[k] for k in ("stage", "config", "variant", "model", "step", "elapsed", "images", "done", "metrics")}
    torch.save({**shared, "trainer": {}}, path)
    m = run(tmp_path, "--stage", "1", "--steps", "4", "--disc-weight", "0", "--extend")
    assert m["stage1"]["steps"] == 4
    after = torch.load(path, weights_only=False)
    assert after["step"] == 4 and after["trainer"].get("opt")
    # the two further steps trained the weights it came with
    assert any(not torch.equal(after["model"][k], v) for k, v in shared["model"].items() if v.is_floating_point())


def test_a_resumed_stage4_takes_the_learning_rates_it_is_given(tmp_path):
    run(tmp_path / "a", "--stage", "all", "--steps", "3", "--disc-weight", "0")
    start = ["--stage", "4", "--init-from", str(tmp_path / "a" / "stage3.pt")]
    run(tmp_path / "b", *start, "--steps", "2", "--fidelity-lr", "1e-3")
    run(tmp_path / "b", *start, "--steps", "4", "--extend", "--fidelity-lr", "2e-4", "--stage4-decoder-lr", "3e-5")
    after = torch.load(tmp_path / "b" / "stage4.pt", weights_only=False)
    assert after["step"] == 4
    assert [g["base_lr"] for g in after["trainer"]["opt"]["param_groups"]] == [2e-4, 3e-5]
    # switching the decoder off changes the optimiser's groups: a clear error, not torch's
    with pytest.raises(ValueError, match="stage4-decoder-lr"):
        run(tmp_path / "b", *start, "--steps", "6", "--extend", "--stage4-decoder-lr", "0")


def test_stage2_of_a_variant_without_association_is_a_usage_error():
    with pytest.raises(SystemExit) as err:
        train.parse_args(["--data", "d", "--out", "o", "--steps", "1", "--stage", "2", "--variant", "hq_only"])
    assert err.value.code == 2


def test_a_fresh_optimiser_warms_up_again_where_it_starts(tmp_path):
    from daefr_models.trainers import lr_at

    # a shared checkpoint (no optimiser) past the warm-up: the first further steps must not run
    # at the full rate (a fresh Adam's first steps are lr-sized whatever the gradient)
    run(tmp_path, "--stage", "1", "--steps", "2", "--disc-weight", "0")
    path = tmp_path / "stage1.pt"
    ck = torch.load(path, weights_only=False)
    keep = ("stage", "config", "variant", "model", "elapsed", "images", "done", "metrics")
    torch.save({**{k: ck[k] for k in keep}, "step": 60, "trainer": {}}, path)  # as if 60 steps were done
    run(tmp_path, "--stage", "1", "--steps", "62", "--disc-weight", "0", "--extend")
    after = torch.load(path, weights_only=False)
    assert after["warmup_from"] == 60
    base = train.TrainOptions(data="d", out="o", steps=1).lr
    lr = after["trainer"]["opt"]["param_groups"][0]["lr"]
    assert lr == pytest.approx(lr_at(base, 61 / 62, 1))  # the second step of a new warm-up
    assert lr < 0.1 * base  # the cosine's floor: without the new warm-up it would be at least this
    # a resume with the optimiser keeps counting from where that warm-up began
    run(tmp_path, "--stage", "1", "--steps", "63", "--disc-weight", "0", "--extend")
    again = torch.load(path, weights_only=False)
    assert again["warmup_from"] == 60
    assert again["trainer"]["opt"]["param_groups"][0]["lr"] == pytest.approx(lr_at(base, 62 / 63, 2))


def test_degradation_mix_remembers_the_recipe_of_the_last_batch():
    from daefr_models import degrade
    from daefr_models.trainers import DegradationMix
    a = degrade.Degrader(degrade.NEAR_CLEAN, 32, seed=1)
    b = degrade.Degrader(degrade.LEVELS["moderate"], 32, seed=2)
    mix = DegradationMix([(0.5, a), (0.5, b)], seed=0)
    assert mix.last is None
    seen = set()
    for _ in range(20):
        before = {id(d): d.param_gen.get_state() for d in (a, b)}
        mix(torch.zeros(1, 3, 32, 32))
        seen.add(id(mix.last))
        # the recipe named is the one that drew its parameters for this batch, and only it
        moved = {i for i, st in before.items() if not torch.equal(st, {id(a): a, id(b): b}[i].param_gen.get_state())}
        assert moved == {id(mix.last)}
    assert seen == {id(a), id(b)}


def test_stage4_decoder_part_trains_the_hq_decoder_alone(tmp_path):
    run(tmp_path / "a", "--stage", "all", "--steps", "3", "--disc-weight", "0")
    start = ["--stage", "4", "--steps", "3", "--init-from", str(tmp_path / "a" / "stage3.pt"), "--stage4-parts", "decoder"]
    run(tmp_path / "b", *start, "--stage4-gan-weight", "0.5")
    s3 = torch.load(tmp_path / "a" / "stage3.pt", weights_only=False)["model"]
    s4 = torch.load(tmp_path / "b" / "stage4.pt", weights_only=False)["model"]
    changed = {k for k in s4 if not torch.equal(s4[k], s3[k])}
    assert changed and all(k.startswith("hq.decoder.") for k in changed), sorted(changed)[:5]
    with pytest.raises(SystemExit):  # a usage error: the decoder alone at rate 0 would train nothing
        run(tmp_path / "c", *start, "--stage4-decoder-lr", "0")
    with pytest.raises(ValueError, match="stage4_decoder_lr"):
        train.TrainOptions(data="d", out="o", steps=1, stage4_parts="decoder", stage4_decoder_lr=0.0)


def test_stage4_encoder_part_trains_the_lq_encoder_and_keeps_its_first_codes(tmp_path):
    run(tmp_path / "a", "--stage", "all", "--steps", "3", "--disc-weight", "0")
    start = ["--stage", "4", "--init-from", str(tmp_path / "a" / "stage3.pt"), "--stage4-parts", "encoder",
             "--stage4-encoder-lr", "1e-3"]
    run(tmp_path / "b", *start, "--steps", "3")
    s3 = torch.load(tmp_path / "a" / "stage3.pt", weights_only=False)["model"]
    ck = torch.load(tmp_path / "b" / "stage4.pt", weights_only=False)
    changed = {k for k in ck["model"] if not torch.equal(ck["model"][k], s3[k])}
    assert any(k.startswith("lq.encoder.") for k in changed)
    assert any(k.startswith("fidelity.") for k in changed)
    assert all(k.startswith(("fidelity.", "hq.decoder.", "lq.encoder.")) for k in changed), sorted(changed)[:5]
    # the deepest layer feeds no skip: only the code-keeping KL reaches it
    assert "lq.encoder.conv_out.weight" in changed
    # the codes to keep are those of the encoder the stage began with, through a resume too
    ref = ck["trainer"]["lq_ref"]
    assert all(torch.equal(v, s3["lq.encoder." + k]) for k, v in ref.items())
    ck["done"] = False
    torch.save(ck, tmp_path / "b" / "stage4.pt")
    m = run(tmp_path / "b", *start, "--steps", "5")
    assert m["stage4"]["steps"] == 5
    ck = torch.load(tmp_path / "b" / "stage4.pt", weights_only=False)
    assert all(torch.equal(v, s3["lq.encoder." + k]) for k, v in ck["trainer"]["lq_ref"].items())
    # shared without its trainer state: the LQ encoder as loaded becomes the reference
    ck["done"], ck["trainer"] = False, {}
    torch.save(ck, tmp_path / "b" / "stage4.pt")
    run(tmp_path / "b", *start, "--steps", "6")
    ck6 = torch.load(tmp_path / "b" / "stage4.pt", weights_only=False)
    assert all(torch.equal(v, ck["model"]["lq.encoder." + k]) for k, v in ck6["trainer"]["lq_ref"].items())
    # the parts cannot change under a resumed optimiser
    ck6["done"] = False
    torch.save(ck6, tmp_path / "b" / "stage4.pt")
    with pytest.raises(ValueError, match="stage4-parts encoder"):
        run(tmp_path / "b", "--stage", "4", "--steps", "8", "--stage4-parts", "fidelity")
    with pytest.raises(ValueError, match="stage4_encoder_lr"):
        train.TrainOptions(data="d", out="o", steps=1, stage4_parts="encoder", stage4_encoder_lr=0.0)
    with pytest.raises(ValueError, match="hq_only"):
        train.TrainOptions(data="d", out="o", steps=1, stage4_parts="encoder", variant="hq_only")


def test_a_stage3_checkpoint_without_its_teacher_is_refused(tmp_path):
    run(tmp_path, "--stage", "all", "--steps", "2", "--disc-weight", "0")
    ck = torch.load(tmp_path / "stage3.pt", weights_only=False)
    assert ck["trainer"]["teacher"]  # what a stage-3 checkpoint keeps
    ck["trainer"] = {}
    torch.save(ck, tmp_path / "stage3.pt")
    with pytest.raises(ValueError, match="no teacher"):
        run(tmp_path, "--stage", "3", "--steps", "4", "--disc-weight", "0", "--extend")


def test_a_two_scale_run_from_a_one_head_model_trains_both_heads_and_nothing_else(tmp_path):
    src, s4 = stage4_from_an_s2d_model(tmp_path, "tiny-32-two-scale", "residual")
    coarse = [k for k in s4 if k.startswith("fidelity.residual_coarse.")]
    assert coarse and all(k not in src for k in coarse)
    for k, v in s4.items():
        if not k.startswith(("fidelity.residual.", "fidelity.residual_coarse.")):
            assert torch.equal(v, src[k]), k
    assert s4["fidelity.residual_coarse.conv_out.weight"].abs().sum() > 0  # left zero: it trains
    assert not torch.equal(s4["fidelity.residual.conv1.weight"], src["fidelity.residual.conv1.weight"])


def test_coarse_parts_train_the_coarse_head_alone_and_need_one(tmp_path):
    src, s4 = stage4_from_an_s2d_model(tmp_path, "tiny-32-two-scale", "coarse")
    for k, v in s4.items():
        if not k.startswith("fidelity.residual_coarse."):
            assert torch.equal(v, src[k]), k  # the first head too
    assert s4["fidelity.residual_coarse.conv_out.weight"].abs().sum() > 0
    with pytest.raises(ValueError, match="no coarse residual head"):
        train.main(["--config", "tiny-32-s2d", "--data", "synthetic", "--synthetic-count", "24", "--batch", "4",
                    "--val-count", "4", "--out", str(tmp_path / "c"), "--stage", "4", "--steps", "1",
                    "--init-from", str(tmp_path / "a" / "model.pt"), "--stage4-parts", "coarse"])
