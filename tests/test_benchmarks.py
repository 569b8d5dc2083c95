"""The benchmarks' own logic: how results are recorded and how the recipe rule picks a candidate.
(Running them takes minutes to hours; their figures are in the README, with the commands.)"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # scripts, not an installed package
import recipe  # noqa: E402
import record  # noqa: E402


def _runs(name, digits, sums):
    return [{"candidate": name, "seed": seed, "validation": 5000, "wall_seconds": 100.0,
             "digit_accuracy": d, "sum_accuracy": s} for seed, (d, s) in enumerate(zip(digits, sums))]


def test_rule_takes_the_cheapest_candidate_within_the_tolerance():
    runs = (_runs("default", [0.9966, 0.9964], [0.9966, 0.9962])
            + _runs("dropout=0.3,epochs=9", [0.9964, 0.9962], [0.9964, 0.9962])    # 0.015 points below: within
            + _runs("dropout=0.3,epochs=12", [0.9950, 0.9952], [0.9970, 0.9970]))  # best sum, digit far below
    table, chosen = recipe.summarise(runs, ["default", "dropout=0.3,epochs=9", "dropout=0.3,epochs=12"])
    assert chosen == "dropout=0.3,epochs=9"
    assert table["default"]["digit_accuracy"]["mean"] == pytest.approx(0.9965)
    assert table["dropout=0.3,epochs=9"]["seeds"] == [0, 1]
    assert table["dropout=0.3,epochs=12"]["score"] == pytest.approx((0.9951 + 0.9970) / 2)


def test_rule_keeps_the_better_candidate_when_the_cheaper_is_outside_the_tolerance():
    runs = (_runs("default", [0.9966, 0.9964], [0.9966, 0.9962])
            + _runs("dropout=0.3,epochs=9", [0.9958, 0.9956], [0.9962, 0.9960]))
    assert recipe.summarise(runs, ["default", "dropout=0.3,epochs=9"])[1] == "default"


def test_fast_rule_takes_the_cheapest_candidate_that_reaches_the_target_on_both_heads():
    runs = (_runs("fast_2epochs,dropout=0.3", [0.9930, 0.9928], [0.9930, 0.9928])
            + _runs("fast", [0.9914, 0.9910], [0.9912, 0.9906])                 # cheaper, both means over 99%
            + _runs("fast,adder_lr_scale=3", [0.9912, 0.9906], [0.9896, 0.9900]))  # as cheap, sum mean below 99%
    names = ["fast_2epochs,dropout=0.3", "fast", "fast,adder_lr_scale=3"]
    assert recipe.summarise(runs, names, target=0.99)[1] == "fast"
    assert recipe.summarise(runs, names)[1] == "fast_2epochs,dropout=0.3"  # the accuracy rule would take the best
    assert recipe.summarise(runs, names, target=0.995)[1] is None


def test_write_json_creates_the_folder_and_replaces_the_file_whole(tmp_path):
    out = tmp_path / "results" / "x.json"
    record.write_json(out, {"a": 1})
    record.write_json(out, {"b": [1, 2]})
    assert json.loads(out.read_text()) == {"b": [1, 2]}
    assert [p.name for p in out.parent.iterdir()] == ["x.json"]  # no temporary file left beside it


def test_recipe_keeps_runs_another_invocation_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(recipe, "out_file", lambda: tmp_path / "recipe.json")
    args = type("Args", (), {"jobs": 2})()
    first, second = _runs("default", [0.99, 0.98], [0.99, 0.98])
    recipe.write([first], args)
    recipe.write([second], args)  # a second process, started before the first had written anything
    saved = json.loads((tmp_path / "recipe.json").read_text())["runs"]
    assert sorted(r["seed"] for r in saved) == [0, 1]


def test_recipe_runs_keep_the_machine_they_ran_on_when_another_machine_adds_to_the_file(tmp_path, monkeypatch):
    out = tmp_path / "recipe.json"
    monkeypatch.setattr(recipe, "out_file", lambda: out)
    older = _runs("fast", [0.99], [0.99])  # recorded before runs named their machine: the file's header did
    record.write_json(out, {"machine": "Old CPU, 2 runs at a time, 1 thread each", "runs": older})
    ours = {**_runs("fast", [0.99, 0.98], [0.99, 0.98])[1], "machine": "New CPU"}
    recipe.write([ours], type("Args", (), {"jobs": 2})())
    recipe.write([ours], type("Args", (), {"jobs": 2})())  # after the header names the new machine
    saved = json.loads(out.read_text())
    assert {r["seed"]: r["machine"] for r in saved["runs"]} == {0: "Old CPU", 1: "New CPU"}


def test_rule_takes_the_higher_score_between_equally_cheap_candidates():
    runs = (_runs("dropout=0.3", [0.9960, 0.9960], [0.9960, 0.9960])
            + _runs("default", [0.9962, 0.9962], [0.9962, 0.9962]))
    assert recipe.summarise(runs, ["dropout=0.3", "default"])[1] == "default"
    assert recipe.summarise(runs[:2], ["dropout=0.3", "default"])[1] == "dropout=0.3"


def test_speed_float32_reaches_the_processes_it_starts(monkeypatch):
    """`speed.py --float32` must put every run it times on the float32 path, in its own process and in the
    commands it starts, even on a CPU whose bfloat16 units the package would otherwise use."""
    import subprocess

    import speed
    import torch

    from mnist_sum.machinery import runtime
    from mnist_sum.machinery.runtime import Precision

    monkeypatch.setattr(runtime, "_cpu_has_fast_bf16", lambda: True)  # as on a CPU with bfloat16 units
    monkeypatch.setattr(speed, "CHILD_PREFIX", "")
    assert str(Precision.for_device(torch.device("cpu"))) == "bfloat16"
    speed.force_float32()
    assert str(Precision.for_device(torch.device("cpu"))) == "float32"
    child = speed.CHILD_PREFIX + ("import torch; from mnist_sum.machinery import runtime; "
                                  "print(runtime.Precision.for_device(torch.device('cpu')))")
    assert subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout.strip() \
        == "float32"


def test_speed_time_to_accuracy_stops_the_clock_while_anything_is_scored(monkeypatch):
    """Time to 99% is training time: the benchmark's probes and train()'s scoring of each epoch are left out."""
    import types

    import speed

    from mnist_sum import evaluation

    clock = [0.0]
    monkeypatch.setattr(speed, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    def scoring(*args, **kwargs):  # every evaluation takes 5 s on this clock
        clock[0] += 5.0
        return {"digit_accuracy": 0.996, "sum_accuracy": 0.996}

    def training(config, on_step, **kwargs):  # 1 s of steps, an epoch scored, 1 s more, then a probe
        clock[0] += 1.0
        evaluation.evaluate(None, None)  # train() finds evaluate in the module when it runs
        clock[0] += 1.0
        on_step(20, None)

    monkeypatch.setattr(speed, "evaluate", scoring)
    monkeypatch.setattr(evaluation, "evaluate", scoring)
    monkeypatch.setattr(speed, "MNISTRandomNumber", lambda **kwargs: None)
    monkeypatch.setattr(speed, "train", training)
    reached = speed.time_to_accuracy("cpu", "fast", probe_every=20)
    assert {target: hit["seconds"] for target, hit in reached.items()} == {0.990: 2.0, 0.995: 2.0}
    assert reached[0.990]["epoch_scoring_seconds_left_out"] == 5.0  # the probe's 5 s are not train()'s
