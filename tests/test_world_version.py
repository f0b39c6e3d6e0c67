"""#25's frozen world version: one stamp in data/MANIFEST.json names the set of shipped models;
the world, every result entry, every anchor cache key and the study table carry it."""
import json
import shutil
import warnings

import pytest

from helpers import anchors, claims, results, shipped, study, worlds
from helpers.worlds.synthfaces import encoder as encoder_module


@pytest.fixture(scope="module")
def world():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", encoder_module.GeneratorChangedWarning)
        return worlds.load("synthfaces", device="cpu")


@pytest.fixture
def scratch_manifest(tmp_path, monkeypatch):
    """A copy of the manifest the test may change (the shipped one is never written)."""
    fake = tmp_path / "MANIFEST.json"
    shutil.copy(shipped.MANIFEST, fake)
    monkeypatch.setattr(shipped, "MANIFEST", fake)
    return fake


def test_the_shipped_models_are_the_frozen_world_version(world):
    version = shipped.frozen_version()       # raises, naming the changed model, if they are not
    assert version == shipped.world_version() == world.version and len(version) == 12
    assert set(shipped.frozen()["files"]) == set(shipped.WORLD_FILES)
    assert shipped.WORLD_KEY not in shipped.manifest()          # the stamp is not a file entry
    rows = study.read_rows(study.TABLE)
    assert rows and {r["world_version"] for r in rows} == {version}, \
        "the committed study table was made on another world version: remake it"


def test_a_changed_model_is_refused_until_the_world_is_frozen_again(scratch_manifest, capsys):
    entries = json.loads(scratch_manifest.read_text())
    before = entries["world"]["version"]
    entries["synthfaces_g.pt"]["sha256"] = "0" * 64            # as a retrained generator would
    scratch_manifest.write_text(json.dumps(entries))
    with pytest.raises(ValueError, match=r"synthfaces_g.pt changed since world version "
                                         rf"{before} was frozen.*--freeze"):
        shipped.frozen_version()
    assert shipped.main([]) == 2 and "--freeze" in capsys.readouterr().err
    with pytest.raises(ValueError, match="synthfaces_g.pt changed"):
        study.run([study.Task("random", "-", 0)], out=scratch_manifest.parent / "study")
    assert not (scratch_manifest.parent / "study").exists()
    assert shipped.main(["--freeze"]) == 0
    after = shipped.frozen_version()
    assert after != before and after == shipped.world_version()
    assert json.loads(scratch_manifest.read_text())["synthfaces_g.pt"]["sha256"] == "0" * 64


def test_freezing_needs_every_model(scratch_manifest):
    entries = json.loads(scratch_manifest.read_text())
    del entries["synthfaces_judge.pt"], entries["world"]
    scratch_manifest.write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="no frozen world version"):
        shipped.frozen_version()
    with pytest.raises(ValueError, match="cannot freeze: synthfaces_judge.pt"):
        shipped.freeze()


def test_results_and_anchor_caches_carry_the_version(world, tmp_path):
    entry = results.record("x.rate", 0.5, 0.4, 0.6, 10, "0", "test", "p", file=tmp_path / "r.json")
    assert entry["world"] == world.version
    assert claims.world_versions(results.read(tmp_path / "r.json")) == [world.version]
    assert claims.world_versions({"a": {"world": "v1"}, "b": {}}) == ["unrecorded", "v1"]

    keys = []

    def capture(kind, key, compute, use_cache=True):
        keys.append((kind, key))
        raise LookupError("captured")         # the key is all this test needs

    starts = world.sample_wplus(1, seed=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(anchors, "cached", capture)
        for version in (world.version, "0" * 12):      # the same models under another version
            mp.setitem(world.info, "version", version)
            for make in (anchors.text_anchors, anchors.oracle_anchors):
                with pytest.raises(LookupError):
                    make(world, starts, "smile" if make is anchors.oracle_anchors else "a {} smile")
    assert len(keys) == 4 and len(set(keys)) == 4     # each cache entry is per world version
