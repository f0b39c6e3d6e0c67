"""The study runner (#27): tasks, the table's provenance and resume, the Ray engine surviving a
killed worker, the statistics, and the committed table against the shipped world."""
import csv
import json

import numpy as np
import pytest

from helpers import stability, study, study_stats, subspaces


def tiny(sources=("random", "matched"), identities=2, **kw):
    return study.grid(identities, ["smile"], sources, steps=2, n_targets=4, **kw)


# --------------------------------------------------------------------------- tasks and table
def test_grid_keys_are_unique_stable_and_bad_tasks_are_refused():
    tasks = study.grid(3, ["smile", "yaw"], study.SOURCES)
    keys = [t.key for t in tasks]
    assert len(keys) == len(set(keys)) == 3 * (2 * 3 + 1 + 2 + 2)   # 3 anchor, random, irrelevant×2, matched
    assert study.Task("text", "smile", 0).key == study.Task("text", "smile", 0).key
    assert study.Task("text", "smile", 0).key != study.Task("text", "smile", 0, steps=41).key
    with pytest.raises(ValueError, match="unknown source"):
        study.Task("dreams", "smile", 0).validate()
    with pytest.raises(ValueError, match="unknown micromotion"):
        study.Task("text", "glasses", 0).validate()
    assert study.main(["run", "--sources", "dreams", "--out", "/nonexistent/x"]) == 2


def test_local_study_records_provenance_and_resumes_without_duplicates(world, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "table"
    tasks = tiny(("text", "random"), identities=1)
    report = study.run(tasks, out, world=world, progress=False)
    assert report == {"done": 2, "skipped": 0, "failed": []}
    rows = study.read_rows(out)
    assert [r["key"] for r in rows] == [t.key for t in tasks]
    assert all(r["world_version"] == study.world_version() for r in rows)
    assert json.loads(rows[0]["world_files"]) == study.world_files()
    text = next(r for r in rows if r["source"] == "text")
    assert 0 <= text["monotonic_rpca_released"] <= 4 and 0 < text["energy"] <= 1
    assert study.load_basis(out, text["key"]).shape == (4, world.num_ws * world.style_dim)
    with open(out / "rows.csv", "a") as f:           # a kill in the middle of a line
        f.write("text.smile.9.deadbeef,text,smi")
    assert study.finished(out) == {t.key for t in tasks}
    more = tiny(("random",), identities=2)
    report = study.run(more, out, world=world, progress=False)
    assert report["done"] == 1 and report["skipped"] == 1
    keys = [r["key"] for r in study.read_rows(out)]
    assert len(keys) == len(set(keys)) == 3


def test_styled_targets_score_the_same_anchors_on_inverted_faces(world, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path / "cache"))
    tasks = tiny(("text", "random"), identities=1, targets=("generated", "painting"))
    assert [(t.source, t.targets) for t in tasks] == [
        ("text", "generated"), ("text", "painting"), ("random", "generated")]
    # the keys made before targets had styles stay the same
    assert tasks[0].key == study.Task("text", "smile", 0, steps=2, n_targets=4).key
    assert tasks[1].key != tasks[0].key
    out = tmp_path / "table"
    assert study.run(tasks, out, world=world, progress=False)["done"] == 3
    rows = {r["targets"] + r["source"]: r for r in study.read_rows(out)}
    painted = rows["paintingtext"]
    assert 0 <= painted["monotonic_rpca_released"] <= 4 and painted["monotonic_pca_released"] == ""
    assert not (out / "bases" / f"{tasks[1].key}.npy").exists()
    assert (tmp_path / "cache" / "anchors" / "targets").is_dir()   # the inverted faces, shared
    assert [t["source"] for t in study_stats._select(study.read_rows(out), "text")] == ["text"]
    assert study_stats.styles_of(study.read_rows(out), "text") == ["painting"]
    with pytest.raises(ValueError, match="unknown targets"):
        study.Task("text", "smile", 0, targets="oil").validate()
    with pytest.raises(ValueError, match="styled targets score directions"):
        study.Task("random", "-", 0, targets="painting").validate()


def test_a_table_from_before_styled_targets_is_read_and_upgraded(world, tmp_path):
    out = tmp_path / "table"
    prov = {"commit": "x", "world_version": study.world_version(), "world_files": "{}",
            "protocol": "p"}
    study.append_row(out, study.Task("random", "-", 0), {"energy": 0.5, "energy_rpca": 0.9,
                                                          "seconds": 1.0}, None, prov)
    path = out / "rows.csv"
    old = list(csv.reader(path.open()))
    i = old[0].index("targets")
    path.write_text("\n".join(",".join(r[:i] + r[i + 1:]) for r in old) + "\n")
    assert study.read_rows(out)[0]["targets"] == "generated"
    study.append_row(out, study.Task("random", "-", 1), {"energy": 0.4, "energy_rpca": 0.8,
                                                          "seconds": 1.0}, None, prov)
    rows = study.read_rows(out)
    assert [r["identity"] for r in rows] == ["0", "1"] and rows[0]["energy"] == 0.5
    assert next(csv.reader(path.open())) == list(study.COLUMNS)


def test_a_table_of_another_world_version_is_refused(world, tmp_path):
    out = tmp_path / "table"
    task = study.Task("random", "-", 0)
    study.append_row(out, task, {"energy": 0.5, "energy_rpca": 0.9, "seconds": 1.0}, None,
                     {"commit": "x", "world_version": "oldversion12", "world_files": "{}",
                      "protocol": "p"})
    with pytest.raises(ValueError, match="another world version"):
        study.run([study.Task("random", "-", 1)], out, world=world, progress=False)
    with pytest.raises(ValueError, match="another world version"):
        study_stats.load(out)


def test_the_study_refuses_a_planted_link(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "table").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="symbolic link"):
        study.run(tiny(), tmp_path / "table", progress=False)


def test_ray_engine_loses_and_duplicates_nothing_when_a_worker_is_killed(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path / "cache"))
    out, marker = tmp_path / "table", tmp_path / "killed"
    tasks = tiny()
    victim = tasks[-1]                     # a matched task: dies after its anchors are made
    monkeypatch.setenv(study.FAULT, f"{victim.key}:{marker}")
    report = study.run(tasks, out, engine="ray", workers=2, progress=False)
    assert marker.exists(), "the fault was never injected: the test proves nothing"
    assert report["failed"] == [] and report["done"] == len(tasks)
    keys = [r["key"] for r in study.read_rows(out)]
    assert sorted(keys) == sorted(t.key for t in tasks)
    again = study.run(tasks, out, engine="ray", workers=2, progress=False)
    assert again == {"done": 0, "skipped": len(tasks), "failed": []}
    with open(out / "rows.csv") as f:
        assert len(list(csv.DictReader(f))) == len(tasks)


# --------------------------------------------------------------------------- statistics
def _fake_table(out, n=6, seed=0, styled=True):
    """Rows whose answers are known: smile's subspaces identical across identities, yaw's random;
    smile's energy above every null, yaw's below."""
    rng = np.random.RandomState(seed)
    shared = np.linalg.qr(rng.randn(40, 4))[0].T
    prov = {"commit": "x", "world_version": study.world_version(), "world_files": "{}",
            "protocol": "p"}
    for i in range(n):
        for source, energy in (("random", 0.5 + 0.01 * i), ("matched", 0.6),
                               ("irrelevant", 0.55)):
            study.append_row(out, study.Task(source, "-" if source == "random" else
                                             ("glasses" if source == "irrelevant" else "smile"),
                                             i), {"energy": energy, "energy_rpca": 1.0,
                                                  "seconds": 0.0}, None, prov)
        for m, energy, basis in (("smile", 0.9, shared),
                                 ("yaw", 0.4, np.linalg.qr(rng.randn(40, 4))[0].T)):
            row = {"energy": energy, "energy_rpca": 1.0, "seconds": 0.0}
            for name in ("rpca_released", "pca_released", "rpca_principal"):
                row |= {f"monotonic_{name}": 100 if m == "smile" else 10 * i,
                        f"slope_{name}": 0.3, f"drift_{name}": 0.1, f"effect_{name}": 0.3}
            study.append_row(out, study.Task("text", m, i), row, basis.astype(np.float16), prov)
            if styled:    # a styled row: the same anchors scored on paintings, no subspace file
                study.append_row(out, study.Task("text", m, i, targets="painting"),
                                 row | {"monotonic_rpca_released": 50}, None, prov)


def test_statistics_on_a_table_with_known_answers(tmp_path):
    out = tmp_path / "table"
    _fake_table(out)
    rows = study_stats.load(out)
    bar = study_stats.null_bar(rows)
    assert bar["bar"] == pytest.approx(0.6) and bar["nulls"]["random"]["n"] == 6
    a_smile = study_stats.low_rank(rows, "text", "smile")
    a_yaw = study_stats.low_rank(rows, "text", "yaw")
    assert a_smile["above"] == 6 and a_yaw["above"] == 0 and a_smile["n"] == 6
    b_smile = study_stats.shared_subspace(out, rows, "text", "smile")
    b_yaw = study_stats.shared_subspace(out, rows, "text", "yaw")
    assert b_smile["pairs"] == 15 and b_smile["mean"]["value"] < 1.0   # one subspace (float16)
    assert b_yaw["mean"]["value"] > 40 and b_smile["other_micromotion_mean"] > 40
    c_smile = study_stats.transfer(rows, "text", "smile")
    c_yaw = study_stats.transfer(rows, "text", "yaw")
    assert c_smile["mean"] == 1 and c_smile["good"] == 6
    assert c_yaw["mean"] == pytest.approx(np.mean([0.1 * i for i in range(6)]))
    assert c_yaw["low"] <= c_yaw["mean"] <= c_yaw["high"] and c_yaw["good"] == 0
    assert study_stats.transfer(rows, "text", "yaw", targets="painting")["mean"] == 0.5
    lines = study_stats.summary_lines(out)
    assert any(line.startswith("text   smile") for line in lines)
    assert any("inverted painting faces: monotonic 50%" in line for line in lines)


# --------------------------------------------------------------------------- the committed table
def _committed():
    if not (study.TABLE / "rows.csv").is_file():
        pytest.skip("no committed study table yet")
    return study_stats.load(study.TABLE)


def test_the_committed_table_is_of_the_shipped_world_and_complete_per_row():
    rows = _committed()
    assert all(r["world_version"] == study.world_version() for r in rows)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys))
    for r in rows:
        if r["source"] in study.ANCHOR_SOURCES and r["targets"] == "generated":
            assert study.load_basis(study.TABLE, r["key"]).shape[0] == int(r["rank"])


def _captured(D, basis) -> float:
    """The share of D's centred energy that the rows of ``basis`` capture."""
    C = np.asarray(D - D.mean(0))
    B = np.asarray(basis, dtype=np.float64)
    return float(np.linalg.norm(C @ B.T) ** 2 / np.linalg.norm(C) ** 2)


def _within_rounding(committed: float, remade: list, floor: float) -> bool:
    """Whether ``committed`` lies among the remakes, widened by their range on each side: for
    draws of one distribution a miss is rare, for a row of another task it is the rule."""
    lo, hi = min(remade), max(remade)
    margin = max(hi - lo, floor)
    return lo - margin <= committed <= hi + margin


def test_committed_rows_recompute_by_their_key(world):
    """Each source's first committed row, remade from its key alone. Random rows involve no
    optimisation and come out exact; text and matched rows go through 40 Adam steps, which
    amplify float rounding (1 vs 2 threads moved a text row's energy from 0.948 to 0.939 and
    its transfer count from 56 to 68 of 100), so they must land among remakes from start codes
    nudged by 1e-6 (study.rounding_rows), not on the committed value."""
    rows = _committed()
    by_source = {}
    for r in rows:
        by_source.setdefault(r["source"], r)
    for source in ("random", "text", "matched"):
        if source not in by_source:
            continue
        r = by_source[source]
        task = study.Task.of_row(r)
        assert task.key == r["key"]
        row, basis = study.compute(task, world, methods=study.METHODS[:1])
        if source == "random":
            assert row["energy"] == pytest.approx(r["energy"], abs=1e-5)
            continue
        remade = [row] + study.rounding_rows(world, task, nudges=8)
        assert _within_rounding(r["energy"], [x["energy"] for x in remade], 1e-3), \
            (source, r["energy"], [x["energy"] for x in remade])
        if source != "text":
            continue
        counts = [x["monotonic_rpca_released"] for x in remade]
        assert _within_rounding(r["monotonic_rpca_released"], counts, 2), counts
        # the committed subspace is this identity's: it captures this matrix's energy about as
        # well as the recomputed one does, and better than any other identity's (smile
        # subspaces are shared across people, the paper's claim (b), so not by much)
        D = subspaces.flat_rows(study.make_anchors(world, task))
        committed = _captured(D, study.load_basis(study.TABLE, r["key"]))
        assert committed >= 0.95 * _captured(D, basis)
        others = [_captured(D, study.load_basis(study.TABLE, o["key"])) for o in rows
                  if o["source"] == "text" and o["motion"] == r["motion"]
                  and o["identity"] != r["identity"] and o["targets"] == "generated"]
        assert others and committed > max(others)


def test_the_rounding_command_remakes_a_row_and_names_a_bad_key(capsys):
    rows = _committed()
    key = next(r["key"] for r in rows if r["source"] == "random")
    assert study.main(["rounding", key]) == 0
    out = capsys.readouterr().out
    assert key in out and "energy: committed" in out and "(exact)" in out
    assert study.main(["rounding", "text.smile.0.nothash"]) == 2
    err = capsys.readouterr().err
    assert "no row 'text.smile.0.nothash'" in err and "first column" in err
    assert study.main(["rounding", key, "--nudges", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_the_results_record_each_claim_once(tmp_path, monkeypatch):
    """A name recorded twice is glued twice, and the strict book build refuses duplicate keys."""
    out = tmp_path / "table"
    _fake_table(out)
    file = tmp_path / "results.json"
    monkeypatch.setenv("MICROMOTION_RESULTS", str(file))
    calls = []
    real = study_stats.results.record
    monkeypatch.setattr(study_stats.results, "record",
                        lambda name, *a, **k: calls.append(name) or real(name, *a, **k))
    study_stats.record(out, chapter="test")
    assert len(calls) == len(set(calls)) and "study.angle_random.mean" in calls


def test_methods_are_compared_per_identity_with_an_interval():
    rows = [{"source": "text", "motion": m, "identity": i, "n_targets": 100,
             "monotonic_rpca_released": 50, "monotonic_pca_released": 40,
             "monotonic_rpca_principal": 60 + i}
            for i in range(8) for m in ("smile", "yaw")]
    gain = study_stats.paired_gain(rows, "text", "rpca_principal")
    assert gain["n"] == 8 and gain["mean"] == pytest.approx(np.mean([0.1 + 0.01 * i
                                                                      for i in range(8)]))
    assert gain["low"] < gain["mean"] < gain["high"] < 0.2
    assert study_stats.paired_gain(rows, "text", "pca_released", motion="yaw")["mean"] == \
        pytest.approx(-0.1)
    table = study_stats.method_table(rows, sources=("text",))
    assert table["text / smile"]["identities"] == 8
    assert table["text / smile"]["PCA, released rule"].startswith("40% (40%–40%)")
    with pytest.raises(ValueError, match="no clips rows"):
        study_stats.paired_gain(rows, "clips", "rpca_principal")


def test_styles_are_read_apart_from_generated_targets():
    rows = [{"source": "text", "motion": m, "identity": i, "n_targets": 100, "targets": t,
             "monotonic_rpca_released": v + i}
            for t, v in (("generated", 80), ("painting", 50)) for i in range(5)
            for m in ("smile", "yaw")]
    assert study_stats.transfer(rows, "text", "smile")["mean"] == pytest.approx(0.82)
    assert study_stats.transfer(rows, "text", "smile", targets="painting")["mean"] == \
        pytest.approx(0.52)
    assert study_stats.style_mean(rows, "text", "painting")["n"] == 5
    table = study_stats.style_table(rows)
    assert set(table["text / yaw"]) == {"generated", "painting"}
    assert table["text / yaw"]["painting"].startswith("52%")
    with pytest.raises(ValueError, match="no text rows on cartoon"):
        study_stats.style_mean(rows, "text", "cartoon")


def test_sources_are_compared_unpaired_over_the_micromotions_both_hold():
    rows = [{"source": src, "motion": m, "identity": i, "n_targets": 100,
             "monotonic_rpca_principal": base + i}
            for src, base, ms in (("text", 40, ("smile", "yaw")),
                                  ("clips", 60, ("smile", "yaw", "age")))
            for i in range(6) for m in ms]
    rows += [{"source": "clips", "motion": "age", "identity": 9, "n_targets": 100,
              "monotonic_rpca_principal": 0}]  # a motion text lacks: left out
    gain = study_stats.source_gain(rows, "clips", "text")
    assert gain["mean"] == pytest.approx(0.2) and gain["motions"] == ["smile", "yaw"]
    assert gain["n_source"] == gain["n_versus"] == 6
    assert gain["low"] < 0.2 < gain["high"] and gain["low"] > 0.1
    with pytest.raises(ValueError, match="no micromotion has both oracle and text"):
        study_stats.source_gain(rows, "oracle", "text")
