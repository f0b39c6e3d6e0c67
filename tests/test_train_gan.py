"""The synthfaces GAN's training command: resumable state, export in the FFHQ layout, logged quality."""
import json

import numpy as np
import pytest
import torch

from helpers.stylegan2 import Generator, load_generator
from helpers.worlds.synthfaces import renderer, train_gan


def test_real_batches_are_a_fixed_function_of_step_and_seed():
    a = train_gan.real_batch(5, 3, seed=0, size=64)
    assert a.shape == (3, 3, 64, 64) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, train_gan.real_batch(5, 3, seed=0, size=64))
    assert not torch.equal(a, train_gan.real_batch(6, 3, seed=0, size=64))


def test_train_resume_export_and_history(tmp_path, capsys):
    state, out = tmp_path / "state.pt", tmp_path / "g.pt"
    common = ["--batch", "4", "--save-every", "1", "--state", str(state), "--out", str(out), "--no-probe"]
    assert train_gan.main(["--steps", "2", *common]) == 0
    first = torch.load(state, weights_only=True)
    assert first["step"] == 2
    assert train_gan.main(["--steps", "3", *common]) == 0
    assert "resumed from" in capsys.readouterr().out
    second = torch.load(state, weights_only=True)
    assert second["step"] == 3
    changed = [k for k in first["g"] if not torch.equal(first["g"][k], second["g"][k])]
    assert changed, "the resumed step did not train the generator"
    g = load_generator(out)
    latent_avg = g.latent_avg
    payload = torch.load(out, weights_only=True)
    assert set(payload) >= {"g_ema", "latent_avg"} and payload["trained_steps"] == 3
    assert payload["trained_images"] == 12 and latent_avg.shape == (g.style_dim,)
    history = train_gan.training_history(state.with_suffix(".log.jsonl"))
    assert list(history["step"]) == [1, 2, 3] and list(history["images"]) == [4, 8, 12]
    assert np.isfinite(history["d"]).all() and np.isnan(history["fd"]).all()
    assert list(history["renderer"]) == [renderer.VERSION] * 3
    assert train_gan.main(["--steps", "4", "--lr", "0.001", *common]) == 0   # a new lr reaches a resumed run
    third = torch.load(state, weights_only=True)
    assert third["g_opt"]["param_groups"][0]["lr"] == 0.001
    assert train_gan.training_history(state.with_suffix(".log.jsonl"))["lr"][-1] == 0.001


def test_unavailable_device_is_one_clear_message(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code = train_gan.main(["--steps", "1", "--device", "cuda", "--state", str(tmp_path / "s.pt"),
                           "--out", str(tmp_path / "g.pt")])
    assert code == 2 and "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "s.pt").exists() and not (tmp_path / "g.pt").exists()


def test_quality_probe_separates_the_generator_from_the_renders():
    """Like with like: 150 samples vs the 150 reference renders, and 150 other renders vs the same
    reference (the floor). A Fréchet distance from few samples is biased upward by its sample sizes, so
    only equal sizes compare."""
    probe = train_gan.QualityProbe(n=150)
    g = load_generator(train_gan.DATA / "synthfaces_g.pt")
    fds = probe(g)
    assert set(fds) == {"fd", "fd_judge"}          # the guide's features and the judge's
    others = renderer.render(renderer.sample_factors(150, seed=77), seeds=77)
    for key, fd in fds.items():
        floor = probe.quality.frechet_distance(probe.quality.features(probe.meters[key], others),
                                               probe.reference[key])
        assert np.isfinite(fd) and fd > floor > 0


def test_wider_run_keeps_its_width_when_resumed(tmp_path):
    """#25's capacity experiment: ``--width 2`` doubles every channel count of G and D, and a resumed
    state keeps the width it was made with whatever the flag says."""
    state, out = tmp_path / "state.pt", tmp_path / "g.pt"
    common = ["--batch", "4", "--save-every", "1", "--state", str(state), "--out", str(out), "--no-probe"]
    assert train_gan.main(["--steps", "1", "--width", "2", *common]) == 0
    wide = torch.load(state, weights_only=True)
    base_g, _ = train_gan.widened(1.0)
    assert wide["g_config"]["channel_scale"] == 2 * base_g["channel_scale"]
    assert wide["g"]["conv1.conv.weight"].shape[1] == 2 * Generator(**base_g).state_dict()[
        "conv1.conv.weight"].shape[1]
    assert train_gan.main(["--steps", "2", *common]) == 0          # no --width: the state's own
    assert torch.load(state, weights_only=True)["step"] == 2
    g = load_generator(out)
    assert g.channels == Generator(**wide["g_config"]).channels


def test_augmentation_is_differentiable_replayable_and_named():
    """#25's second candidate: DiffAugment's colour, translation and cutout, drawn from a CPU
    generator (a seeded run replays) and differentiable (G's gradient flows through them)."""
    from helpers.worlds.synthfaces.augment import augment, parse_policy
    x = torch.linspace(-1, 1, 2 * 3 * 16 * 16).reshape(2, 3, 16, 16).requires_grad_(True)
    policy = parse_policy("color, translation,cutout")
    assert policy == ("color", "translation", "cutout") and parse_policy("") == ()
    a = augment(x, policy, torch.Generator().manual_seed(3))
    assert torch.equal(a, augment(x, policy, torch.Generator().manual_seed(3)))
    assert a.shape == x.shape and not torch.equal(a, x)
    a.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    shifted = augment(torch.ones(8, 3, 16, 16), ("translation",), torch.Generator().manual_seed(1))
    empty = shifted[:, 0] == 0               # a shift brings in whole rows and columns of zeros
    rows, cols = empty.all(2, keepdim=True), empty.all(1, keepdim=True)
    assert torch.equal(empty, rows | cols) and empty.any()
    with pytest.raises(ValueError, match="unknown augmentation 'flip'"):
        parse_policy("color,flip")


def test_augmented_and_projected_runs_train_save_and_resume(tmp_path, capsys):
    """``--augment`` and ``--projected`` (a second D on the frozen text model's image features)
    train, log what they used, and resume with the heads and their optimiser."""
    state, out = tmp_path / "state.pt", tmp_path / "g.pt"
    common = ["--batch", "4", "--save-every", "1", "--state", str(state), "--out", str(out),
              "--no-probe", "--augment", "translation,cutout", "--projected"]
    assert train_gan.main(["--steps", "1", *common]) == 0
    first = torch.load(state, weights_only=True)
    assert set(first) >= {"proj", "p_opt"}
    assert not any(k.startswith("visual") for k in first["proj"])    # the frozen ViT is not saved
    assert train_gan.main(["--steps", "2", *common]) == 0
    second = torch.load(state, weights_only=True)
    moved = [k for k in first["proj"] if not torch.equal(first["proj"][k], second["proj"][k])]
    assert moved and all(k.startswith("heads.") for k in moved)   # heads train, the mix is fixed
    rows = [json.loads(line) for line in state.with_suffix(".log.jsonl").read_text().splitlines()]
    assert rows[-1]["augment"] == "translation,cutout" and rows[-1]["projected"] is True
    code = train_gan.main(["--steps", "3", "--augment", "blur", "--state", str(tmp_path / "x.pt"),
                           "--out", str(tmp_path / "y.pt")])
    assert code == 2 and "unknown augmentation 'blur'" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
